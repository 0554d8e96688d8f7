# shellcheck shell=bash
# Renders the configuration files of containerd, CNI, kubelet and kube-proxy
# into the state directory. Sourced by up.sh after lib.sh.

# render_containerd writes containerd's config and the registry mirrors: every
# registry name (docker.io, gcr.io, ghcr.io, registry.k8s.io, quay.io, the
# loopback registry and, through _default, any other) resolves to the loopback
# registry, so containerd never looks a registry host up.
render_containerd() {
  local d="${CLUSTER_STATE}/containerd"
  mkdir -p "${d}/certs.d"
  cat >"${d}/config.toml" <<EOF
version = 2
root = "${d}/root"
state = "${d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "${CONTAINERD_SOCK}"

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "${REGISTRY}/cluster/pause:local"
    restrict_oom_score_adj = true
    # Block volumes appear owned by the pod's runAsUser/runAsGroup, so that
    # restricted (non-root) data pods can write them.
    device_ownership_from_security_context = true
    netns_mounts_under_state_dir = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "${d}/runc"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "${CLUSTER_STATE}/cni/net.d"
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "${d}/certs.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "${d}/opt"
EOF
  local host
  for host in _default docker.io gcr.io ghcr.io registry.k8s.io quay.io "${REGISTRY}"; do
    mkdir -p "${d}/certs.d/${host}"
    cat >"${d}/certs.d/${host}/hosts.toml" <<EOF
# Every pull goes to the cluster's loopback registry, never to ${host}.
server = "http://${REGISTRY}"

[host."http://${REGISTRY}"]
  capabilities = ["pull", "resolve"]
EOF
  done
}

# render_cni writes the bridge network: no masquerading, no default route in
# pods (only the service CIDR, through the bridge), IPAM state in the state dir.
render_cni() {
  mkdir -p "${CLUSTER_STATE}/cni/net.d" "${CLUSTER_STATE}/cni/ipam"
  cat >"${CLUSTER_STATE}/cni/net.d/10-${CNI_NETWORK}.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "${CNI_NETWORK}",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "${BRIDGE}",
      "isGateway": true,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "${CLUSTER_STATE}/cni/ipam",
        "ranges": [[{"subnet": "${POD_SUBNET}", "gateway": "${GATEWAY}"}]],
        "routes": [{"dst": "${SERVICE_CIDR}"}]
      }
    }
  ]
}
EOF
}

# render_kubelet writes the KubeletConfiguration.
render_kubelet() {
  mkdir -p "${CLUSTER_STATE}/kubelet" "${CLUSTER_STATE}/kubelet-plugins" "${LOGS}/pods"
  cat >"${CLUSTER_STATE}/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${GATEWAY}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${PKI}/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: ${PKI}/kubelet.crt
tlsPrivateKeyFile: ${PKI}/kubelet.key
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
resolvConf: ""
clusterDomain: ${CLUSTER_DOMAIN}
clusterDNS: [${DNS_SVC_IP}]
containerRuntimeEndpoint: unix://${CONTAINERD_SOCK}
imageServiceEndpoint: unix://${CONTAINERD_SOCK}
volumePluginDir: ${CLUSTER_STATE}/kubelet-plugins
podLogsDir: ${LOGS}/pods
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
rotateCertificates: false
serverTLSBootstrap: false
maxPods: 110
EOF
}

# render_kube_proxy writes the KubeProxyConfiguration: iptables mode, NodePorts
# only on the bridge gateway, conntrack limits left alone.
render_kube_proxy() {
  cat >"${CLUSTER_STATE}/kube-proxy-config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: ${PKI}/kube-proxy.kubeconfig
mode: iptables
hostnameOverride: ${NODE_NAME}
bindAddress: ${GATEWAY}
clusterCIDR: ${POD_SUBNET}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["${GATEWAY}/32"]
iptables:
  localhostNodePorts: false
  masqueradeAll: false
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
}
