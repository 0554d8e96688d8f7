#!/usr/bin/env bash
# Imports a generated qcow2 image over a local HTTP server with bin/datamover
# and checks the result against `qemu-img convert` of the same image.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
server_pid=""
cleanup() {
	[[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

echo "==> generating a 256 MiB disk image with scattered data, as qcow2"
mkdir -p "$work/www" "$work/target"
qemu-img create -q -f raw "$work/disk.raw" 256M
for off in 0 7 33 64 100 129 200 251; do
	head -c 1M /dev/urandom | dd of="$work/disk.raw" bs=1M seek="$off" conv=notrunc status=none
done
qemu-img convert -q -f raw -O qcow2 "$work/disk.raw" "$work/www/disk.qcow2"
ls -l "$work/www/disk.qcow2"

echo "==> serving it over HTTP on loopback"
bin/fileserver --dir "$work/www" --url-file "$work/url" >/dev/null &
server_pid=$!
for _ in $(seq 100); do [[ -s $work/url ]] && break; sleep 0.1; done
url="$(cat "$work/url")disk.qcow2"
echo "    $url"

echo "==> bin/datamover import --source $url --target $work/target"
time bin/datamover import --source "$url" --target "$work/target"

echo "==> checking disk.img against qemu-img convert"
qemu-img convert -q -f qcow2 -O raw "$work/www/disk.qcow2" "$work/expected.raw"
want=$(sha256sum <"$work/expected.raw" | cut -d' ' -f1)
got=$(sha256sum <"$work/target/disk.img" | cut -d' ' -f1)
du -h --apparent-size "$work/target/disk.img" | sed 's/^/    apparent size: /'
du -h "$work/target/disk.img" | sed 's/^/    stored:        /'
echo "    qemu-img:  $want"
echo "    datamover: $got"
[[ $want == "$got" ]] || { echo "MISMATCH"; exit 1; }
echo "OK: disk.img is byte-identical to qemu-img convert"
