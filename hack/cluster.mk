# Make targets for the local single-node Kubernetes cluster (hack/cluster/).
# The root Makefile includes this file; see docs/development.md.
#
#   make cluster-up       start (or, when up, do nothing); prints export KUBECONFIG=...
#   make cluster-down     stop it and remove every trace
#   make cluster-status   components, memory, guard counters, node and pods
#   make ko-install       ko $(KO_VERSION) into $(go env GOPATH)/bin, once per machine
#   make e2e              acceptance tests in test/e2e against the running cluster
#   make e2e-knative      the import, upload and clone suites through a Knative Broker (installs Knative)
#   make bench-upload     2 GiB uploads through the proxy vs a plain file server (docs/performance.md)
#   make bench-clone      clones of a 2 GiB claim (30% data) vs cp --sparse=always; wire bytes vs data

CLUSTER_HACK := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
KO_VERSION ?= v0.19.1
KO ?= $(shell go env GOPATH)/bin/ko
E2E_FLAGS ?= -count=1 -timeout 20m -v

.PHONY: cluster-build cluster-up cluster-down cluster-status ko-install e2e e2e-knative e2e-knative-ci bench-e2e bench-upload bench-clone

cluster-build:
	$(CLUSTER_HACK)/cluster/build.sh

cluster-up:
	$(CLUSTER_HACK)/cluster/up.sh

cluster-down:
	$(CLUSTER_HACK)/cluster/down.sh

cluster-status:
	$(CLUSTER_HACK)/cluster/status.sh

ko-install:
	@if [ "$$($(KO) version 2>/dev/null)" = "$(KO_VERSION)" ]; then \
		echo "ko $(KO_VERSION) already installed: $(KO)"; \
	else \
		echo "installing ko $(KO_VERSION) (slow the first time)"; \
		cd / && GOWORK=off GOFLAGS= CGO_ENABLED=0 go install github.com/google/ko@$(KO_VERSION); \
	fi

e2e: ko-install
	cd $(CLUSTER_HACK)/cluster/addons && go test -count=1 ./...
	@# One package (netwatch runs with make unit), so that -v output streams as the tests run.
	@koenv="$$($(CLUSTER_HACK)/ko-env.sh)" || { echo "the cluster is not up: make cluster-up" >&2; exit 1; }; \
	eval "$$koenv"; set -x; PATH="$(dir $(KO)):$$PATH" go test -tags e2e $(E2E_FLAGS) ./test/e2e/

# TestKnative: the suites with config/knative/ deployed (a Broker with
# OIDC, Triggers, the SinkBinding), after make knative-up. KNATIVE_RUN
# narrows it (CI runs KNATIVE_CI_RUN: one scenario or a few of each suite,
# the external request and the forgeries at the ingress).
KNATIVE_RUN ?= ^TestKnative$$
KNATIVE_CI_RUN := TestKnative/(ProfileIsWired|parallel|ForgedEventsAtTheBrokerIngress)/(imports|uploads|clones)/(SeedYAMLVerbatimButURL|S3|HTTPSWithCustomCA|ForgedEventsAreRefused|SeedCurlFlowVerbatim|SeedYAMLVerbatimButNamespaces|ExternalRequests)
e2e-knative: ko-install knative-up
	@koenv="$$($(CLUSTER_HACK)/ko-env.sh)" || { echo "the cluster is not up: make cluster-up" >&2; exit 1; }; \
	eval "$$koenv"; set -x; PATH="$(dir $(KO)):$$PATH" CDI_PROFILE=knative \
		go test -tags e2e -count=1 -timeout 25m -v -run '$(KNATIVE_RUN)' ./test/e2e/

e2e-knative-ci:
	$(MAKE) e2e-knative KNATIVE_RUN='$(KNATIVE_CI_RUN)'

# 200 claims at once on the running cluster, in each of BENCH_PROFILES
# (plain: the routing table; knative: through the Broker, after
# make knative-up): latency to data pod and to Succeeded (p50/p99),
# updater events/s, event source memory, Knative's memory at rest.
BENCH_PROFILES ?= plain knative
bench-e2e: ko-install $(if $(filter knative,$(BENCH_PROFILES)),knative-up)
	cd $(CLUSTER_HACK)/cluster/addons && go test -count=1 ./...
	set -e; eval "$$($(CLUSTER_HACK)/ko-env.sh)"; for p in $(BENCH_PROFILES); do \
		PATH="$(dir $(KO)):$$PATH" CDI_BENCH_E2E=1 CDI_PROFILE=$$p \
		go test -tags e2e -count=1 -timeout 30m -run '^TestBench(Imports|Updater)$$' -v ./test/e2e/; done

# A 2 GiB raw and qcow2 image through the upload proxy against the same
# bytes POSTed to a plain file server pod, the peak RSS of the proxy and of
# the upload pod, and the time one dropped connection costs cdictl
# (docs/performance.md, "Upload"). CDI_BENCH_SIZE, CDI_BENCH_RUNS,
# CDI_BENCH_REPORT as make bench.
bench-upload: ko-install
	eval "$$($(CLUSTER_HACK)/ko-env.sh)" && PATH="$(dir $(KO)):$$PATH" CDI_BENCH_UPLOAD=1 \
		go test -tags e2e -count=1 -timeout 30m -run '^TestBenchUpload$$' -v ./test/e2e/

# Clones of a claim holding a 2 GiB raw disk with 30% data (bench-upload's
# disk.raw, imported first, untimed) into new claims: wall time and the
# data pods' time against cp --sparse=always of the source's disk.img (as
# is and followed by sync), and the bytes the clone source sent against
# the bytes of data (docs/performance.md, "Clone"). CDI_BENCH_SIZE,
# CDI_BENCH_RUNS (default 5), CDI_BENCH_REPORT as make bench-upload.
bench-clone: ko-install
	eval "$$($(CLUSTER_HACK)/ko-env.sh)" && PATH="$(dir $(KO)):$$PATH" CDI_BENCH_CLONE=1 \
		go test -tags e2e -count=1 -timeout 40m -run '^TestBenchClone$$' -v ./test/e2e/
