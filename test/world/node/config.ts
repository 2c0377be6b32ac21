// Configuration files of the node side: containerd, the CNI bridge network, kubelet, kube-proxy. Each value
// that is not a default says why (the machine kind: cgroup v1, no CAP_SYS_RESOURCE, no registry, no uplink).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BRIDGE, CGROUP_ROOT, CNI_NETWORK, NODE_IP, NODE_NAME, POD_CIDR, PORTS, type NodeLayout } from './layout.ts';
import { PAUSE_IMAGE } from '../images/build.ts';

export function containerdConfig(l: NodeLayout): string {
  return `version = 2
root = "${l.containerdRoot}"
state = "${l.containerdState}"
oom_score = 0
[grpc]
  address = "${l.containerdSock}"
[ttrpc]
  address = "${l.containerdSock}.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "${join(l.node, 'containerd', 'opt')}"
[plugins."io.containerd.grpc.v1.cri"]
  # Imported by the world (no registry): its name as containerd normalises it.
  sandbox_image = "docker.io/${PAUSE_IMAGE}"
  enable_selinux = false
  disable_apparmor = true
  # No CAP_SYS_RESOURCE on this machine kind: runc cannot lower oom_score_adj (the sandbox asks for -998) and
  # fails every pod with "can't get final child's PID from pipe"; clamp to our own score instead.
  restrict_oom_score_adj = true
  # Pod network namespaces under our state directory rather than the host's /var/run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    discard_unpacked_layers = false
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
        Root = "${l.runcRoot}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${l.cniConf}"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ""
`;
}

/** Pods on bridge cni0 (pre-created with the node IP); their default route leads only into the namespace. */
export function cniConfig(l: NodeLayout): object {
  return {
    cniVersion: '0.4.0',
    name: CNI_NETWORK,
    plugins: [
      {
        type: 'bridge',
        bridge: BRIDGE,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: l.cniIpam,
          ranges: [[{ subnet: POD_CIDR, rangeStart: '10.88.1.1', rangeEnd: '10.88.255.254', gateway: NODE_IP }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
}

export function kubeletConfig(l: NodeLayout, pki: { ca: string; servingCert: string; servingKey: string }): object {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // This machine kind mounts cgroup v1 hierarchies; kubelet >= 1.35 refuses them unless told.
    failCgroupV1: false,
    // containerd 1.6 has no RuntimeConfig RPC to tell the driver: kubelet falls back to this (and logs it).
    cgroupDriver: 'cgroupfs',
    cgroupRoot: `/${CGROUP_ROOT}`,
    containerRuntimeEndpoint: `unix://${l.containerdSock}`,
    imageServiceEndpoint: `unix://${l.containerdSock}`,
    address: NODE_IP,
    port: PORTS.kubelet,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: PORTS.kubeletHealthz,
    tlsCertFile: pki.servingCert,
    tlsPrivateKeyFile: pki.servingKey,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: pki.ca } },
    authorization: { mode: 'Webhook' },
    clusterDomain: 'cluster.local',
    // No cluster DNS and no host resolv.conf worth copying into pods: they use *_SERVICE_HOST env.
    resolvConf: '',
    failSwapOn: false,
    podLogsDir: l.podLogs,
    volumePluginDir: join(l.kubeletRoot, 'volume-plugins'),
    // Images come from our own archives and are never pulled again: never collect them.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: {
      'memory.available': '100Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
      'nodefs.inodesFree': '1%',
    },
    serializeImagePulls: false,
    registerNode: true,
    syncFrequency: '10s',
    fileCheckFrequency: '0s',
    nodeStatusUpdateFrequency: '10s',
    shutdownGracePeriod: '0s',
  };
}

export function kubeProxyConfig(kubeconfig: string): object {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig },
    // iptables rules in the namespace's own tables: Service IPs (the webhook's, the apiserver's) work for pods
    // and for the apiserver itself.
    mode: 'iptables',
    clusterCIDR: POD_CIDR,
    hostnameOverride: NODE_NAME,
    healthzBindAddress: `127.0.0.1:${PORTS.proxyHealthz}`,
    metricsBindAddress: `127.0.0.1:${PORTS.proxyMetrics}`,
    oomScoreAdj: 0,
    // The namespace's conntrack sysctls belong to the host; leave them alone.
    conntrack: { maxPerCore: 0, min: 0 },
    nodePortAddresses: [`${NODE_IP}/32`],
  };
}

export function writeNodeConfigs(
  l: NodeLayout,
  pki: { ca: string; servingCert: string; servingKey: string },
  proxyKubeconfig: string,
): { containerd: string; kubelet: string; proxy: string } {
  mkdirSync(l.cniConf, { recursive: true });
  const files = {
    containerd: join(l.node, 'containerd.toml'),
    kubelet: join(l.node, 'kubelet-config.json'),
    proxy: join(l.node, 'kube-proxy-config.json'),
  };
  writeFileSync(files.containerd, containerdConfig(l));
  writeFileSync(join(l.cniConf, `10-${CNI_NETWORK}.conflist`), JSON.stringify(cniConfig(l), null, 2));
  writeFileSync(files.kubelet, JSON.stringify(kubeletConfig(l, pki), null, 2));
  writeFileSync(files.proxy, JSON.stringify(kubeProxyConfig(proxyKubeconfig), null, 2));
  return files;
}
