# shellcheck shell=bash
# shellcheck disable=SC2034 # settings are used by the scripts that source this file
# Shared settings of the Knative Eventing scripts (up.sh, down.sh, status.sh,
# smoke.sh). Source it: it sources the cluster's lib.sh (settings, die, step,
# kctl) and only defines settings and functions.

source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"
KNATIVE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

EVENTING_VERSION="v0.50.0"
EVENTING_NS="knative-eventing"
# Resolved manifests (image digests filled in), shared by every checkout on
# this machine, as the cluster's binaries are.
KNATIVE_CACHE="${CDI_KNATIVE_CACHE:-/var/cache/cdi-functions/knative}"
# Where ko pushes the Knative images: the cluster's loopback registry.
KNATIVE_REPO="${REGISTRY}/knative"
# The parts of the eventing module that are installed, in this order: what
# its release puts into eventing-core.yaml (config/core plus the two image
# ConfigMaps of eventing-integrations, which the controller needs to start;
# those images are remote and only used by EventTransform and
# IntegrationSource/Sink), the in-memory channel and the multi-tenant Broker.
EVENTING_CONFIGS=(config/core third_party/eventing-integrations-latest config/channels/in-memory-channel
  config/brokers/mt-channel-broker)

log() { printf '[knative %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

step() {
  local name="$1" start
  shift
  CURRENT_STEP="${name}"
  start=${EPOCHREALTIME}
  "$@"
  CURRENT_STEP=""
  printf '[knative %s] %-34s %6.1fs\n' "$(date +%H:%M:%S)" "${name}" "$(awk "BEGIN{print ${EPOCHREALTIME} - ${start}}")"
}

# knative_env: the cluster's ko environment (KUBECONFIG, kubectl on PATH,
# KO_DEFAULTBASEIMAGE) and KUBE_BIN for kctl; dies when the cluster is not up.
knative_env() {
  local env
  env=$("${REPO_ROOT}/hack/ko-env.sh") || die "the cluster is not up: make cluster-up"
  eval "${env}"
  KUBE_BIN="$(kube_bin_dir)"
  kctl get --raw /readyz >/dev/null || die "the cluster's API server is not ready: make cluster-up"
}

# eventing_dir: the knative.dev/eventing module in the module cache
# (downloaded through the module proxy on first use).
eventing_dir() {
  (cd "${KNATIVE_DIR}" && GOWORK=off GOFLAGS=-mod=readonly go mod download -json "knative.dev/eventing@${EVENTING_VERSION}") |
    sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'
}

# knative_key: a short hash of what the resolved manifests depend on: the
# helper module, its ko.yaml, these scripts, the base image, Go and ko.
knative_key() {
  local f
  {
    for f in go.mod go.sum ko.yaml lib.sh up.sh; do
      printf '%s\n' "$f"
      cat "${KNATIVE_DIR}/$f"
    done
    echo "${KO_DEFAULTBASEIMAGE:-}"
    go env GOVERSION
    "${KO:-$(go env GOPATH)/bin/ko}" version
  } | sha256sum | cut -c1-16
}
