// Names, addresses and paths of the real-kubelet world. kubelet and libcni write to hard-wired host paths
// (/var/log/containers, /var/lib/cni), so the network namespace, the cgroup root and the CNI network carry a
// machine-wide name, and an owner file records which directory's world holds it. STASH_TS_NODE_INSTANCE gives
// that name a suffix, so several worlds can run on one machine (developers working side by side); the tier and
// `make dev-up` use the plain name.
import { join } from 'node:path';
import { cacheRoot } from '../../backends/bins.ts';

const instance = process.env.STASH_TS_NODE_INSTANCE?.trim() ?? '';
/** The suffix of this world's machine-wide names ('' for the plain world of the tier and `make dev-up`). */
export const WORLD_INSTANCE = instance;
if (instance && !/^[a-z0-9]{1,8}$/.test(instance))
  throw new Error(`STASH_TS_NODE_INSTANCE must be 1-8 lowercase letters or digits, not ${JSON.stringify(instance)}`);
/** The machine-wide name of this world: namespace, cgroup root, CNI network and owner file. */
export const WORLD_NAME = instance ? `stash-ts-node-${instance}` : 'stash-ts-node';
export const NETNS = WORLD_NAME;
export const NODE_NAME = 'stash-ts-node';
/** The node's address: the CNI bridge inside the namespace. Nothing routes from here off the machine. */
export const NODE_IP = '10.88.0.1';
export const POD_CIDR = '10.88.0.0/16';
export const SERVICE_CIDR = '10.96.0.0/16';
/** First address of SERVICE_CIDR: the `kubernetes` Service, which pods use for in-cluster config. */
export const API_SERVICE_IP = '10.96.0.1';
export const BRIDGE = 'cni0';
export const CNI_NETWORK = WORLD_NAME;
/** kubelet's cgroupRoot: one directory per cgroup v1 hierarchy, removed by down. */
export const CGROUP_ROOT = WORLD_NAME;
/** Machine-wide owner record of the world of this name. */
export const OWNER_FILE = `/run/${WORLD_NAME}.owner`;

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

const containerdDir = instance ? `containerd-${instance}` : 'containerd';

export function layout(dir: string): NodeLayout {
  const node = join(dir, 'node');
  return {
    dir,
    node,
    logs: join(dir, 'logs'),
    // containerd's root keeps the imported images between worlds of one name (one at a time), so `make dev-up`
    // after the kubelet tier imports nothing again; everything else is per world.
    containerdRoot: join(cacheRoot(), containerdDir, 'root'),
    containerdImported: join(cacheRoot(), containerdDir, 'imported'),
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
