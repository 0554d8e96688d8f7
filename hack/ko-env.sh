#!/usr/bin/env bash
# Prints the environment that makes ko build and deploy against the local
# cluster fully offline: images are pushed to the cluster's loopback registry
# and built FROM the locally made, digest-pinned nonroot base image instead of
# ko.yaml's production base; the cluster's kubectl (which ko apply runs) is
# put first on PATH. Use:
#
#   eval "$(hack/ko-env.sh)"
#   ko apply -f config/
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster/lib.sh"
trap - EXIT

images="${CLUSTER_STATE}/images.env"
[[ -r "${images}" ]] || die "${images} not found: run 'make cluster-up' first"
# shellcheck disable=SC1090
source "${images}"

cat <<ENV
export KO_CONFIG_PATH=${REPO_ROOT}/ko.yaml
export KO_DOCKER_REPO=${REGISTRY}/cdi-functions
export KO_DEFAULTBASEIMAGE=${BASE_IMAGE}
export KO_DEFAULTPLATFORMS=linux/amd64
export KUBECONFIG=${KUBECONFIG_PATH}
export KUBECACHEDIR=${CLUSTER_STATE}/kubectl-cache
export PATH=$(kube_bin_dir):\$PATH
ENV
