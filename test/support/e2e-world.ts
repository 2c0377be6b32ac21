// Test support for the real-agent end-to-end tests (test/integration/e2e-*.test.ts): a private local world per
// test file (control plane + operator process + pod runner, exactly as `make demo` runs them), applications as
// Deployments whose PVC directories the test fills, a local-directory Repository, a second operator process for
// failover, and ways to find (and kill) the agent processes the pod runner started. Not imported by product code.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, type Dirent } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { BackupSessionStatus, RestoreBatchStatus } from '../../shared/api/index.ts';
import { Kube, type KubeObject } from '../../shared/kube/client.ts';
import { Informer } from '../../shared/kube/informer.ts';
import { FILES } from '../../certs/certs.ts';
import { renderWebhookConfigurations } from '../../certs/webhook-config.ts';
import { REPO_ROOT } from '../world/bins.ts';
import { templateWasm } from '../backends/bins.ts';
import type { ControlPlaneState } from '../world/controlplane.ts';
import { freePort } from '../world/controlplane.ts';
import { AGENT_IMAGE, OPERATOR_ENTRYPOINT } from '../world/entrypoints.ts';
import { OPERATOR_NAMESPACE, operatorReady } from '../world/operator.ts';
import { alive, killGroup, launchDetached, readPidFile } from '../world/procs.ts';
import { pvcDir } from '../world/pod-runner/volumes.ts';
import { worldDown, worldUp, type WorldOptions } from '../world/world.ts';
import { until } from './until.ts';

export { until };

interface Teardown {
  teardown(fn: () => unknown): void;
}

export const FIRST_OPERATOR_IDENTITY = 'stash-ts-operator-local';

// Mount paths unique to this test file's world. The pod runner creates a missing mount point on this machine and
// removes it when its own last container using it stops; runners of worlds running side by side (tap runs
// files in parallel) keep separate counts, so a shared path like /data could vanish under another world's agent.
const MOUNT_ROOT = `/stash-e2e-${randomBytes(4).toString('hex')}`;
export const DATA_PATH = `${MOUNT_ROOT}/data`;
/** Where job-model members mount a stand-alone PVC. */
export const VOLUME_PATH = `${MOUNT_ROOT}/volume`;
export const REPO_MOUNT = `${MOUNT_ROOT}/repository`;

export interface E2EWorld {
  dir: string;
  state: ControlPlaneState;
  kube: Kube;
}

/** A private world in a temp dir, torn down (processes stopped, directory removed) when the test file ends. */
export async function e2eWorld(
  t: Teardown,
  name: string,
  opts: Pick<WorldOptions, 'operatorEnv' | 'agentKubeconfig'> = {},
): Promise<E2EWorld> {
  const dir = mkdtempSync(join(tmpdir(), `stash-ts-${name}-`));
  let kube: Kube | undefined;
  t.teardown(async () => {
    kube?.close();
    await worldDown(dir);
    // Restores and backups run as root in the pod runner; everything they wrote lives under the world dir.
    rmSync(dir, { recursive: true, force: true });
  });
  const state = await worldUp(dir, {
    ...opts,
    log: process.env.STASH_E2E_LOG ? (m) => console.error(`[e2e] ${m}`) : undefined,
  });
  kube = Kube.load(state.kubeconfig, 'stash-ts-e2e');
  return { dir, state, kube };
}

/** A namespace with a local-directory Repository (hostPath under the world dir) and its password Secret. */
export async function namespaceWithRepo(w: E2EWorld, ns: string): Promise<string> {
  await w.kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const repoDir = join(w.dir, 'repositories', ns);
  mkdirSync(repoDir, { recursive: true });
  await w.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'repo-secret', namespace: ns },
    stringData: { RESTIC_PASSWORD: `e2e-${randomBytes(8).toString('hex')}` },
  });
  await w.kube.create({
    apiVersion: apiVersionOf('Repository'),
    kind: 'Repository',
    metadata: { name: 'repo', namespace: ns },
    spec: {
      backend: { storageSecretName: 'repo-secret', local: { mountPath: REPO_MOUNT, hostPath: { path: repoDir } } },
    },
  });
  return repoDir;
}

/** Writes `files` (relative path → content) into the claim's directory; returns the directory. */
export function fillClaim(w: E2EWorld, ns: string, claim: string, files: Record<string, Buffer | string>): string {
  const dir = pvcDir(w.dir, ns, claim);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const p = join(dir, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, content);
  }
  return dir;
}

/** Every regular file under dir, relative path → content (for byte-for-byte comparisons). */
export function readTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSafe(d)) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out[relative(dir, p)] = readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return out;
}

function readdirSafe(d: string): Dirent[] {
  try {
    return readdirSync(d, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** An application part: a PVC `<name>-data` and a one-replica Deployment mounting it at DATA_PATH. */
export async function createApp(
  w: E2EWorld,
  ns: string,
  name: string,
  files: Record<string, Buffer | string>,
): Promise<string> {
  const dir = fillClaim(w, ns, `${name}-data`, files);
  await w.kube.create({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: `${name}-data`, namespace: ns },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  });
  await w.kube.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: 'app',
              image: 'busybox:1.36',
              command: ['sleep', 'infinity'],
              volumeMounts: [{ name: 'data', mountPath: DATA_PATH }],
            },
          ],
          volumes: [{ name: 'data', persistentVolumeClaim: { claimName: `${name}-data` } }],
        },
      },
    },
  });
  return dir;
}

export interface MemberOpts {
  paths?: string[];
}

export function backupBatch(
  ns: string,
  name: string,
  members: Array<string | [string, MemberOpts]>,
  extra: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: apiVersionOf('BackupBatch'),
    kind: 'BackupBatch',
    metadata: { name, namespace: ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      retentionPolicy: { name: 'keep-5', keepLast: 5, prune: true },
      members: members.map((m) => {
        const [app, o] = typeof m === 'string' ? [m, {}] : m;
        return {
          target: {
            alias: app,
            ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: app },
            paths: o.paths ?? [DATA_PATH],
            volumeMounts: [{ name: 'data', mountPath: DATA_PATH }],
          },
        };
      }),
      ...extra,
    },
  };
}

export function restoreBatch(
  ns: string,
  name: string,
  members: string[],
  extra: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: apiVersionOf('RestoreBatch'),
    kind: 'RestoreBatch',
    metadata: { name, namespace: ns },
    spec: {
      repository: { name: 'repo' },
      members: members.map((m) => ({
        target: {
          alias: m,
          ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: m },
          volumeMounts: [{ name: 'data', mountPath: DATA_PATH }],
          rules: [{ paths: [DATA_PATH] }],
        },
      })),
      ...extra,
    },
  };
}

export function backupSession(ns: string, name: string, batch: string): KubeObject {
  return {
    apiVersion: apiVersionOf('BackupSession'),
    kind: 'BackupSession',
    metadata: {
      name,
      namespace: ns,
      labels: { 'stash.appscode.com/invoker-type': 'BackupBatch', 'stash.appscode.com/invoker-name': batch },
    },
    spec: { invoker: { apiGroup: 'stash.appscode.com', kind: 'BackupBatch', name: batch } },
  };
}

export type SessionObj = KubeObject & { status?: BackupSessionStatus };
export type RestoreBatchObj = KubeObject & { status?: RestoreBatchStatus };
type PodObj = KubeObject & {
  spec?: { containers?: Array<{ name: string }> };
  status?: { phase?: string; containerStatuses?: Array<{ name: string; ready?: boolean }> };
};

/** Waits until every named Deployment has exactly one live pod, running, whose `stash` sidecar is up. */
export async function sidecarsRunning(w: E2EWorld, ns: string, apps: string[], ms = 90_000): Promise<void> {
  await until(
    `sidecars running in ${apps.join(', ')}`,
    async () => {
      for (const app of apps) {
        const pods = (await w.kube.list<PodObj>('v1', 'Pod', ns, { labelSelector: `app=${app}` })).items.filter(
          (p) => !p.metadata?.deletionTimestamp,
        );
        if (pods.length !== 1) return false;
        const p = pods[0]!;
        if (p.status?.phase !== 'Running' || !p.status.containerStatuses?.some((c) => c.name === 'stash' && c.ready))
          return false;
      }
      return true;
    },
    ms,
  );
}

export async function finished<T extends KubeObject & { status?: { phase?: string } }>(
  w: E2EWorld,
  apiVersion: string,
  kind: string,
  ns: string,
  name: string,
  ms: number,
): Promise<T> {
  return await until(
    `${kind} ${ns}/${name} to finish`,
    async () => {
      const o = await w.kube.get<T>(apiVersion, kind, ns, name);
      return o.status?.phase === 'Succeeded' || o.status?.phase === 'Failed' ? o : undefined;
    },
    ms,
  );
}

/**
 * Agent containers (the pod runner's container processes, each the leader of its own process group) running
 * `run-backup` for one workload.
 */
export function agentPids(ns: string, workload: string, command = 'run-backup'): number[] {
  return psRows()
    .filter(
      (r) =>
        r.pid === r.pgid &&
        r.args.includes(` ${command} `) &&
        r.args.includes(`--target-namespace=${ns}`) &&
        r.args.includes(`--target-name=${workload}`) &&
        r.args.includes('agent/main.ts'),
    )
    .map((r) => r.pid);
}

/** restic processes in the process group of `pgid` (a container's processes share its group). */
export function resticIn(pgid: number): Array<{ pid: number; args: string }> {
  return psRows().filter((r) => r.pgid === pgid && /(^|\/)restic /.test(r.args));
}

function psRows(): Array<{ pid: number; pgid: number; args: string }> {
  const out = execFileSync('ps', ['-eo', 'pid=,pgid=,args='], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  return out
    .split('\n')
    .map((l) => l.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/))
    .filter((m): m is RegExpMatchArray => !!m)
    .map((m) => ({ pid: Number(m[1]), pgid: Number(m[2]), args: m[3]! }));
}

export interface ExtraOperator {
  identity: string;
  pid: number;
  port: number;
  logFile: string;
  stop(): Promise<void>;
}

/**
 * A second operator replica against the same control plane: the same entrypoint, env and serving certificate as
 * the first (test/world/operator.ts), another identity, ports and log. It registers nothing; the webhook
 * configurations keep pointing at the first until `pointWebhooksAt` moves them.
 */
export async function startExtraOperator(t: Teardown, w: E2EWorld, identity: string): Promise<ExtraOperator> {
  const certDir = join(w.dir, 'webhook-certs');
  const port = await freePort();
  const logName = `operator-${identity}`;
  const [, script] = OPERATOR_ENTRYPOINT;
  const pid = launchDetached(join(w.dir, 'logs'), logName, join(REPO_ROOT, 'node_modules', '.bin', 'node'), [script], {
    cwd: REPO_ROOT,
    env: {
      STASH_KUBECONFIG: w.state.kubeconfig,
      POD_NAMESPACE: OPERATOR_NAMESPACE,
      POD_NAME: identity,
      STASH_WEBHOOK_HOST: '127.0.0.1',
      STASH_WEBHOOK_PORT: String(port),
      STASH_METRICS_PORT: String(await freePort()),
      STASH_TLS_CERT_FILE: join(certDir, FILES.cert),
      STASH_TLS_KEY_FILE: join(certDir, FILES.key),
      STASH_AGENT_IMAGE: AGENT_IMAGE,
      STASH_TEMPLATE_WASM: templateWasm(),
    },
  });
  const stop = () => killGroup(pid, 5_000);
  t.teardown(stop);
  const ca = readFileSync(join(certDir, FILES.caCert));
  const logFile = join(w.dir, 'logs', `${logName}.log`);
  await until(
    `operator ${identity} ready`,
    async () => {
      if (!alive(pid))
        throw new Error(`operator ${identity} exited; log:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
      return await operatorReady(port, ca);
    },
    60_000,
    150,
  );
  return { identity, pid, port, logFile, stop };
}

/** The first operator's pid (started by worldUp). */
export function firstOperatorPid(w: E2EWorld): number {
  const s = readPidFile<{ pid: number }>(join(w.dir, 'operator.json'));
  if (!s) throw new Error('no operator pid file');
  return s.pid;
}

/** Re-registers the webhook configurations with the given replica's port (what a Service would do on failover). */
export async function pointWebhooksAt(w: E2EWorld, port: number): Promise<void> {
  const caPem = readFileSync(join(w.dir, 'webhook-certs', FILES.caCert), 'utf8');
  for (const cfg of renderWebhookConfigurations({ caPem, url: { port } })) await w.kube.apply(cfg as KubeObject);
}

export async function leaseHolder(w: E2EWorld): Promise<string | undefined> {
  const l = await w.kube.getOrNull<KubeObject & { spec?: { holderIdentity?: string | null } }>(
    'coordination.k8s.io/v1',
    'Lease',
    OPERATOR_NAMESPACE,
    'stash-operator',
  );
  return l?.spec?.holderIdentity ?? undefined;
}

/** Every Event the operator recorded in a namespace, with the replica that recorded it. */
export async function operatorEvents(
  w: E2EWorld,
  ns: string,
): Promise<Array<{ reason: string; message: string; instance: string; object: string }>> {
  const l = await w.kube.list<
    KubeObject & {
      reason?: string;
      message?: string;
      reportingComponent?: string;
      reportingInstance?: string;
      involvedObject?: { kind?: string; name?: string };
    }
  >('v1', 'Event', ns);
  return l.items
    .filter((e) => e.reportingComponent === 'stash-operator')
    .map((e) => ({
      reason: e.reason ?? '',
      message: e.message ?? '',
      instance: e.reportingInstance ?? '',
      object: `${e.involvedObject?.kind}/${e.involvedObject?.name}`,
    }));
}

/**
 * Records, per BackupSession target (by workload name), the order in which the test saw it initiated (present in
 * status with totalHosts) and final (Succeeded/Failed), from watch events: a global counter, so "before" is exact.
 */
export class SessionTimeline {
  readonly initiated = new Map<string, number>();
  readonly finished = new Map<string, number>();
  #seq = 0;
  readonly #inf: Informer<SessionObj>;

  constructor(w: E2EWorld, ns: string, session: string) {
    this.#inf = new Informer<SessionObj>(w.kube, {
      apiVersion: apiVersionOf('BackupSession'),
      kind: 'BackupSession',
      namespace: ns,
    });
    const seen = (s: SessionObj) => {
      if (s.metadata?.name !== session) return;
      const n = ++this.#seq;
      for (const tg of s.status?.targets ?? []) {
        const key = tg.ref?.name ?? '';
        if (tg.totalHosts !== undefined && tg.totalHosts !== null && !this.initiated.has(key))
          this.initiated.set(key, n);
        if ((tg.phase === 'Succeeded' || tg.phase === 'Failed') && !this.finished.has(key)) this.finished.set(key, n);
      }
    };
    this.#inf.on('add', seen).on('update', seen);
  }

  async start(t: Teardown): Promise<this> {
    this.#inf.start();
    t.teardown(() => this.#inf.stop());
    await this.#inf.waitForSync();
    return this;
  }
}
