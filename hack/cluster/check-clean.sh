#!/usr/bin/env bash
# Checks that no trace of the local cluster is left on the machine: processes,
# state dir, mounts, bridge, routes, iptables chains, conntrack entries,
# cgroups, links and CNI cache files. Prints each check; exits 1 on leftovers.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap - EXIT

failed=0
check() {
  local what="$1" out
  shift
  out="$("$@" 2>/dev/null)"
  if [[ -n "${out}" ]]; then
    printf '  LEFT  %-28s %s\n' "${what}" "$(echo "${out}" | head -5 | tr '\n' ' ')"
    failed=1
  else
    printf '  clean %s\n' "${what}"
  fi
}

procs() {
  local pid
  for pid in $(guarded_pids); do
    echo "${pid}:$(cat "/proc/${pid}/comm" 2>/dev/null)"
  done
  pgrep -a -f "${CLUSTER_STATE}" | grep -v -e check-clean -e pgrep || true
}
state_dir() { [[ -e "${CLUSTER_STATE}" ]] && echo "${CLUSTER_STATE}"; }
mounts() { awk -v s="${CLUSTER_STATE}" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo; }
bridge() { ip -o link show "${BRIDGE}" 2>/dev/null; ip -o link show master "${BRIDGE}" 2>/dev/null; }
routes() { ip route show | grep -E "^(${SERVICE_CIDR}|${POD_SUBNET})"; }
chains() {
  local t table
  for t in iptables ip6tables; do
    for table in filter nat mangle; do
      "$t" -t "${table}" -S 2>/dev/null | grep -E 'KUBE-|CDI-CLUSTER-' | sed "s/^/$t -t ${table} /"
    done
  done
}
conntrack_entries() {
  local cidr
  for cidr in "${POD_SUBNET}" "${SERVICE_CIDR}"; do
    conntrack -L --orig-src "${cidr}" 2>/dev/null
    conntrack -L --orig-dst "${cidr}" 2>/dev/null
  done
}
cgroups() { ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null; }
loops() { cluster_loop_devices; }
links() {
  find /var/log/containers -maxdepth 1 -lname "${CLUSTER_STATE}/*" 2>/dev/null
  [[ -L /tmp/hostpath_pv ]] && echo /tmp/hostpath_pv
}
# created_dirs: host directories the cluster created (down.sh passes them).
created_dirs() {
  local d
  for d in ${CDI_CLUSTER_CREATED_DIRS:-}; do
    [[ -e "$d" ]] && echo "$d"
  done
  ls /run/containerd/s/ 2>/dev/null
}
cni_cache() { ls /var/lib/cni/results/"${CNI_NETWORK}"-* 2>/dev/null; }

echo "leftover check (${CLUSTER_STATE}):"
check "processes" procs
check "state dir" state_dir
check "mounts" mounts
check "bridge ${BRIDGE} + ports" bridge
check "routes" routes
check "loop devices" loops
if pgrep -x kubelet >/dev/null || pgrep -x kube-proxy >/dev/null; then
  # Another cluster on this machine owns KUBE-* chains and kubepods cgroups.
  chains() { local t; for t in iptables ip6tables; do "$t" -S 2>/dev/null | grep 'CDI-CLUSTER-'; done; }
  cgroups() { :; }
  echo "  (another kubelet/kube-proxy runs here: KUBE-* chains and kubepods cgroups not checked)"
fi
check "iptables chains" chains
check "conntrack entries" conntrack_entries
check "kubepods cgroups" cgroups
check "log/hostPath links" links
check "CNI result cache" cni_cache
check "created host dirs, shim sockets" created_dirs
exit "${failed}"
