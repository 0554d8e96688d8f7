#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine: the
# image tools the tests generate fixtures with, liblzma for the data mover,
# and the Go tools (staticcheck, the versitygw S3 server). Installed parts
# are kept, so a second run takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(qemu-utils xz-utils zstd pigz gzip bzip2 tar liblzma-dev genisoimage curl gcc libc6-dev util-linux)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "installing Debian packages: ${missing[*]}"
	if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

make --no-print-directory tools
