#!/usr/bin/env bash
# Shows Knative Eventing on the local cluster: the memory (RSS and total
# usage of its cgroup) of each pod in knative-eventing, then the deployments.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap - EXIT
knative_env

# pod_cgroup UID: the pod's memory cgroup directory (cgroup v1, cgroupfs).
pod_cgroup() {
  find /sys/fs/cgroup/memory/kubepods -maxdepth 2 -type d -name "pod$1" -print -quit 2>/dev/null
}

total=0
printf '%-48s %8s %10s\n' POD RSS_MiB USAGE_MiB
while read -r name uid; do
  d=$(pod_cgroup "${uid}")
  if [[ -z "${d}" ]]; then
    printf '%-48s %8s %10s\n' "${name}" - -
    continue
  fi
  rss=$(awk '$1 == "total_rss" {printf "%.0f", $2 / 1048576}' "${d}/memory.stat")
  use=$(($(cat "${d}/memory.usage_in_bytes") / 1048576))
  total=$((total + rss))
  printf '%-48s %8s %10s\n' "${name}" "${rss}" "${use}"
done < <(kctl -n "${EVENTING_NS}" get pods -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.uid}{"\n"}{end}')
printf '%-48s %8s\n' TOTAL "${total}"
echo
kctl -n "${EVENTING_NS}" get deployments
