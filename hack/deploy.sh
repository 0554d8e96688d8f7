#!/usr/bin/env bash
# Deploys cdi-functions with `ko apply -f config/` to the cluster in
# $KUBECONFIG, or to the local cluster (images built offline into its
# loopback registry) when KUBECONFIG is unset or is the local cluster's
# kubeconfig (what `make cluster-up` tells you to export), and waits until
# every component is ready. CDI_PROFILE=knative also applies config/knative/
# (make knative-up first) and waits until the system runs through the Broker.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"
start=$SECONDS

source hack/cluster/lib.sh
trap - EXIT
if [[ -z ${KUBECONFIG:-} ]] || [[ "$(realpath -m "${KUBECONFIG}")" == "$(realpath -m "${KUBECONFIG_PATH}")" ]]; then
	eval "$(hack/ko-env.sh)"
fi
command -v ko >/dev/null || make --no-print-directory ko-install
echo "==> ko apply -f config/ (KO_DOCKER_REPO=${KO_DOCKER_REPO:?set KO_DOCKER_REPO for a remote cluster})"
ko apply -f config/ 2>&1 | grep -vE '^\s*$' | sed 's/^/    /' | tail -n 40
echo "==> waiting for the components"
for d in cdi-eventsource cdi-importer cdi-uploader cdi-cloner cdi-requester cdi-updater cdi-tokenapi cdi-uploadproxy cdi-webhook; do
	kubectl -n cdi rollout status "deployment/${d}" --timeout=180s
done
# The clone webhook is Ready once it serves its certificate, but the API
# server trusts it only after cdi-webhook has copied the CA into the
# caBundle of clone.cdi-functions.io: until then clone claims fail with a
# TLS error. Ask with a server-side dry run of a clone claim until the
# webhook answers (allowed, or denied by the webhook itself).
# The profile: plain (the routing table) unless CDI_PROFILE=knative, which
# adds config/knative/ (a Broker, Triggers, an EventPolicy, the SinkBinding
# that gives every component K_SINK and, with OIDC, the Broker's token).
# The SinkBinding patches the Deployments: wait for those rollouts too.
knative_crds() { kubectl get crd brokers.eventing.knative.dev sinkbindings.sources.knative.dev >/dev/null 2>&1; }
case "${CDI_PROFILE:-plain}" in
knative)
	knative_crds || { echo "CDI_PROFILE=knative but Knative Eventing is not installed: make knative-up" >&2; exit 1; }
	echo "==> kubectl apply -f config/knative/"
	kubectl apply -f config/knative/ | sed 's/^/    /'
	kubectl -n cdi wait --for=condition=Ready broker/default sinkbinding/cdi-functions --timeout=180s
	kubectl -n cdi wait --for=condition=Ready trigger --all --timeout=180s
	echo "==> waiting for the SinkBinding's K_SINK in every Deployment"
	deadline=$((SECONDS + 120))
	for d in cdi-eventsource cdi-importer cdi-uploader cdi-cloner cdi-requester cdi-updater; do
		until kubectl -n cdi get deployment "${d}" -o jsonpath='{.spec.template.spec.containers[0].env[*].name}' | grep -qw K_SINK; do
			((SECONDS < deadline)) || { echo "deployment/${d} got no K_SINK from the SinkBinding" >&2; exit 1; }
			sleep 1
		done
		kubectl -n cdi rollout status "deployment/${d}" --timeout=180s
	done
	;;
plain)
	if knative_crds && kubectl -n cdi get sinkbinding cdi-functions >/dev/null 2>&1; then
		echo "==> kubectl delete -f config/knative/ (back to the routing table)"
		kubectl delete -f config/knative/ --ignore-not-found --wait=true | sed 's/^/    /'
		for d in cdi-eventsource cdi-importer cdi-uploader cdi-cloner cdi-requester cdi-updater; do
			kubectl -n cdi rollout status "deployment/${d}" --timeout=180s
		done
	fi
	;;
*)
	echo "CDI_PROFILE=${CDI_PROFILE}: want plain or knative" >&2
	exit 1
	;;
esac
echo "==> waiting for the clone webhook to answer"
clone_probe='apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: cdi-webhook-probe
  namespace: default
  annotations:
    k8s.io/CloneRequest: default/cdi-webhook-probe-source
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Mi'
deadline=$((SECONDS + 120))
until out=$(kubectl create --dry-run=server -o name -f - <<<"${clone_probe}" 2>&1) || [[ ${out} == *'denied the request'* ]]; do
	if ((SECONDS > deadline)); then
		echo "the clone webhook did not answer within 120 s: ${out}" >&2
		exit 1
	fi
	sleep 1
done
echo "==> deployed in $((SECONDS - start)) s"
