#!/usr/bin/env bash
# Shows the local cluster's state: each component's pid and memory, the guard
# counters, the node and the pods, and the memory of the whole cluster (host
# processes plus pods). Exits 1 when a component is not running.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap - EXIT
KUBE_BIN="$(kube_bin_dir)"

rss_mib() { awk '/^VmRSS:/ {printf "%.0f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo 0; }

rc=0
total=0
printf '%-24s %8s %8s\n' COMPONENT PID RSS_MiB
for c in "${COMPONENTS[@]}"; do
  if pid=$(component_pid "$c"); then
    m=$(rss_mib "${pid}")
    total=$((total + m))
    printf '%-24s %8s %8s\n' "$c" "${pid}" "${m}"
  else
    printf '%-24s %8s %8s\n' "$c" "-" "DOWN"
    rc=1
  fi
done
shims=0
for pid in $(guarded_pids); do
  [[ "$(cat "/proc/${pid}/comm" 2>/dev/null)" == containerd-shim* ]] && shims=$((shims + $(rss_mib "${pid}")))
done
pods=0
if [[ -f /sys/fs/cgroup/memory/kubepods/memory.usage_in_bytes ]]; then
  pods=$(($(cat /sys/fs/cgroup/memory/kubepods/memory.usage_in_bytes) / 1048576))
fi
printf '%-24s %8s %8s\n' "containerd shims" "" "${shims}"
printf '%-24s %8s %8s\n' "pods (kubepods cgroup)" "" "${pods}"
printf '%-24s %8s %8s\n' "TOTAL" "" "$((total + shims + pods))"
echo
echo "guard REJECT counters (must stay 0):"
for t in iptables ip6tables; do
  "$t" -L CDI-CLUSTER-GUARD -v -n -x 2>/dev/null | awk -v t="$t" '$3 == "REJECT" {print "  " t " GUARD  packets=" $1}'
  "$t" -L CDI-CLUSTER-EGRESS -v -n -x 2>/dev/null | awk -v t="$t" '$3 == "REJECT" {print "  " t " EGRESS packets=" $1}'
done
echo
if ((rc == 0)); then
  kctl get nodes -o wide
  echo
  kctl get pods -A -o wide
fi
echo
echo "export KUBECONFIG=${KUBECONFIG_PATH}"
exit "${rc}"
