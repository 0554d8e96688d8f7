# shellcheck shell=bash
# shellcheck disable=SC2034 # settings are used by the scripts that source this file
# Shared settings and helpers of the local single-node cluster scripts
# (build.sh, up.sh, down.sh, status.sh). Source it: it only defines settings,
# functions and an EXIT trap that names a failed step.

CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${CLUSTER_DIR}/../.." && pwd)"

# Where everything of a running cluster lives: configs, PKI, data, logs, pids.
CLUSTER_STATE="${CDI_CLUSTER_STATE:-/var/lib/cdi-functions-cluster}"
# Built binaries, shared by every checkout on this machine (CI clones afresh).
CLUSTER_CACHE="${CDI_CLUSTER_CACHE:-/var/cache/cdi-functions/cluster-bin}"

KUBE_VERSION="v1.35.4"
COREDNS_VERSION="v1.15.0"

NODE_NAME="cdi-node"
BRIDGE="cdi0"
POD_SUBNET="10.244.0.0/24"
GATEWAY="10.244.0.1"
SERVICE_CIDR="10.96.0.0/12"
KUBERNETES_SVC_IP="10.96.0.1"
DNS_SVC_IP="10.96.0.10"
CLUSTER_DOMAIN="cluster.local"
APISERVER_PORT=6443
ETCD_CLIENT_PORT="${CDI_CLUSTER_ETCD_PORT:-23790}"
ETCD_PEER_PORT="${CDI_CLUSTER_ETCD_PEER_PORT:-23800}"
REGISTRY="127.0.0.1:${CDI_CLUSTER_REGISTRY_PORT:-5001}"
# Supplementary group every host-side component runs with: the guard chain
# matches it to reject any packet they send off the machine.
GUARD_GID=61442
CNI_NETWORK="cdi-functions"

KUBECONFIG_PATH="${CLUSTER_STATE}/kubeconfig"
PKI="${CLUSTER_STATE}/pki"
LOGS="${CLUSTER_STATE}/logs"
PIDS="${CLUSTER_STATE}/pids"
CONTAINERD_SOCK="${CLUSTER_STATE}/containerd/containerd.sock"
# Local PersistentVolumes: directories and the sparse files behind loop devices.
VOLUMES="${CLUSTER_STATE}/volumes"
PROVISIONER_NAME="local.cdi-functions.io/volume"

# Components in start order; down.sh stops them in reverse.
COMPONENTS=(registry etcd kube-apiserver kube-controller-manager kube-scheduler provisioner containerd kubelet kube-proxy)

APT_PACKAGES=(containerd runc containernetworking-plugins conntrack iptables iproute2)

# Host directories containerd (shim sockets), kubelet (log links, the
# hard-coded device-plugin socket dir) and the CNI library (result cache)
# create outside the state dir; removed by down.sh when the cluster created them.
HOST_DIRS=(/run/containerd /var/log/containers /var/lib/cni /var/lib/kubelet)

# Kernel settings kubelet or the CNI bridge change; up.sh saves them, down.sh restores.
SAVED_SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)

# log prints a timestamped progress line.
log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

die() {
  log "ERROR: $*" >&2
  exit 1
}

# step NAME CMD...: runs CMD, printing its duration. CMD runs as a plain
# command so that errexit applies inside it; a failure exits the script and
# the EXIT trap names the step.
CURRENT_STEP=""
step() {
  local name="$1" start
  shift
  CURRENT_STEP="${name}"
  start=${EPOCHREALTIME}
  "$@"
  CURRENT_STEP=""
  printf '[cluster %s] %-34s %6.1fs\n' "$(date +%H:%M:%S)" "${name}" "$(awk "BEGIN{print ${EPOCHREALTIME} - ${start}}")"
}

# report_failed_step is an EXIT trap: it names the step that failed.
report_failed_step() {
  local rc=$?
  if ((rc != 0)) && [[ -n "${CURRENT_STEP}" ]]; then
    log "FAILED: ${CURRENT_STEP} (exit ${rc})" >&2
  fi
}
trap report_failed_step EXIT

# hash_files FILE...: a short content hash of the files (names included).
hash_files() {
  local f
  for f in "$@"; do
    printf '%s\n' "${f#"${CLUSTER_DIR}"/}"
    cat "$f"
  done | sha256sum | cut -c1-16
}

# kube_bin_dir / addons_bin_dir: the cache directories for the current
# sources; build.sh fills them.
kube_bin_dir() {
  local k
  k=$(hash_files "${CLUSTER_DIR}/build.sh" "${CLUSTER_DIR}/kube/go.mod" "${CLUSTER_DIR}/kube/go.sum" \
    "${CLUSTER_DIR}/kube/cmd/etcd/main.go")
  echo "${CLUSTER_CACHE}/kube-${KUBE_VERSION}-$(go env GOVERSION)-${k}"
}

addons_bin_dir() {
  local k
  # shellcheck disable=SC2046
  k=$(hash_files "${CLUSTER_DIR}/build.sh" "${CLUSTER_DIR}/addons/go.mod" "${CLUSTER_DIR}/addons/go.sum" \
    $(find "${CLUSTER_DIR}/addons" -name '*.go' ! -name '*_test.go' | LC_ALL=C sort))
  echo "${CLUSTER_CACHE}/addons-$(go env GOVERSION)-${k}"
}

# pid_alive PID: true while PID exists and is not a zombie.
pid_alive() {
  local state
  [[ -r "/proc/$1/stat" ]] || return 1
  state=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n "${state}" && "${state}" != Z && "${state}" != X ]]
}

# component_pid NAME: prints the recorded pid of a running component.
component_pid() {
  local f="${PIDS}/$1.pid" pid
  [[ -r "$f" ]] || return 1
  pid=$(cat "$f")
  pid_alive "${pid}" || return 1
  # A pid from before a reboot may belong to another process now.
  grep -qE "^Groups:.*\b${GUARD_GID}\b" "/proc/${pid}/status" 2>/dev/null || return 1
  echo "${pid}"
}

# guarded_pids: every live host process carrying the guard group (the
# components, containerd's shims and anything they run on the host).
guarded_pids() {
  local d
  for d in /proc/[0-9]*; do
    if grep -qE "^Groups:.*\b${GUARD_GID}\b" "$d/status" 2>/dev/null && pid_alive "${d#/proc/}"; then
      echo "${d#/proc/}"
    fi
  done
}

# stop_pid PID NAME TIMEOUT: SIGTERM, wait for the process to be gone (or a
# zombie), then SIGKILL.
stop_pid() {
  local pid="$1" name="$2" timeout="${3:-15}" i
  pid_alive "${pid}" || return 0
  kill -TERM "${pid}" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    pid_alive "${pid}" || return 0
    sleep 0.1
  done
  log "${name} (pid ${pid}) ignored SIGTERM for ${timeout}s; killing"
  kill -KILL "${pid}" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pid_alive "${pid}" || return 0
    sleep 0.1
  done
  return 1
}

# cluster_loop_devices: loop devices whose backing file is in the state dir.
cluster_loop_devices() {
  losetup --list --noheadings --output NAME,BACK-FILE 2>/dev/null |
    awk -v s="${CLUSTER_STATE}/" 'index($2, s) == 1 {print $1}'
}

# kctl: kubectl as the cluster admin.
kctl() { "${KUBE_BIN}/kubectl" --kubeconfig "${KUBECONFIG_PATH}" --cache-dir "${CLUSTER_STATE}/kubectl-cache" "$@"; }

# ctr_k8s: containerd's ctr on the cluster's socket, CRI namespace.
ctr_k8s() { ctr --address "${CONTAINERD_SOCK}" --namespace k8s.io "$@"; }
