#!/usr/bin/env bash
# Builds the local cluster's binaries from the Go module proxy, once per
# machine: Kubernetes v1.35.4 (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy, kubectl) and etcd v3.6.5 in ONE go build
# of the kube/ module, then CoreDNS v1.15.0, pause and clusterkit in one go
# build of the addons/ module. Results are cached outside the repository under
# $CDI_CLUSTER_CACHE, keyed by a hash of the modules and this script, so a
# fresh clone on the same machine (CI) reuses them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0

# Version stamps, or the servers report v0.0.0-master and version checks fail.
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${p}.gitVersion=${KUBE_VERSION} -X ${p}.gitMajor=1 -X ${p}.gitMinor=35"
  ldflags+=" -X ${p}.gitTreeState=clean -X ${p}.buildDate=1970-01-01T00:00:00Z"
done

kube_pkgs=(
  k8s.io/kubernetes/cmd/kube-apiserver
  k8s.io/kubernetes/cmd/kube-controller-manager
  k8s.io/kubernetes/cmd/kube-scheduler
  k8s.io/kubernetes/cmd/kubelet
  k8s.io/kubernetes/cmd/kube-proxy
  k8s.io/kubernetes/cmd/kubectl
  ./cmd/etcd
)
addons_pkgs=(./cmd/coredns ./cmd/pause ./cmd/clusterkit)

# build MODULE_DIR OUT_DIR LDFLAGS PKG...: one go build into a temporary
# directory, renamed into place when complete.
build() {
  local mod="$1" out="$2" flags="$3"
  shift 3
  if [[ -f "${out}/.complete" ]]; then
    log "cached: ${out}"
    touch "${out}"
    return 0
  fi
  local tmp="${out}.tmp.$$"
  rm -rf "${tmp}"
  mkdir -p "${tmp}"
  log "go build ($(basename "${mod}")): $* -> ${out}"
  (cd "${mod}" && go build -ldflags "${flags}" -o "${tmp}/" "$@")
  touch "${tmp}/.complete"
  rm -rf "${out}"
  mv "${tmp}" "${out}"
}

# prune PREFIX: keeps the three most recently used builds of a kind.
prune() {
  find "${CLUSTER_CACHE}" -mindepth 1 -maxdepth 1 -type d -name "$1-*" ! -name '*.tmp.*' -printf '%T@ %p\n' |
    sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
}

mkdir -p "${CLUSTER_CACHE}"
exec 9>"${CLUSTER_CACHE}/.build.lock"
flock 9
step "build kube binaries" build "${CLUSTER_DIR}/kube" "$(kube_bin_dir)" "${ldflags}" "${kube_pkgs[@]}"
step "build addons binaries" build "${CLUSTER_DIR}/addons" "$(addons_bin_dir)" "-s -w" "${addons_pkgs[@]}"
prune kube
prune addons
