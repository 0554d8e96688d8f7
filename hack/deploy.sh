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
for d in cdi-eventsource cdi-importer cdi-uploader cdi-cloner cdi-requester cdi-updater cdi-tokenapi cdi-uploadproxy cdi-webhook; do
	kubectl -n cdi rollout status "deployment/${d}" --timeout=180s
done
# The clone webhook is Ready once it serves its certificate, but the API
# server trusts it only after cdi-webhook has copied the CA into the
# caBundle of clone.cdi-functions.io: until then clone claims fail with a
# TLS error. Ask with a server-side dry run of a clone claim until the
# webhook answers (allowed, or denied by the webhook itself).
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
