#!/usr/bin/env bash
# Stops the local cluster and removes everything it created: processes (by
# pid, waiting on process state), pods and their network namespaces, mounts,
# the bridge and its route, iptables chains (kube-proxy --cleanup, kubelet's,
# the guard), conntrack entries, kubepods cgroups, /var/log/containers links,
# loop devices of Block volumes, the /tmp/hostpath_pv link of older versions,
# the demo's image server, changed kernel settings and the state directory.
# Ends by checking that nothing is left (check-clean.sh). Safe to re-run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ ${EUID} -eq 0 ]] || die "must run as root"
CREATED_DIRS=()
T0=${EPOCHREALTIME}
KUBE_BIN="$(kube_bin_dir)"

stop_component() {
  local pid
  if pid=$(component_pid "$1"); then
    stop_pid "${pid}" "$1" "${2:-15}"
  fi
  rm -f "${PIDS}/$1.pid"
}

# drain deletes every pod through the API while kubelet still runs, so kubelet
# tears containers, network namespaces and CNI allocations down properly.
# The controllers are stopped first so that nothing is re-created.
drain() {
  stop_component kube-controller-manager
  stop_component kube-scheduler
  stop_component provisioner
  component_pid kubelet >/dev/null || return 0
  [[ -x "${KUBE_BIN}/kubectl" ]] || return 0
  kctl get --raw /readyz >/dev/null 2>&1 || return 0
  kctl delete pods --all --all-namespaces --grace-period=1 --wait=true --timeout=40s >/dev/null 2>&1 || true
}

# kill_leftover_tasks removes containers kubelet did not (or could not) remove.
kill_leftover_tasks() {
  component_pid containerd >/dev/null || return 0
  local t
  for t in $(ctr_k8s tasks ls -q 2>/dev/null); do
    ctr_k8s tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
  done
  sleep 0.5
  for t in $(ctr_k8s tasks ls -q 2>/dev/null); do
    ctr_k8s tasks delete -f "$t" >/dev/null 2>&1 || true
  done
}

# other_kube_running: another cluster's kubelet or kube-proxy runs on this
# machine (ours are stopped by the time this is asked). The kubepods cgroups
# and the KUBE-* iptables chains are then shared, and left alone.
other_kube_running() {
  pgrep -x kubelet >/dev/null || pgrep -x kube-proxy >/dev/null
}

# kill_stragglers ends processes still carrying the guard group (shims) and
# processes left in the kubepods cgroups.
kill_stragglers() {
  local pid
  for pid in $(guarded_pids); do
    stop_pid "${pid}" "$(cat "/proc/${pid}/comm" 2>/dev/null || echo "?")" 5 || true
  done
  if other_kube_running; then
    log "another kubelet/kube-proxy runs here: leaving kubepods cgroups alone"
    return 0
  fi
  local procs
  for procs in /sys/fs/cgroup/*/kubepods/cgroup.procs /sys/fs/cgroup/*/kubepods/**/cgroup.procs; do
    [[ -f "${procs}" ]] || continue
    for pid in $(cat "${procs}"); do
      kill -KILL "${pid}" 2>/dev/null || true
    done
  done
}

stop_processes() {
  drain
  stop_component kube-proxy
  stop_component kubelet
  kill_leftover_tasks
  stop_component containerd
  stop_component kube-apiserver
  stop_component etcd
  stop_component registry
  stop_image_server
  shopt -s globstar nullglob
  kill_stragglers
  shopt -u globstar nullglob
}

# delete_chains TOOL TABLE PATTERN: removes jumps to, then the chains matching
# PATTERN in TABLE.
delete_chains() {
  local tool="$1" table="$2" pattern="$3" rule chain
  "${tool}" -t "${table}" -S >/dev/null 2>&1 || return 0
  while read -r rule; do
    # shellcheck disable=SC2086
    eval "${tool} -t ${table} -D ${rule#-A }" 2>/dev/null || true
  done < <("${tool}" -t "${table}" -S | grep -E "^-A [^ ]+ .*-j (${pattern})( |$)" | grep -vE "^-A (${pattern}) ")
  for chain in $("${tool}" -t "${table}" -S | awk '$1 == "-N" {print $2}' | grep -E "^(${pattern})$"); do
    "${tool}" -t "${table}" -F "${chain}" 2>/dev/null || true
  done
  for chain in $("${tool}" -t "${table}" -S | awk '$1 == "-N" {print $2}' | grep -E "^(${pattern})$"); do
    "${tool}" -t "${table}" -X "${chain}" 2>/dev/null || true
  done
}

clean_network() {
  local t table pattern='KUBE-[A-Z0-9-]+|CDI-CLUSTER-[A-Z0-9-]+'
  if other_kube_running; then
    log "another kubelet/kube-proxy runs here: removing only the guard chains"
    pattern='CDI-CLUSTER-[A-Z0-9-]+'
  elif [[ -x "${KUBE_BIN}/kube-proxy" ]]; then
    "${KUBE_BIN}/kube-proxy" --cleanup >/dev/null 2>&1 || true
  fi
  for t in iptables ip6tables; do
    for table in filter nat mangle; do
      delete_chains "$t" "${table}" "${pattern}"
    done
  done
  if ip link show "${BRIDGE}" >/dev/null 2>&1; then
    ip link del "${BRIDGE}"
  fi
  ip route del "${SERVICE_CIDR}" 2>/dev/null || true
  local cidr dir
  for cidr in "${POD_SUBNET}" "${SERVICE_CIDR}"; do
    for dir in --orig-src --orig-dst --reply-src --reply-dst; do
      conntrack -D "${dir}" "${cidr}" >/dev/null 2>&1 || true
    done
  done
  rm -f /var/lib/cni/results/"${CNI_NETWORK}"-* 2>/dev/null || true
  rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null || true
}

unmount_state() {
  local m
  for m in $(awk -v s="${CLUSTER_STATE}" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount "${m}" 2>/dev/null || umount -l "${m}" 2>/dev/null || true
  done
}

# stop_image_server stops hack/serve-images.sh's file server (make demo).
stop_image_server() {
  local f="${CLUSTER_STATE}/serve-images/pid"
  [[ -r "$f" ]] || return 0
  stop_pid "$(cat "$f")" "image server" 5 || true
  rm -rf "${CLUSTER_STATE}/serve-images"
}

# detach_loops detaches the loop devices over the Block volumes' files.
detach_loops() {
  local dev
  for dev in $(cluster_loop_devices); do
    losetup --detach "${dev}" 2>/dev/null || true
  done
}

remove_cgroups() {
  local d
  other_kube_running && return 0
  for d in /sys/fs/cgroup/*/kubepods; do
    [[ -d "$d" ]] || continue
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

remove_links() {
  local l
  for l in /var/log/containers/*; do
    [[ -L "$l" ]] || continue
    case "$(readlink "$l")" in "${CLUSTER_STATE}"/*) rm -f "$l" ;; esac
  done
  if [[ -L /tmp/hostpath_pv && "$(readlink /tmp/hostpath_pv)" == "${CLUSTER_STATE}/hostpath_pv" ]]; then
    rm -f /tmp/hostpath_pv
  fi
}

# remove_created_dirs removes the host directories the cluster created
# (recorded by up.sh), unless something else uses them now.
remove_created_dirs() {
  local f="${CLUSTER_STATE}/created-dirs" d
  [[ -f "$f" ]] || return 0
  while read -r d; do
    case "$d" in
    /var/lib/kubelet)
      # Only kubelet's device-plugin socket dir; kubelet is stopped by now.
      rm -rf /var/lib/kubelet
      ;;
    /run/containerd | /var/lib/cni)
      # Shim socket dirs and CNI result caches (also of the loopback network);
      # kept if another containerd runs.
      pgrep -x containerd >/dev/null || rm -rf "$d"
      ;;
    *) find "$d" -depth -type d -empty -delete 2>/dev/null || true ;;
    esac
    CREATED_DIRS+=("$d")
  done <"$f"
}

restore_sysctls() {
  local f="${CLUSTER_STATE}/sysctls.saved" kv
  [[ -f "$f" ]] || return 0
  while read -r kv; do
    sysctl -q -w "${kv}" || true
  done <"$f"
}

remove_state() {
  remove_created_dirs
  restore_sysctls
  rm -rf "${CLUSTER_STATE}"
}

step "stop processes" stop_processes
step "iptables, bridge, conntrack" clean_network
step "mounts" unmount_state
step "loop devices" detach_loops
step "cgroups" remove_cgroups
step "log + hostPath links" remove_links
step "sysctls + state dir" remove_state
log "cluster down in $(awk "BEGIN{printf \"%.1f\", ${EPOCHREALTIME} - ${T0}}")s"
export CDI_CLUSTER_CREATED_DIRS="${CREATED_DIRS[*]}"
step "leftover check" "${CLUSTER_DIR}/check-clean.sh"
