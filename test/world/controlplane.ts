// A real control plane on loopback, started the way envtest does it: etcd, kube-apiserver and
// (optionally) kube-controller-manager as child processes in their own process groups, with state in
// one directory so a later command (or a crashed run's successor) can find and stop them.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync, symlinkSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { binary, REPO_ROOT } from './bins.ts';
import { createPki, type Pki } from './pki.ts';
import { alive, killGroup, launchDetached } from './procs.ts';
import { freePort } from '../backends/proc.ts';

export { freePort };
import { Kube, type KubeObject } from '../../shared/kube/client.ts';
import { until } from '../support/until.ts';

export interface ControlPlaneState {
  dir: string;
  ports: { etcd: number; etcdPeer: number; api: number };
  pids: { etcd?: number; apiserver?: number; controllerManager?: number };
  kubeconfig: string;
  kubectl: string;
  withControllerManager: boolean;
  startedAt: string;
}

export interface StartOptions {
  withControllerManager?: boolean;
  /** Install the CRDs from manifests/crds (default true). */
  installCrds?: boolean;
  log?: (msg: string) => void;
}

function launch(dir: string, name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): number {
  return launchDetached(join(dir, 'logs'), name, cmd, args, { env });
}

export async function probe(url: string, pki?: Pki): Promise<number> {
  return await new Promise((resolve) => {
    const mod = url.startsWith('https') ? https : http;
    const opts = pki
      ? {
          ca: readFileSync(pki.caCert),
          cert: readFileSync(pki.adminCert),
          key: readFileSync(pki.adminKey),
          timeout: 2000,
        }
      : { timeout: 2000 };
    const req = mod.get(url, opts, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

/** The last lines of a component's log, for the error when it never became ready. */
export function logTail(file: string): () => string {
  return () =>
    existsSync(file)
      ? `last log lines of ${file}:\n${readFileSync(file, 'utf8').split('\n').slice(-25).join('\n')}`
      : '';
}

export function readState(dir: string): ControlPlaneState | null {
  const f = join(dir, 'world.json');
  if (!existsSync(f)) return null;
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as ControlPlaneState;
  } catch {
    return null;
  }
}

export async function isHealthy(state: ControlPlaneState): Promise<boolean> {
  if (!alive(state.pids.etcd) || !alive(state.pids.apiserver)) return false;
  if (state.withControllerManager && !alive(state.pids.controllerManager)) return false;
  return (await probe(`https://127.0.0.1:${state.ports.api}/readyz`, createPki(join(state.dir, 'pki')))) === 200;
}

/** Stops everything a state file names: controller-manager, then apiserver, then etcd. */
export async function stopControlPlane(dir: string, opts: { keepData?: boolean } = {}): Promise<void> {
  const state = readState(dir);
  if (state) {
    await killGroup(state.pids.controllerManager);
    await killGroup(state.pids.apiserver);
    await killGroup(state.pids.etcd);
  }
  if (!opts.keepData) {
    rmSync(join(dir, 'etcd'), { recursive: true, force: true });
    rmSync(join(dir, 'world.json'), { force: true });
  }
}

/** Restarts kube-apiserver alone (same port, same etcd): used to test that clients survive it. */
export async function restartApiServer(dir: string, graceMs = 5_000): Promise<void> {
  const state = readState(dir);
  if (!state) throw new Error(`no control plane in ${dir}`);
  await killGroup(state.pids.apiserver, graceMs);
  state.pids.apiserver = launchApiServer(state);
  writeFileSync(join(dir, 'world.json'), JSON.stringify(state, null, 2));
  await waitApiServer(state);
}

function launchApiServer(state: ControlPlaneState): number {
  const pki = createPki(join(state.dir, 'pki'));
  const { api, etcd } = state.ports;
  return launch(
    state.dir,
    'kube-apiserver',
    binary('kube-apiserver'),
    [
      `--etcd-servers=http://127.0.0.1:${etcd}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${api}`,
      '--advertise-address=127.0.0.1',
      '--endpoint-reconciler-type=none',
      `--tls-cert-file=${pki.serverCert}`,
      `--tls-private-key-file=${pki.serverKey}`,
      `--cert-dir=${join(state.dir, 'apiserver-certs')}`,
      `--client-ca-file=${pki.caCert}`,
      '--authorization-mode=Node,RBAC',
      '--service-cluster-ip-range=10.0.0.0/24',
      `--service-account-issuer=https://127.0.0.1:${api}`,
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--allow-privileged=true',
      '--disable-admission-plugins=ServiceAccount',
      `--enable-garbage-collector=${state.withControllerManager}`,
      '--profiling=false',
      '--v=1',
    ],
    { GOMEMLIMIT: '1GiB' },
  );
}

async function waitApiServer(state: ControlPlaneState): Promise<void> {
  const pki = createPki(join(state.dir, 'pki'));
  await until('kube-apiserver', async () => (await probe(`https://127.0.0.1:${state.ports.api}/readyz`, pki)) === 200, {
    timeoutMs: 120_000,
    everyMs: 150,
    detail: logTail(join(state.dir, 'logs', 'kube-apiserver.log')),
  });
}

/** Written as JSON (which kubectl and every kubeconfig reader accept as YAML) so agents parse it cheaply. */
function writeKubeconfig(state: ControlPlaneState, pki: Pki): void {
  writeKubeconfigFile(
    state.kubeconfig,
    `https://127.0.0.1:${state.ports.api}`,
    pki.caCert,
    pki.adminCert,
    pki.adminKey,
  );
}

/** A kubeconfig for `server` authenticating with a client certificate (files read now, embedded as data). */
export function writeKubeconfigFile(
  path: string,
  server: string,
  caFile: string,
  certFile: string,
  keyFile: string,
  user = 'admin',
): void {
  const b64 = (f: string) => readFileSync(f).toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'stash-ts-local', cluster: { server, 'certificate-authority-data': b64(caFile) } }],
    users: [{ name: user, user: { 'client-certificate-data': b64(certFile), 'client-key-data': b64(keyFile) } }],
    contexts: [{ name: 'stash-ts-local', context: { cluster: 'stash-ts-local', user } }],
    'current-context': 'stash-ts-local',
  };
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}

/** Applies every YAML document of a file with server-side apply. */
export async function applyFile(kube: Kube, file: string): Promise<KubeObject[]> {
  const applied: KubeObject[] = [];
  for (const doc of readFileSync(file, 'utf8').split(/^---\s*$/m)) {
    const obj = parseYaml(doc) as KubeObject | null;
    if (obj && obj.kind) applied.push(await kube.apply(obj));
  }
  return applied;
}

/** Applies every YAML file under a directory, in name order. */
export async function applyDir(kube: Kube, dir: string): Promise<KubeObject[]> {
  const applied: KubeObject[] = [];
  for (const f of readdirSync(dir)
    .filter((n) => /\.ya?ml$/.test(n))
    .sort())
    applied.push(...(await applyFile(kube, join(dir, f))));
  return applied;
}

interface CrdLike extends KubeObject {
  spec?: { group?: string; names?: { kind?: string }; versions?: Array<{ name: string }> };
}

export async function installCrds(kube: Kube, log: (m: string) => void = () => undefined): Promise<void> {
  const dir = join(REPO_ROOT, 'manifests', 'crds');
  if (!existsSync(dir)) return;
  const crds = await applyDir(kube, dir);
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    await until(
      `CRD ${name}`,
      async () => {
        const c = await kube.get<KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }>(
          'apiextensions.k8s.io/v1',
          'CustomResourceDefinition',
          undefined,
          name,
        );
        return !!c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
      },
      60_000,
    );
  }
  // kubectl explain reads the OpenAPI v3 document, which the apiserver publishes a moment after the CRDs
  // become Established: wait for it so `kubectl explain` works as soon as dev-up returns.
  const kindsByGroupVersion = new Map<string, string[]>();
  for (const crd of crds as CrdLike[]) {
    for (const v of crd.spec?.versions ?? []) {
      const gv = `${crd.spec?.group}/${v.name}`;
      kindsByGroupVersion.set(gv, [...(kindsByGroupVersion.get(gv) ?? []), crd.spec?.names?.kind ?? '']);
    }
  }
  for (const [gv, kinds] of kindsByGroupVersion) {
    await until(
      `OpenAPI v3 for ${gv}`,
      async () => {
        const doc = await kube
          .request({ path: `/openapi/v3/apis/${gv}` })
          .then((d) => JSON.stringify(d))
          .catch(() => '');
        return kinds.every((k) => doc.includes(`.${k}"`));
      },
      60_000,
    );
  }
  log(`installed ${crds.length} CRDs`);
}

/**
 * Starts (or reuses, when healthy) a control plane whose state lives in `dir`. Leftovers of a crashed run
 * are stopped and wiped first, so running it twice is harmless.
 */
export async function startControlPlane(dir: string, opts: StartOptions = {}): Promise<ControlPlaneState> {
  const log = opts.log ?? (() => undefined);
  const withKcm = opts.withControllerManager ?? true;
  mkdirSync(dir, { recursive: true });
  const existing = readState(dir);
  if (existing && existing.withControllerManager === withKcm && (await isHealthy(existing))) {
    log(`control plane already running at https://127.0.0.1:${existing.ports.api}`);
    if (opts.installCrds ?? true) await installCrds(Kube.load(existing.kubeconfig), log);
    return existing;
  }
  if (existing) {
    log('cleaning up leftovers of an earlier run');
    await stopControlPlane(dir);
  }
  const pki = createPki(join(dir, 'pki'));
  const binDir = join(dir, 'bin');
  mkdirSync(binDir, { recursive: true });
  const kubectl = join(binDir, 'kubectl');
  rmSync(kubectl, { force: true });
  symlinkSync(binary('kubectl'), kubectl);

  const state: ControlPlaneState = {
    dir,
    ports: { etcd: await freePort(), etcdPeer: await freePort(), api: await freePort() },
    pids: {},
    kubeconfig: join(dir, 'kubeconfig'),
    kubectl,
    withControllerManager: withKcm,
    startedAt: new Date().toISOString(),
  };
  const save = () => writeFileSync(join(dir, 'world.json'), JSON.stringify(state, null, 2));
  rmSync(join(dir, 'etcd'), { recursive: true, force: true });
  state.pids.etcd = launch(
    dir,
    'etcd',
    binary('etcd'),
    [
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${state.ports.etcd}`,
      `--advertise-client-urls=http://127.0.0.1:${state.ports.etcd}`,
      `--listen-peer-urls=http://127.0.0.1:${state.ports.etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${state.ports.etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${state.ports.etcdPeer}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
      '--quota-backend-bytes=4294967296',
    ],
    { GOMEMLIMIT: '512MiB' },
  );
  save();
  await until('etcd', async () => (await probe(`http://127.0.0.1:${state.ports.etcd}/health`)) === 200, {
    timeoutMs: 60_000,
    everyMs: 150,
    detail: logTail(join(dir, 'logs', 'etcd.log')),
  });
  log(`etcd ready on 127.0.0.1:${state.ports.etcd}`);

  state.pids.apiserver = launchApiServer(state);
  save();
  await waitApiServer(state);
  writeKubeconfig(state, pki);
  log(`kube-apiserver ready on https://127.0.0.1:${state.ports.api}`);

  if (withKcm) {
    state.pids.controllerManager = launch(
      dir,
      'kube-controller-manager',
      binary('kube-controller-manager'),
      [
        `--kubeconfig=${state.kubeconfig}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        `--secure-port=${await freePort()}`,
        `--service-account-private-key-file=${pki.saKey}`,
        `--root-ca-file=${pki.caCert}`,
        // No node lifecycle: the local Node is played by our pod runner, not a kubelet with heartbeats.
        '--controllers=*,-node-lifecycle-controller,-node-ipam-controller,-cloud-node-lifecycle-controller,-service-lb-controller,-node-route-controller,-persistentvolume-binder-controller,-persistentvolume-attach-detach-controller,-ttl-controller,-taint-eviction-controller,-device-taint-eviction-controller,-horizontal-pod-autoscaler-controller',
        '--concurrent-deployment-syncs=10',
        '--concurrent-replicaset-syncs=10',
        '--concurrent-job-syncs=10',
        '--concurrent-cron-job-syncs=10',
        '--v=1',
      ],
      { GOMEMLIMIT: '512MiB' },
    );
    save();
  }
  const kube = Kube.load(state.kubeconfig);
  await until(
    'namespace default',
    async () => !!(await kube.getOrNull('v1', 'Namespace', undefined, 'default')),
    60_000,
  );
  if (opts.installCrds ?? true) await installCrds(kube, log);
  kube.close();
  return state;
}
