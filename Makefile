# cdi-functions: build, test and run.
# `make help` lists the targets.

SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
GOBIN_DIR := $(shell $(GO) env GOPATH)/bin
STATICCHECK_VERSION := v0.8.2
VERSITYGW_VERSION := v1.8.0

# The data mover links liblzma statically (cgo), so it runs on a bare base image.
DATAMOVER_ENV := CGO_ENABLED=1
DATAMOVER_FLAGS := -tags netgo,osusergo -ldflags '-s -w -linkmode external -extldflags "-static"'

# Fuzz budget per target in `make fuzz`: an iteration count, not a duration.
# With a duration, Go 1.26's fuzz coordinator sometimes fails a clean run with
# "context deadline exceeded" at the deadline (go.dev/issue/75804, fixed in
# Go 1.27); a count has no deadline to race. FUZZ_SCALE multiplies every
# target's count (each count is about 5 s of fuzzing on 2 cores).
FUZZ_SCALE ?= 1

export PATH := $(GOBIN_DIR):$(PATH)

.PHONY: help setup build test unit fuzz bench lint fmt tools demo demo-local deploy serve-images serve-images-stop clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

setup: ## install the Debian packages and Go tools the build and tests need
	hack/setup.sh

build: ## build every program into ./bin/
	@mkdir -p $(BIN)
	$(DATAMOVER_ENV) $(GO) build $(DATAMOVER_FLAGS) -o $(BIN)/datamover ./functions/datamover
	$(GO) build -o $(BIN)/ ./eventsource ./functions/importer ./functions/uploader ./functions/cloner ./functions/requester ./functions/updater \
		./uploadproxy ./tokenapi ./webhook ./hack/fileserver
	$(GO) build -o $(BIN)/cdictl ./cmd/cdictl
	ln -sf cdictl $(BIN)/kubectl-cdictl

test: lint unit fuzz ## everything CI checks without a cluster: lint, unit and integration tests, short fuzzing

unit: ## go test ./... (real qemu-img, xz, zstd, S3 server; see .ci/run for the packages)
	$(GO) test -count=1 ./...

# Every fuzz target with its iteration count (about 5 s each on 2 cores).
FUZZ_TARGETS := \
	./pkg/image:FuzzDetect:100000 \
	./pkg/image/qcow2:FuzzOpenConvert:30000 \
	./pkg/image/xz:FuzzReader:6000 \
	./pkg/target:FuzzExtract:1000 \
	./pkg/egress:FuzzParse:100000 \
	./pkg/annotations:FuzzValidate:50000 \
	./pkg/annotations:FuzzCloneSource:50000 \
	./pkg/redact:FuzzString:100000 \
	./pkg/uploadtoken:FuzzVerify:20000 \
	./pkg/uploadproxy/tus:FuzzHeaders:300000 \
	./pkg/clonestream:FuzzReceive:15000 \
	./pkg/cloneauth:FuzzVerify:10000 \
	./functions/requester:FuzzValidate:20000

fuzz: ## run each fuzz target for its iteration count (times FUZZ_SCALE)
	@set -e; for t in $(FUZZ_TARGETS); do \
		IFS=: read -r pkg fn n <<<"$$t"; n=$$((n * $(FUZZ_SCALE))); \
		echo "fuzz $$pkg $$fn ($${n}x)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime "$${n}x" -fuzzminimizetime 1x $$pkg; \
	done

bench: ## data-path benchmark vs the reference tools (2 GiB images; see docs/performance.md)
	$(GO) test -run '^$$' -bench . -benchtime 5x -timeout 90m ./test/bench/

.PHONY: bench-clone-local
bench-clone-local: ## clone data path on loopback: 2 GiB, 30% data, vs cp --sparse=always; wire bytes vs data (docs/performance.md)
	$(GO) test -run '^$$' -bench BenchmarkCloneLocal -benchtime 3x -timeout 30m ./functions/datamover/

lint: ## go vet + staticcheck + gofmt check + go.mod tidy
	$(GO) vet ./...
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy: run go mod tidy"; $(GO) mod tidy -diff; exit 1; }
	@command -v staticcheck >/dev/null || { echo "staticcheck missing: run make tools"; exit 1; }
	staticcheck ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fmt: ## gofmt every Go file
	gofmt -w $$(git ls-files '*.go')

tools: ## install the Go tools the tests need (staticcheck, versitygw)
	GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@command -v versitygw >/dev/null || GOFLAGS= $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

demo: ## the main job on a fresh machine: cluster up, deploy, import the seed's golden-pvc.yaml, check disk.img
	hack/demo.sh

demo-local: build ## no cluster: import a generated qcow2 image over a loopback HTTP server with bin/datamover
	hack/demo-local.sh

deploy: ## ko apply -f config/ to KUBECONFIG (default: the local cluster) and wait until ready
	hack/deploy.sh

serve-images: ## serve DIR to the local cluster at http://images.cdi.svc.cluster.local/
	@test -n "$(DIR)" || { echo "usage: make serve-images DIR=path"; exit 2; }
	hack/serve-images.sh "$(DIR)"

serve-images-stop: ## stop make serve-images
	hack/serve-images.sh --stop

clean: ## remove build output
	rm -rf $(BIN)

-include hack/cluster.mk
-include hack/knative.mk
