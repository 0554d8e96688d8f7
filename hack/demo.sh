#!/usr/bin/env bash
# The main job, end to end, on a fresh machine: brings the local cluster up,
# deploys cdi-functions with `ko apply -f config/`, serves a generated
# qcow2.xz image inside the cluster, applies the 2018 CDI post's
# golden-pvc.yaml (only the URL changed), shows progress, and ends with the
# claim's annotations and a checksum of disk.img matching `qemu-img convert`.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/cluster/lib.sh
trap - EXIT
start=$SECONDS
say() { printf '\n==> [%4ds] %s\n' $((SECONDS - start)) "$*"; }

say "make setup (Debian packages, Go tools)"
make --no-print-directory setup
say "make cluster-up"
make --no-print-directory cluster-up
export KUBECONFIG="${KUBECONFIG_PATH}"
kubectl() { "$(kube_bin_dir)/kubectl" "$@"; }
say "make deploy (ko apply -f config/)"
KUBECONFIG= make --no-print-directory deploy

images=/var/tmp/cdi-functions-demo
name=cirros-like-disk.qcow2.xz
if [[ ! -s ${images}/${name} ]]; then
	say "generating a 1 GiB disk image with scattered data, as ${name}"
	mkdir -p "${images}"
	qemu-img create -q -f raw "${images}/disk.raw" 1G
	for off in 0 3 64 65 200 512 777 1000 1023; do
		head -c 1M /dev/urandom | dd of="${images}/disk.raw" bs=1M seek="${off}" conv=notrunc status=none
	done
	qemu-img convert -q -f raw -O qcow2 "${images}/disk.raw" "${images}/disk.qcow2"
	xz -T2 -c "${images}/disk.qcow2" >"${images}/${name}.tmp" && mv "${images}/${name}.tmp" "${images}/${name}"
	rm -f "${images}/disk.raw" "${images}/disk.qcow2"
fi
say "make serve-images DIR=${images}"
hack/serve-images.sh "${images}"
url="http://images.cdi.svc.${CLUSTER_DOMAIN}/${name}"

say "kubectl create -f golden-pvc.yaml (the seed's claim; endpoint: ${url})"
kubectl delete pvc golden-pvc --ignore-not-found --wait=true >/dev/null
sed "s#https://download.cirros-cloud.net/0.4.0/cirros-0.4.0-x86_64-disk.img#${url}#" test/e2e/testdata/golden-pvc.yaml |
	kubectl create -f -

say "watching the claim"
phase="" last=""
for _ in $(seq 600); do
	phase=$(kubectl get pvc golden-pvc -o jsonpath='{.metadata.annotations.cdi\.kubevirt\.io/storage\.pod\.phase}')
	progress=$(kubectl get pvc golden-pvc -o jsonpath='{.metadata.annotations.cdi\.kubevirt\.io/storage\.import\.progress}')
	line="phase=${phase:-<none>} progress=${progress:-<none>}"
	[[ ${line} != "${last}" ]] && echo "    ${line}" && last=${line}
	[[ ${phase} == Succeeded || ${phase} == Failed ]] && break
	sleep 1
done
say "kubectl get pvc golden-pvc -o yaml (annotations)"
kubectl get pvc golden-pvc -o go-template='{{range $k, $v := .metadata.annotations}}    {{$k}}: {{$v}}{{"\n"}}{{end}}'
kubectl describe pvc golden-pvc | sed -n '/^Events:/,$p'
[[ ${phase} == Succeeded ]] || { echo "import did not succeed"; exit 1; }

say "checking disk.img against qemu-img convert of the source"
pv=$(kubectl get pvc golden-pvc -o jsonpath='{.spec.volumeName}')
dir=$(kubectl get pv "${pv}" -o jsonpath='{.spec.hostPath.path}')
xz -dc "${images}/${name}" >"${images}/check.qcow2"
qemu-img convert -q -f qcow2 -O raw "${images}/check.qcow2" "${images}/check.raw"
# disk.img is grown (sparsely) to the claim's size, as KubeVirt expects: the
# image is its first bytes, and the rest must read as zeros.
size=$(stat -c %s "${images}/check.raw")
want=$(sha256sum <"${images}/check.raw" | cut -d' ' -f1)
got=$(head -c "${size}" "${dir}/disk.img" | sha256sum | cut -d' ' -f1)
rm -f "${images}/check.qcow2" "${images}/check.raw"
total=$(stat -c %s "${dir}/disk.img")
tail_zero=0
cmp -s --ignore-initial="${size}:0" --bytes=$((total - size)) "${dir}/disk.img" /dev/zero || tail_zero=1
echo "    qemu-img convert:          ${want}"
echo "    disk.img (first ${size} B): ${got}"
echo "    disk.img: $(du -h --apparent-size "${dir}/disk.img" | cut -f1) apparent, $(du -h "${dir}/disk.img" | cut -f1) stored, rest zeros: $([[ ${tail_zero} == 0 ]] && echo yes || echo NO)"
[[ ${want} == "${got}" && ${tail_zero} == 0 ]] || { echo "MISMATCH"; exit 1; }
say "OK: cdi.kubevirt.io/storage.pod.phase: Succeeded, disk.img matches (done in $((SECONDS - start)) s)"
echo "The cluster stays up: export KUBECONFIG=${KUBECONFIG_PATH}; 'make cluster-down' removes it."
