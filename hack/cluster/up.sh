#!/usr/bin/env bash
# Brings up the local single-node Kubernetes v1.35.4 cluster: installs the
# Debian packages it needs, builds (or reuses) its binaries, then starts the
# loopback registry, etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd, kubelet, kube-proxy and CoreDNS. All traffic stays
# on loopback and on the cluster's own bridge; see docs/development.md.
# Idempotent: re-running while the cluster is up does nothing; a stopped or
# half-started cluster is cleaned up (down.sh) and started afresh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "${CLUSTER_DIR}/configs.sh"

[[ ${EUID} -eq 0 ]] || die "must run as root"
T0=${EPOCHREALTIME}

# ---------------------------------------------------------------- prerequisites

missing_packages() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${missing[@]}"
}

# prepare runs the package install and the build side by side.
prepare() {
  local apt_log="${CLUSTER_CACHE}/apt-install.log" apt_pid rc=0
  mkdir -p "${CLUSTER_CACHE}"
  install_packages >"${apt_log}" 2>&1 &
  apt_pid=$!
  "${CLUSTER_DIR}/build.sh" || rc=$?
  if ! wait "${apt_pid}"; then
    cat "${apt_log}" >&2
    die "apt-get install ${APT_PACKAGES[*]} failed"
  fi
  return "${rc}"
}

# check_ports fails when another program listens on a port the cluster
# needs on loopback (a foreign registry on the registry port would otherwise
# receive the cluster's images) or another kubelet runs.
check_ports() {
  local port busy=()
  for port in "${REGISTRY##*:}" "${ETCD_CLIENT_PORT}" "${ETCD_PEER_PORT}" 10248 10249 10256 10257 10259; do
    if [[ -n "$(ss -Hltn "sport = :${port}")" ]]; then
      busy+=("${port}")
    fi
  done
  ((${#busy[@]} == 0)) || die "ports in use by another program: ${busy[*]} (see ss -ltnp)"
  # Two kubelets would share the kubepods cgroups and the device-plugin dir.
  ! pgrep -x kubelet >/dev/null || die "another kubelet runs on this machine (pid $(pgrep -x kubelet | head -1))"
}

# ---------------------------------------------------------------- host setup

save_sysctls() {
  local f="${CLUSTER_STATE}/sysctls.saved" k
  [[ -f "$f" ]] && return 0
  for k in "${SAVED_SYSCTLS[@]}"; do
    echo "${k}=$(sysctl -n "$k")"
  done >"$f.tmp"
  mv "$f.tmp" "$f"
}

setup_host() {
  save_sysctls
  record_created_dirs
  setup_network
}

# record_created_dirs notes the host directories that containerd and kubelet
# will create outside the state dir, so that down.sh removes only those.
record_created_dirs() {
  local f="${CLUSTER_STATE}/created-dirs" d
  [[ -f "$f" ]] && return 0
  for d in "${HOST_DIRS[@]}"; do
    [[ -e "$d" ]] || echo "$d"
  done >"$f.tmp"
  mv "$f.tmp" "$f"
}

setup_network() {
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] || modprobe br_netfilter
  sysctl -q -w net.bridge.bridge-nf-call-iptables=1 net.ipv4.ip_forward=1
  if ! ip link show "${BRIDGE}" >/dev/null 2>&1; then
    ip link add "${BRIDGE}" type bridge
  fi
  ip addr replace "${GATEWAY}/${POD_SUBNET#*/}" dev "${BRIDGE}"
  ip link set "${BRIDGE}" up
  # Service addresses never leave by the default route, even without endpoints.
  ip route replace "${SERVICE_CIDR}" dev "${BRIDGE}" src "${GATEWAY}"
  setup_guard
}

# ensure_rule TOOL TABLE-ARGS: add a rule unless present.
ensure_rule() {
  local tool="$1"
  shift
  "${tool}" -C "$@" 2>/dev/null || "${tool}" -A "$@"
}

# setup_guard installs the network guard: CDI-CLUSTER-GUARD (FORWARD) rejects
# pod traffic that would leave by another interface than the bridge (and
# traffic from elsewhere into it); CDI-CLUSTER-EGRESS (OUTPUT, matched on the
# components' supplementary group) rejects anything they send that is not to
# loopback, the pod subnet or the service CIDR. The REJECT counters must stay
# zero: test/e2e checks them.
setup_guard() {
  local t
  for t in iptables ip6tables; do
    "$t" -N CDI-CLUSTER-GUARD 2>/dev/null || true
    "$t" -N CDI-CLUSTER-EGRESS 2>/dev/null || true
    ensure_rule "$t" CDI-CLUSTER-GUARD -i "${BRIDGE}" -o "${BRIDGE}" -j RETURN
    ensure_rule "$t" CDI-CLUSTER-GUARD -i "${BRIDGE}" -j REJECT
    ensure_rule "$t" CDI-CLUSTER-GUARD -o "${BRIDGE}" -j REJECT
  done
  ensure_rule iptables CDI-CLUSTER-EGRESS -d 127.0.0.0/8 -j RETURN
  ensure_rule iptables CDI-CLUSTER-EGRESS -d "${POD_SUBNET}" -j RETURN
  ensure_rule iptables CDI-CLUSTER-EGRESS -d "${SERVICE_CIDR}" -j RETURN
  ensure_rule iptables CDI-CLUSTER-EGRESS -j REJECT
  ensure_rule ip6tables CDI-CLUSTER-EGRESS -d ::1/128 -j RETURN
  ensure_rule ip6tables CDI-CLUSTER-EGRESS -j REJECT
  guard_first
}

# guard_first keeps the guard jumps at the top of FORWARD and OUTPUT (kube-proxy
# prepends its own ACCEPTing chains).
guard_first() {
  local t
  for t in iptables ip6tables; do
    if [[ "$("$t" -S FORWARD | sed -n 2p)" != "-A FORWARD -j CDI-CLUSTER-GUARD" ]]; then
      while "$t" -D FORWARD -j CDI-CLUSTER-GUARD 2>/dev/null; do :; done
      "$t" -I FORWARD 1 -j CDI-CLUSTER-GUARD
    fi
    local rule=(-m owner --gid-owner "${GUARD_GID}" --suppl-groups -j CDI-CLUSTER-EGRESS)
    if [[ "$("$t" -S OUTPUT | sed -n 2p)" != *"CDI-CLUSTER-EGRESS"* ]]; then
      while "$t" -D OUTPUT "${rule[@]}" 2>/dev/null; do :; done
      "$t" -I OUTPUT 1 "${rule[@]}"
    fi
  done
}

setup_pki() {
  if [[ ! -f "${PKI}/admin.kubeconfig" || ! -f "${PKI}/front-proxy-client.crt" ]]; then
    rm -rf "${PKI}"
    "${ADDONS_BIN}/clusterkit" pki -dir "${PKI}" -node-name "${NODE_NAME}" -node-ip "${GATEWAY}" \
      -service-ip "${KUBERNETES_SVC_IP}" -apiserver-port "${APISERVER_PORT}"
  fi
  install -m 0600 "${PKI}/admin.kubeconfig" "${KUBECONFIG_PATH}"
}

render_configs() {
  render_containerd
  render_cni
  render_kubelet
  render_kube_proxy
}

# ---------------------------------------------------------------- processes

# start NAME CMD...: starts CMD detached, in its own session, with the guard
# group, logging to logs/NAME.log, unless NAME is already running.
start() {
  local name="$1"
  shift
  if component_pid "${name}" >/dev/null; then
    log "${name} already running (pid $(component_pid "${name}"))"
    return 0
  fi
  setsid setpriv --groups="${GUARD_GID}" -- "$@" >>"${LOGS}/${name}.log" 2>&1 </dev/null &
  local pid=$! i
  echo "${pid}" >"${PIDS}/${name}.pid"
  # Until setpriv has run, the process lacks the guard group that
  # component_pid checks; wait for it (or for the process to fail).
  for ((i = 0; i < 100; i++)); do
    grep -qE "^Groups:.*\b${GUARD_GID}\b" "/proc/${pid}/status" 2>/dev/null && return 0
    pid_alive "${pid}" || return 0
    sleep 0.02
  done
}

# wait_for NAME SECONDS CMD...: polls CMD until it succeeds; fails early if
# the component NAME died.
wait_for() {
  local name="$1" timeout="$2" i
  shift 2
  for ((i = 0; i < timeout * 5; i++)); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if [[ "${name}" != - ]] && ! component_pid "${name}" >/dev/null; then
      tail -n 20 "${LOGS}/${name}.log" >&2 || true
      die "${name} exited; see ${LOGS}/${name}.log"
    fi
    sleep 0.2
  done
  [[ "${name}" != - ]] && { tail -n 20 "${LOGS}/${name}.log" >&2 || true; }
  die "timed out after ${timeout}s waiting for ${name}: $*"
}

start_registry() {
  start registry "${ADDONS_BIN}/clusterkit" registry -addr "${REGISTRY}" -dir "${CLUSTER_STATE}/registry"
  wait_for registry 20 curl -sf "http://${REGISTRY}/v2/"
}

# push_images builds the pause, CoreDNS and nonroot base images and pushes
# them to the loopback registry (skipped when already there).
push_images() {
  local f="${CLUSTER_STATE}/images.env"
  if [[ -f "$f" ]] && curl -sf -o /dev/null "http://${REGISTRY}/v2/cluster/base/manifests/nonroot" &&
    curl -sf -o /dev/null "http://${REGISTRY}/v2/cluster/coredns/manifests/${COREDNS_VERSION}" &&
    curl -sf -o /dev/null "http://${REGISTRY}/v2/cluster/pause/manifests/local"; then
    return 0
  fi
  local ck="${ADDONS_BIN}/clusterkit" pause coredns base
  pause=$("${ck}" image -ref "${REGISTRY}/cluster/pause:local" -add "${ADDONS_BIN}/pause:/pause" \
    -entrypoint /pause -user 65535)
  coredns=$("${ck}" image -ref "${REGISTRY}/cluster/coredns:${COREDNS_VERSION}" \
    -add "${ADDONS_BIN}/coredns:/coredns" -entrypoint /coredns)
  base=$("${ck}" image -ref "${REGISTRY}/cluster/base:nonroot" -nonroot-base -user 65532)
  cat >"$f.tmp" <<EOF
PAUSE_IMAGE=${pause}
COREDNS_IMAGE=${coredns}
BASE_IMAGE=${base}
EOF
  mv "$f.tmp" "$f"
}

start_etcd() {
  start etcd "${KUBE_BIN}/etcd" --name "${NODE_NAME}" --data-dir "${CLUSTER_STATE}/etcd" \
    --listen-client-urls "http://127.0.0.1:${ETCD_CLIENT_PORT}" \
    --advertise-client-urls "http://127.0.0.1:${ETCD_CLIENT_PORT}" \
    --listen-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster "${NODE_NAME}=http://127.0.0.1:${ETCD_PEER_PORT}" \
    --listen-metrics-urls "" --unsafe-no-fsync=true --log-level warn
  wait_for etcd 30 curl -sf "http://127.0.0.1:${ETCD_CLIENT_PORT}/health"
}

# start_apiserver runs kube-apiserver with the aggregation layer: it calls
# aggregated API servers (cdi-functions' tokenapi) with the front-proxy
# client certificate and the caller's identity in X-Remote-* headers, and
# reaches them at their endpoints' pod addresses (--enable-aggregator-routing:
# the host-side API server dials the pod over the bridge, not the Service IP).
start_apiserver() {
  start kube-apiserver "${KUBE_BIN}/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:${ETCD_CLIENT_PORT}" \
    --bind-address "${GATEWAY}" --advertise-address "${GATEWAY}" --secure-port "${APISERVER_PORT}" \
    --tls-cert-file "${PKI}/apiserver.crt" --tls-private-key-file "${PKI}/apiserver.key" \
    --client-ca-file "${PKI}/ca.crt" \
    --kubelet-client-certificate "${PKI}/apiserver-kubelet-client.crt" \
    --kubelet-client-key "${PKI}/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "${PKI}/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --service-cluster-ip-range "${SERVICE_CIDR}" \
    --service-account-issuer "https://kubernetes.default.svc.${CLUSTER_DOMAIN}" \
    --service-account-key-file "${PKI}/sa.pub" \
    --service-account-signing-key-file "${PKI}/sa.key" \
    --authorization-mode Node,RBAC \
    --requestheader-client-ca-file "${PKI}/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User \
    --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "${PKI}/front-proxy-client.crt" \
    --proxy-client-key-file "${PKI}/front-proxy-client.key" \
    --enable-aggregator-routing=true \
    --enable-admission-plugins NodeRestriction \
    --allow-privileged=true \
    --profiling=false --v=1
  wait_for kube-apiserver 60 kctl get --raw /readyz
}

start_controllers() {
  start kube-controller-manager "${KUBE_BIN}/kube-controller-manager" \
    --kubeconfig "${PKI}/controller-manager.kubeconfig" \
    --authentication-kubeconfig "${PKI}/controller-manager.kubeconfig" \
    --authorization-kubeconfig "${PKI}/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file "${PKI}/sa.key" --root-ca-file "${PKI}/ca.crt" \
    --cluster-signing-cert-file "${PKI}/ca.crt" --cluster-signing-key-file "${PKI}/ca.key" \
    --profiling=false --v=1
  start kube-scheduler "${KUBE_BIN}/kube-scheduler" \
    --kubeconfig "${PKI}/scheduler.kubeconfig" \
    --authentication-kubeconfig "${PKI}/scheduler.kubeconfig" \
    --authorization-kubeconfig "${PKI}/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=1
}

# start_provisioner runs the local volume provisioner (clusterkit provision):
# local PersistentVolumes, directories for Filesystem claims and loop devices
# for Block claims, under ${VOLUMES}.
start_provisioner() {
  mkdir -p "${VOLUMES}"
  start provisioner "${ADDONS_BIN}/clusterkit" provision -kubeconfig "${PKI}/admin.kubeconfig" \
    -name "${PROVISIONER_NAME}" -node "${NODE_NAME}" -dir "${VOLUMES}"
}

start_containerd() {
  start containerd containerd --config "${CLUSTER_STATE}/containerd/config.toml"
  wait_for containerd 30 ctr --address "${CONTAINERD_SOCK}" version
}

start_kubelet() {
  start kubelet "${KUBE_BIN}/kubelet" --config "${CLUSTER_STATE}/kubelet-config.yaml" \
    --kubeconfig "${PKI}/kubelet-client.kubeconfig" --root-dir "${CLUSTER_STATE}/kubelet" \
    --node-ip "${GATEWAY}" --hostname-override "${NODE_NAME}" --v=1
  start kube-proxy "${KUBE_BIN}/kube-proxy" --config "${CLUSTER_STATE}/kube-proxy-config.yaml" --v=1
}

apply_addons() {
  # shellcheck disable=SC1091
  source "${CLUSTER_STATE}/images.env"
  sed -e "s|@PROVISIONER@|${PROVISIONER_NAME}|" "${CLUSTER_DIR}/manifests/storageclass.yaml" |
    kctl apply -f - >/dev/null
  sed -e "s|@COREDNS_IMAGE@|${COREDNS_IMAGE}|" -e "s|@DNS_SVC_IP@|${DNS_SVC_IP}|" \
    "${CLUSTER_DIR}/manifests/coredns.yaml" | kctl apply -f - >/dev/null
}

node_ready() {
  [[ "$(kctl get node "${NODE_NAME}" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}

coredns_ready() {
  [[ "$(kctl -n kube-system get deploy coredns -o jsonpath='{.status.availableReplicas}')" == 1 ]]
}

# all_running: every component is up and the API server answers.
all_running() {
  local c
  for c in "${COMPONENTS[@]}"; do
    component_pid "$c" >/dev/null || return 1
  done
  kctl get --raw /readyz >/dev/null 2>&1 && node_ready && coredns_ready
}

# ---------------------------------------------------------------- main

KUBE_BIN="$(kube_bin_dir)"
ADDONS_BIN="$(addons_bin_dir)"

if [[ -d "${CLUSTER_STATE}" ]] && [[ -f "${KUBE_BIN}/.complete" ]] && all_running; then
  log "cluster already up (state ${CLUSTER_STATE})"
  echo "export KUBECONFIG=${KUBECONFIG_PATH}"
  exit 0
fi

if [[ -d "${CLUSTER_STATE}" ]]; then
  # Left by a crash, a reboot or a killed session: start from scratch.
  log "found a stopped or partial cluster in ${CLUSTER_STATE}; cleaning it up first"
  "${CLUSTER_DIR}/down.sh"
fi
step "packages + binaries" prepare
step "preflight (free ports)" check_ports
mkdir -p "${CLUSTER_STATE}" "${LOGS}" "${PIDS}"
TR=${EPOCHREALTIME}
step "host network + guard" setup_host
step "pki + kubeconfigs" setup_pki
step "configs" render_configs
step "loopback registry" start_registry
step "images (pause, coredns, base)" push_images
step "etcd" start_etcd
step "kube-apiserver" start_apiserver
step "controller-manager + scheduler" start_controllers
step "volume provisioner" start_provisioner
step "containerd" start_containerd
step "kubelet + kube-proxy" start_kubelet
step "addons (StorageClass, CoreDNS)" apply_addons
step "node Ready" wait_for kubelet 90 node_ready
step "CoreDNS available" wait_for - 120 coredns_ready
step "default ServiceAccount" wait_for - 60 kctl -n default get serviceaccount default
guard_first

log "start-to-ready $(awk "BEGIN{printf \"%.1f\", ${EPOCHREALTIME} - ${TR}}")s, total $(awk "BEGIN{printf \"%.1f\", ${EPOCHREALTIME} - ${T0}}")s"
log "logs: ${LOGS}/<component>.log, kubeconfig: ${KUBECONFIG_PATH}"
echo "export KUBECONFIG=${KUBECONFIG_PATH}"
