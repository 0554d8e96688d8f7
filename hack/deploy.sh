#!/usr/bin/env bash
# Deploys cdi-functions with `ko apply -f config/` to the cluster in
# $KUBECONFIG, or to the local cluster (images built offline into its
# loopback registry) when KUBECONFIG is unset or is the local cluster's
# kubeconfig (what `make cluster-up` tells you to export), and waits until
# every component is ready.
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
for d in cdi-eventsource cdi-importer cdi-uploader cdi-cloner cdi-updater cdi-tokenapi cdi-uploadproxy; do
	kubectl -n cdi rollout status "deployment/${d}" --timeout=180s
done
echo "==> deployed in $((SECONDS - start)) s"
