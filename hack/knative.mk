# Make targets for Knative Eventing on the local cluster (hack/knative/).
# The root Makefile includes this file; see docs/development.md and docs/knative.md.
#
#   make knative-up       install Knative Eventing v0.50.0 (core, in-memory channel,
#                         multi-tenant Broker), images built offline by ko; wait until ready
#   make knative-down     remove it completely (objects, webhooks, CRDs, namespace, roles)
#   make knative-status   each Knative pod's memory and the Knative deployments
#   make knative-smoke    a Broker and Triggers in namespace knative-smoke: delivery
#                         headers, OIDC identity, reply, retries, dead letter

KNATIVE_HACK := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))/knative

.PHONY: knative-up knative-down knative-status knative-smoke

knative-up: ko-install
	$(KNATIVE_HACK)/up.sh

knative-down:
	$(KNATIVE_HACK)/down.sh

knative-status:
	$(KNATIVE_HACK)/status.sh

knative-smoke: ko-install
	$(KNATIVE_HACK)/smoke.sh
