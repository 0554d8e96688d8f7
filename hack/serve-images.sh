#!/usr/bin/env bash
# Serves a host directory to the local cluster over HTTP at a stable
# in-cluster URL, http://images.cdi.svc.cluster.local/ (a selector-less
# Service whose endpoint is a file server on the cluster bridge's gateway).
#
#   hack/serve-images.sh DIR     start (or restart) serving DIR; prints the URL
#   hack/serve-images.sh --stop  stop serving
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster/lib.sh"
trap - EXIT

state="${CLUSTER_STATE}/serve-images"
kubectl=("$(kube_bin_dir)/kubectl" --kubeconfig "${KUBECONFIG_PATH}")
url="http://images.cdi.svc.${CLUSTER_DOMAIN}/"

stop() {
	if [[ -r "${state}/pid" ]]; then
		local pid
		pid=$(cat "${state}/pid")
		kill "${pid}" 2>/dev/null || true
		for _ in $(seq 50); do [[ -d /proc/${pid} ]] && [[ $(awk '{print $3}' "/proc/${pid}/stat" 2>/dev/null) != Z ]] || break; sleep 0.1; done
	fi
	rm -rf "${state}"
	"${kubectl[@]}" delete --ignore-not-found -n cdi service/images endpointslice/images >/dev/null 2>&1 || true
}

if [[ ${1:-} == --stop ]]; then
	stop
	echo "stopped serving images"
	exit 0
fi
dir=${1:?usage: serve-images.sh DIR | --stop}
[[ -d ${dir} ]] || die "${dir} is not a directory"
[[ -r "${KUBECONFIG_PATH}" ]] || die "no cluster: run 'make cluster-up' first"
stop
mkdir -p "${state}"

fileserver="${REPO_ROOT}/bin/fileserver"
[[ -x ${fileserver} ]] || (cd "${REPO_ROOT}" && go build -o bin/fileserver ./hack/fileserver)
# Listens on the bridge gateway only: reachable from pods, not from outside.
setsid "${fileserver}" --dir "$(cd "${dir}" && pwd)" --addr "${GATEWAY}:0" --url-file "${state}/url" \
	>"${state}/log" 2>&1 </dev/null &
echo $! >"${state}/pid"
for _ in $(seq 100); do [[ -s ${state}/url ]] && break; sleep 0.1; done
[[ -s ${state}/url ]] || die "file server did not start: $(cat "${state}/log")"
port=$(sed -E 's#.*:([0-9]+)/.*#\1#' "${state}/url")

"${kubectl[@]}" create namespace cdi --dry-run=client -o yaml | "${kubectl[@]}" apply -f - >/dev/null
"${kubectl[@]}" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata:
  name: images
  namespace: cdi
  labels: {app.kubernetes.io/part-of: cdi-functions}
spec:
  ports:
  - {name: http, port: 80, targetPort: ${port}, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: images
  namespace: cdi
  labels:
    kubernetes.io/service-name: images
    app.kubernetes.io/part-of: cdi-functions
addressType: IPv4
ports:
- {name: http, port: ${port}, protocol: TCP}
endpoints:
- addresses: ["${GATEWAY}"]
YAML
echo "serving ${dir} at ${url} (host side: $(cat "${state}/url"))"
