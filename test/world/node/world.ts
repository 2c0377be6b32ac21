// The real-kubelet world: in a network namespace of its own (no uplink) etcd, kube-apiserver (ServiceAccount
// admission, the endpoint reconciler and kubelet client certificates on), kube-controller-manager,
// kube-scheduler, kube-proxy, containerd + runc and kubelet; pods on a CNI bridge inside the namespace. Clients
// in the root namespace reach the apiserver on 127.0.0.1 only, through two socat processes joined by a unix
// socket (one listens on root loopback, one dials the namespace's loopback).
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { binary } from '../bins.ts';
import { freePort, logTail, probe, writeKubeconfigFile } from '../controlplane.ts';
import { until } from '../../support/until.ts';
import { createPki, issueCert, type Pki } from '../pki.ts';
import { alive, killGroup, launchDetached } from '../procs.ts';
import { Kube } from '../../../shared/kube/client.ts';
import { cacheRoot, pinnedVersions } from '../../backends/bins.ts';
import { buildImage, type ImageName } from '../images/build.ts';
import { cleanupNodeHost } from './cleanup.ts';
import { writeNodeConfigs } from './config.ts';
import {
  API_SERVICE_IP,
  CGROUP_ROOT,
  NETNS,
  NODE_IP,
  NODE_NAME,
  OWNER_FILE,
  PORTS,
  SERVICE_CIDR,
  layout,
  type NodeLayout,
} from './layout.ts';
import { createNetns, inNetns, netnsExists } from './netns.ts';

const execFileAsync = promisify(execFile);

/** Order matters: started in this order, stopped in the reverse one. */
const PROCESSES = [
  'containerd',
  'etcd',
  'socat-netns',
  'socat-root',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kube-proxy',
  'kubelet',
] as const;
type ProcName = (typeof PROCESSES)[number];

export interface NodeWorldState {
  kind: 'kubelet';
  dir: string;
  /** Root-namespace loopback port of the apiserver bridge. */
  apiPort: number;
  pids: Partial<Record<ProcName, number>>;
  /** Root-namespace kubeconfig (https://127.0.0.1:apiPort). */
  kubeconfig: string;
  kubectl: string;
  startedAt: string;
  timings: Record<string, number>;
}

export interface NodeWorldOptions {
  log?: (m: string) => void;
  /** Images to build (when their inputs changed) and import into containerd. */
  images?: ImageName[];
}

/** Binaries of the node side (hack/build-bins.sh k8s-node). */
export function nodeBinary(name: 'kubelet' | 'kube-proxy' | 'kube-scheduler'): string {
  const p = join(cacheRoot(), 'bins', `k8s-node-${pinnedVersions().K8S_VERSION}`, name);
  if (!existsSync(p)) throw new Error(`${name} is not built yet (${p}); run: hack/build-bins.sh k8s-node`);
  return p;
}

/** Why this machine cannot run the real-kubelet world, or undefined when it can. */
export function nodeWorldUnsupported(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (network namespaces, cgroups and mounts need root)';
  for (const b of ['/usr/bin/containerd', '/usr/sbin/runc', '/usr/lib/cni/bridge', '/usr/bin/socat']) {
    if (!existsSync(b)) return `${b} missing (hack/install-system-packages.sh installs it)`;
  }
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return 'no network namespaces (ip netns)';
  }
  try {
    nodeBinary('kubelet');
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

export function readNodeState(dir: string): NodeWorldState | null {
  const f = layout(resolve(dir)).stateFile;
  if (!existsSync(f)) return null;
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as NodeWorldState;
  } catch {
    return null;
  }
}

function nodePki(dir: string): Pki & {
  apiserver: { cert: string; key: string };
  kubeletClient: { cert: string; key: string };
  kubeletServing: { cert: string; key: string };
  apiserverKubeletClient: { cert: string; key: string };
} {
  const pki = createPki(join(dir, 'pki'));
  const srv = 'extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n';
  const cli = 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n';
  const names = [
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    'kubernetes.default.svc.cluster.local',
    'localhost',
  ];
  return {
    ...pki,
    apiserver: issueCert(
      pki,
      'node-apiserver',
      '/CN=kube-apiserver',
      `subjectAltName=IP:127.0.0.1,IP:${NODE_IP},IP:${API_SERVICE_IP},${names.map((n) => `DNS:${n}`).join(',')}\n${srv}`,
    ),
    kubeletClient: issueCert(pki, 'kubelet-client', `/O=system:nodes/CN=system:node:${NODE_NAME}`, cli),
    kubeletServing: issueCert(
      pki,
      'kubelet-serving',
      `/O=system:nodes/CN=system:node:${NODE_NAME}`,
      `subjectAltName=IP:${NODE_IP},DNS:${NODE_NAME}\n${srv}`,
    ),
    apiserverKubeletClient: issueCert(
      pki,
      'apiserver-kubelet-client',
      '/O=system:masters/CN=kube-apiserver-kubelet-client',
      cli,
    ),
  };
}

export async function isNodeWorldHealthy(s: NodeWorldState): Promise<boolean> {
  if (!PROCESSES.every((p) => alive(s.pids[p]))) return false;
  return (await probe(`https://127.0.0.1:${s.apiPort}/readyz`, createPki(join(s.dir, 'pki')))) === 200;
}

/** Stops every process of the world in `dir` and removes what it made on the host. */
export async function stopNodeWorld(dirIn: string): Promise<void> {
  const dir = resolve(dirIn);
  const l = layout(dir);
  const s = readNodeState(dir);
  const owner = existsSync(OWNER_FILE) ? readFileSync(OWNER_FILE, 'utf8').trim() : '';
  // The namespace, cgroup root and host paths are machine-wide: never touch another directory's world.
  if (!s && owner !== dir) return;
  if (s) {
    // kubelet first (nothing restarts containers after it), then the rest together: their shutdowns are independent
    // and the cleanup below kills what is left of the containers anyway.
    await killGroup(s.pids.kubelet, 5_000);
    await Promise.all(PROCESSES.filter((p) => p !== 'kubelet').map((p) => killGroup(s.pids[p], 5_000)));
  }
  await cleanupNodeHost(l);
  rmSync(l.stateFile, { force: true });
  if (existsSync(OWNER_FILE) && readFileSync(OWNER_FILE, 'utf8').trim() === dir) rmSync(OWNER_FILE, { force: true });
}

async function importImages(l: NodeLayout, names: ImageName[], log: (m: string) => void): Promise<void> {
  const ctr = ['--address', l.containerdSock, '-n', 'k8s.io'];
  const marks = l.containerdImported;
  mkdirSync(marks, { recursive: true });
  const archives = [];
  for (const n of names) archives.push(await buildImage(n, log));
  // Asynchronous and side by side: the control plane comes up meanwhile (the agent image alone takes 30-60 s).
  await Promise.all(
    archives.map(async (a) => {
      const mark = join(marks, a.ref.replace(/[/:]/g, '_'));
      if (existsSync(mark) && readFileSync(mark, 'utf8') === a.id) return;
      const t0 = Date.now();
      await execFileAsync('ctr', [...ctr, 'images', 'import', a.file]);
      writeFileSync(mark, a.id);
      log(`imported ${a.ref} into containerd in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    }),
  );
}

export async function startNodeWorld(dirIn: string, opts: NodeWorldOptions = {}): Promise<NodeWorldState> {
  const dir = resolve(dirIn);
  const log = opts.log ?? (() => undefined);
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const mark = (what: string) => {
    timings[what] = Date.now() - t0;
  };
  mkdirSync(dir, { recursive: true });
  const existing = readNodeState(dir);
  if (existing && (await isNodeWorldHealthy(existing))) {
    log(`real-kubelet world already running at https://127.0.0.1:${existing.apiPort}`);
    await importImages(layout(dir), opts.images ?? [], log);
    return existing;
  }
  const owner = existsSync(OWNER_FILE) ? readFileSync(OWNER_FILE, 'utf8').trim() : '';
  if (owner && owner !== dir) {
    const other = readNodeState(owner);
    if (other && (await isNodeWorldHealthy(other)))
      throw new Error(
        `a real-kubelet world already runs from ${owner} (one per machine: kubelet and CNI share host paths); stop it first: node test/world/cli.ts down ${owner}`,
      );
    log(`cleaning up a dead real-kubelet world of ${owner}`);
    await stopNodeWorld(owner);
  }
  if (existing || netnsExists()) {
    log('cleaning up leftovers of an earlier run');
    await stopNodeWorld(dir);
  }
  writeFileSync(OWNER_FILE, dir);
  const l = layout(dir);
  const pki = nodePki(dir);
  const apiPort = await freePort();
  const state: NodeWorldState = {
    kind: 'kubelet',
    dir,
    apiPort,
    pids: {},
    kubeconfig: join(dir, 'kubeconfig'),
    kubectl: join(dir, 'bin', 'kubectl'),
    startedAt: new Date().toISOString(),
    timings,
  };
  const save = () => writeFileSync(l.stateFile, JSON.stringify(state, null, 2));
  save();
  const start = (name: ProcName, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, netns = true) => {
    const [c, a] = netns ? inNetns(cmd, args) : [cmd, args];
    state.pids[name] = launchDetached(l.logs, name, c, a, { env });
    save();
  };

  createNetns();
  for (const h of execFileSync('ls', ['/sys/fs/cgroup'], { encoding: 'utf8' })
    .split('\n')
    .filter((h) => h && h !== 'unified')) {
    try {
      mkdirSync(join('/sys/fs/cgroup', h, CGROUP_ROOT), { recursive: true });
    } catch {
      /* not a hierarchy */
    }
  }
  mkdirSync(join(dir, 'bin'), { recursive: true });
  rmSync(state.kubectl, { force: true });
  symlinkSync(binary('kubectl'), state.kubectl);
  const inNsKubeconfig = join(l.node, 'admin.kubeconfig');
  const kubeletKubeconfig = join(l.node, 'kubelet.kubeconfig');
  mkdirSync(l.node, { recursive: true });
  writeKubeconfigFile(inNsKubeconfig, `https://127.0.0.1:${PORTS.api}`, pki.caCert, pki.adminCert, pki.adminKey);
  writeKubeconfigFile(
    kubeletKubeconfig,
    `https://127.0.0.1:${PORTS.api}`,
    pki.caCert,
    pki.kubeletClient.cert,
    pki.kubeletClient.key,
    `system:node:${NODE_NAME}`,
  );
  writeKubeconfigFile(state.kubeconfig, `https://127.0.0.1:${apiPort}`, pki.caCert, pki.adminCert, pki.adminKey);
  const files = writeNodeConfigs(
    l,
    { ca: pki.caCert, servingCert: pki.kubeletServing.cert, servingKey: pki.kubeletServing.key },
    inNsKubeconfig,
  );
  mark('netns+pki');

  start('containerd', '/usr/bin/containerd', ['--config', files.containerd]);
  rmSync(l.etcdData, { recursive: true, force: true });
  start(
    'etcd',
    binary('etcd'),
    [
      `--data-dir=${l.etcdData}`,
      `--listen-client-urls=http://127.0.0.1:${PORTS.etcd}`,
      `--advertise-client-urls=http://127.0.0.1:${PORTS.etcd}`,
      `--listen-peer-urls=http://127.0.0.1:${PORTS.etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${PORTS.etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${PORTS.etcdPeer}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ],
    { GOMEMLIMIT: '512MiB' },
  );
  // The loopback bridge for root-namespace clients: the namespace side dials the apiserver per connection.
  rmSync(l.apiSock, { force: true });
  start('socat-netns', '/usr/bin/socat', [`UNIX-LISTEN:${l.apiSock},fork,unlink-early`, `TCP:127.0.0.1:${PORTS.api}`]);
  start(
    'socat-root',
    '/usr/bin/socat',
    [`TCP-LISTEN:${apiPort},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${l.apiSock}`],
    {},
    false,
  );
  start(
    'kube-apiserver',
    binary('kube-apiserver'),
    [
      `--etcd-servers=http://127.0.0.1:${PORTS.etcd}`,
      '--bind-address=0.0.0.0',
      `--secure-port=${PORTS.api}`,
      `--advertise-address=${NODE_IP}`,
      `--tls-cert-file=${pki.apiserver.cert}`,
      `--tls-private-key-file=${pki.apiserver.key}`,
      `--client-ca-file=${pki.caCert}`,
      `--kubelet-client-certificate=${pki.apiserverKubeletClient.cert}`,
      `--kubelet-client-key=${pki.apiserverKubeletClient.key}`,
      `--kubelet-certificate-authority=${pki.caCert}`,
      '--kubelet-preferred-address-types=InternalIP',
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--allow-privileged=true',
      '--profiling=false',
      '--v=1',
    ],
    { GOMEMLIMIT: '1GiB' },
  );
  await until(
    'containerd',
    async () => {
      try {
        execFileSync('ctr', ['--address', l.containerdSock, 'version'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    },
    { timeoutMs: 30_000, everyMs: 150, detail: logTail(join(l.logs, 'containerd.log')) },
  );
  mark('containerd');
  // Images import while the control plane comes up.
  const imports = importImages(l, ['pause', ...(opts.images ?? [])], log);
  await until('kube-apiserver', async () => (await probe(`https://127.0.0.1:${apiPort}/readyz`, pki)) === 200, {
    timeoutMs: 120_000,
    everyMs: 150,
    detail: logTail(join(l.logs, 'kube-apiserver.log')),
  });
  mark('apiserver');
  log(`kube-apiserver ready (netns ${NETNS}, root loopback https://127.0.0.1:${apiPort})`);
  start(
    'kube-controller-manager',
    binary('kube-controller-manager'),
    [
      `--kubeconfig=${inNsKubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${PORTS.kcm}`,
      `--service-account-private-key-file=${pki.saKey}`,
      `--root-ca-file=${pki.caCert}`,
      '--use-service-account-credentials=true',
      '--controllers=*,-node-ipam-controller,-cloud-node-lifecycle-controller,-service-lb-controller,-node-route-controller',
      '--concurrent-deployment-syncs=10',
      '--concurrent-replicaset-syncs=10',
      '--concurrent-job-syncs=10',
      '--v=1',
    ],
    { GOMEMLIMIT: '512MiB' },
  );
  start(
    'kube-scheduler',
    nodeBinary('kube-scheduler'),
    [
      `--kubeconfig=${inNsKubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${PORTS.scheduler}`,
      '--v=1',
    ],
    { GOMEMLIMIT: '256MiB' },
  );
  start('kube-proxy', nodeBinary('kube-proxy'), [`--config=${files.proxy}`, '--v=1'], { GOMEMLIMIT: '256MiB' });
  await imports;
  mark('images');
  start(
    'kubelet',
    nodeBinary('kubelet'),
    [
      `--config=${files.kubelet}`,
      `--kubeconfig=${kubeletKubeconfig}`,
      `--root-dir=${l.kubeletRoot}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${NODE_IP}`,
      '--v=1',
    ],
    { GOMEMLIMIT: '512MiB' },
  );
  const kube = Kube.load(state.kubeconfig);
  try {
    await until(
      'node Ready without taints',
      async () => {
        const n = await kube.getOrNull<{
          spec?: { taints?: unknown[] };
          status?: { conditions?: Array<{ type: string; status: string }> };
        }>('v1', 'Node', undefined, NODE_NAME);
        return (
          !!n?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && !n.spec?.taints?.length
        );
      },
      { timeoutMs: 120_000, everyMs: 150, detail: logTail(join(l.logs, 'kubelet.log')) },
    );
    mark('node-ready');
    await until(
      'ServiceAccount default',
      async () => !!(await kube.getOrNull('v1', 'ServiceAccount', 'default', 'default')),
      60_000,
    );
  } finally {
    kube.close();
  }
  mark('up');
  save();
  log(
    `node ${NODE_NAME} Ready (containerd, kubelet ${pinnedVersions().K8S_VERSION}) in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
  );
  return state;
}
