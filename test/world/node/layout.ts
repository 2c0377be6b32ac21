// Names, addresses and paths of the real-kubelet world. One such world runs per machine: kubelet and libcni
// write to hard-wired host paths (/var/log/containers, /var/lib/cni), so the network namespace, the cgroup root
// and the CNI network have fixed names, and the state file records which directory owns them.
import { join } from 'node:path';
import { cacheRoot } from '../../backends/bins.ts';

export const NETNS = 'stash-ts-node';
export const NODE_NAME = 'stash-ts-node';
/** The node's address: the CNI bridge inside the namespace. Nothing routes from here off the machine. */
export const NODE_IP = '10.88.0.1';
export const POD_CIDR = '10.88.0.0/16';
export const SERVICE_CIDR = '10.96.0.0/16';
/** First address of SERVICE_CIDR: the `kubernetes` Service, which pods use for in-cluster config. */
export const API_SERVICE_IP = '10.96.0.1';
export const BRIDGE = 'cni0';
export const CNI_NETWORK = 'stash-ts-node';
/** kubelet's cgroupRoot: one directory per cgroup v1 hierarchy, removed by down. */
export const CGROUP_ROOT = 'stash-ts-node';

/** Ports inside the namespace (its own loopback: no clash with anything in the root namespace). */
export const PORTS = {
  etcd: 2379,
  etcdPeer: 2380,
  api: 6443,
  kcm: 10257,
  scheduler: 10259,
  kubelet: 10250,
  kubeletHealthz: 10248,
  proxyHealthz: 10256,
  proxyMetrics: 10249,
} as const;

export interface NodeLayout {
  dir: string;
  node: string;
  logs: string;
  containerdRoot: string;
  /** Which image archive each tag was last imported from (marks beside the shared root). */
  containerdImported: string;
  containerdState: string;
  containerdSock: string;
  runcRoot: string;
  kubeletRoot: string;
  podLogs: string;
  cniConf: string;
  cniIpam: string;
  apiSock: string;
  etcdData: string;
  stateFile: string;
}

export function layout(dir: string): NodeLayout {
  const node = join(dir, 'node');
  return {
    dir,
    node,
    logs: join(dir, 'logs'),
    // containerd's root keeps the imported images between worlds — machine-wide, like the world itself (one at a
    // time), so `make dev-up` after the kubelet tier imports nothing again; everything else is per world.
    containerdRoot: join(cacheRoot(), 'containerd', 'root'),
    containerdImported: join(cacheRoot(), 'containerd', 'imported'),
    containerdState: join(node, 'containerd', 'state'),
    containerdSock: join(node, 'containerd', 'containerd.sock'),
    runcRoot: join(node, 'containerd', 'runc'),
    kubeletRoot: join(node, 'kubelet'),
    podLogs: join(node, 'pod-logs'),
    cniConf: join(node, 'cni', 'net.d'),
    cniIpam: join(node, 'cni', 'ipam'),
    apiSock: join(node, 'api.sock'),
    etcdData: join(node, 'etcd'),
    stateFile: join(dir, 'node-world.json'),
  };
}
