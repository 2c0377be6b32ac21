// Test support for the fault-injection suite (test/integration/fault-*.test.ts): a private local world per file
// (real etcd + kube-apiserver + kube-controller-manager, the operator process, and the pod runner — our
// dev/test stand-in for a kubelet, which runs the agent containers as local processes), with a short host
// liveness bound, an optional loopback TCP proxy between agents and the apiserver that can drop and stall
// connections, and the checks every fault case ends with: every session final, members and hosts too,
// `restic check` clean, earlier snapshots intact, no restic process of a killed agent left (from /proc).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { minioBin, restServerBin } from '../backends/bins.ts';
import type { Assert } from '../backends/roundtrip.ts';
import { freePort, httpOk, startServer, type ServerProcess } from '../backends/proc.ts';
import { binary } from '../world/bins.ts';
import { readState, restartApiServer } from '../world/controlplane.ts';
import { startOperator } from '../world/operator.ts';
import { killGroup } from '../world/procs.ts';
import { findTarget } from '../../shared/status/index.ts';
import {
  agentPids,
  backupBatch,
  backupSession,
  createApp,
  e2eWorld,
  firstOperatorPid,
  namespaceWithRepo,
  sidecarsRunning,
  until,
  type E2EWorld,
  type SessionObj,
} from './e2e-world.ts';

const run = promisify(execFile);

interface Teardown {
  teardown(fn: () => unknown): void;
}

/**
 * The liveness bound the fault suite runs the operator with (STASH_HOST_LIVENESS_TIMEOUT). Above the age a
 * healthy host's Lease reaches across an apiserver restart on a loaded machine (outage + a renewal interval + its
 * retry + the operator's informer reconnecting, about 50 s: docs/decisions/0002-lease-heartbeats.md); no case
 * waits for it, every one ends by its agents' own reports.
 */
export const FAULT_LIVENESS_MS = 60_000;

/** How long a restarted kube-apiserver gets between SIGTERM and SIGKILL. */
const APISERVER_STOP_GRACE_MS = 1_000;

export interface FaultWorld extends E2EWorld {
  /** Present when agents reach the apiserver through the proxy. */
  proxy?: TcpProxy;
  restarts: number;
  restartApiServer(): Promise<number>;
}

/** A world whose operator fails silent hosts after FAULT_LIVENESS_MS; with `proxy`, agents dial the apiserver through it. */
export async function faultWorld(t: Teardown, name: string, opts: { proxy?: boolean } = {}): Promise<FaultWorld> {
  let proxy: TcpProxy | undefined;
  let agentKubeconfig: string | undefined;
  if (opts.proxy) {
    proxy = await TcpProxy.listen();
    t.teardown(() => proxy?.close());
    const dir = mkdtempSync(join(tmpdir(), `stash-ts-${name}-agents-`));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    agentKubeconfig = join(dir, 'kubeconfig');
  }
  const w = await e2eWorld(t, name, {
    operatorEnv: { STASH_HOST_LIVENESS_TIMEOUT: `${FAULT_LIVENESS_MS}ms` },
    agentKubeconfig,
  });
  if (proxy && agentKubeconfig) {
    // Agents start only after the test creates workloads, so the file exists before any agent reads it.
    const cfg = JSON.parse(readFileSync(w.state.kubeconfig, 'utf8')) as {
      clusters: Array<{ cluster: { server: string } }>;
    };
    for (const c of cfg.clusters) c.cluster.server = `https://127.0.0.1:${proxy.port}`;
    writeFileSync(agentKubeconfig, JSON.stringify(cfg, null, 2), { mode: 0o600 });
    proxy.target = w.state.ports.api;
  }
  const fw: FaultWorld = {
    ...w,
    proxy,
    restarts: 0,
    async restartApiServer() {
      const t0 = Date.now();
      // SIGTERM, then SIGKILL a second later: the apiserver stops taking requests at once, and its graceful
      // shutdown, which on this world does not finish within 5 s anyway, would only add to every restart.
      await restartApiServer(w.dir, APISERVER_STOP_GRACE_MS);
      fw.restarts++;
      const s = readState(w.dir);
      if (s) w.state.pids.apiserver = s.pids.apiserver;
      return Date.now() - t0;
    },
  };
  return fw;
}

/**
 * A loopback TCP proxy: `drop` resets every open connection and refuses new ones (as a network partition
 * that the client sees), `stall` keeps connections open but forwards nothing (as a hung path), `pass` forwards.
 */
export class TcpProxy {
  target = 0;
  mode: 'pass' | 'drop' | 'stall' = 'pass';
  readonly #server: net.Server;
  readonly #pairs = new Set<{ a: net.Socket; b: net.Socket }>();
  readonly port: number;

  private constructor(server: net.Server, port: number) {
    this.#server = server;
    this.port = port;
  }

  static async listen(): Promise<TcpProxy> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (a) => proxy.#accept(a));
    return proxy;
  }

  #accept(a: net.Socket): void {
    a.on('error', () => undefined);
    if (this.mode === 'drop' || !this.target) {
      a.resetAndDestroy();
      return;
    }
    const b = net.connect({ host: '127.0.0.1', port: this.target });
    b.on('error', () => a.destroy());
    a.on('error', () => b.destroy());
    const pair = { a, b };
    this.#pairs.add(pair);
    const forget = () => this.#pairs.delete(pair);
    a.on('close', () => {
      forget();
      b.destroy();
    });
    b.on('close', () => {
      forget();
      a.destroy();
    });
    // Data moves only while passing; a stalled pair keeps its bytes until the stall ends.
    a.on('data', (d: Buffer) => {
      if (!b.write(d)) a.pause();
    });
    b.on('data', (d: Buffer) => {
      if (!a.write(d)) b.pause();
    });
    a.on('drain', () => {
      if (this.mode === 'pass') b.resume();
    });
    b.on('drain', () => {
      if (this.mode === 'pass') a.resume();
    });
    if (this.mode === 'stall') {
      a.pause();
      b.pause();
    }
  }

  /** Resets every open connection and refuses new ones for `ms`. */
  async drop(ms: number): Promise<void> {
    this.mode = 'drop';
    for (const { a, b } of this.#pairs) {
      a.resetAndDestroy();
      b.destroy();
    }
    await new Promise((r) => setTimeout(r, ms));
    this.mode = 'pass';
  }

  /** Forwards nothing in either direction for `ms` (connections stay open), then resumes them. */
  async stall(ms: number): Promise<void> {
    this.mode = 'stall';
    for (const { a, b } of this.#pairs) {
      a.pause();
      b.pause();
    }
    await new Promise((r) => setTimeout(r, ms));
    this.mode = 'pass';
    for (const { a, b } of this.#pairs) {
      a.resume();
      b.resume();
    }
  }

  get connections(): number {
    return this.#pairs.size;
  }

  async close(): Promise<void> {
    for (const { a, b } of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

type Status = {
  phase?: string;
  targets?: Array<{ phase?: string; stats?: Array<{ phase?: string }> }>;
  members?: Array<{ phase?: string; stats?: Array<{ phase?: string }> }>;
};

/** Sessions (or restore invokers) of a namespace that are not final, or whose members or hosts are not. */
export async function openSessions(
  w: E2EWorld,
  ns: string,
  kinds: string[] = ['BackupSession', 'RestoreBatch', 'RestoreSession'],
): Promise<string[]> {
  const final = (p: string | undefined) => ['Succeeded', 'Failed', 'Skipped', 'Unknown', 'Invalid'].includes(p ?? '');
  const open: string[] = [];
  for (const kind of kinds) {
    const l = await w.kube.list<KubeObject & { status?: Status }>(apiVersionOf(kind as 'BackupSession'), kind, ns);
    for (const o of l.items) {
      const st = o.status ?? {};
      const parts = [...(st.targets ?? []), ...(st.members ?? [])];
      const inner = parts.some((p) => !final(p.phase) || (p.stats ?? []).some((h) => !final(h.phase)));
      if (!final(st.phase) || (st.phase !== 'Skipped' && inner))
        open.push(`${kind}/${o.metadata?.name}=${st.phase ?? 'none'}`);
    }
  }
  return open;
}

/** The session's phase once final, and how long after `since` it got there. */
export async function finalPhase(
  w: E2EWorld,
  ns: string,
  name: string,
  since: number,
  ms = FAULT_LIVENESS_MS * 4,
): Promise<{ s: SessionObj; ms: number }> {
  const s = await until(
    `BackupSession ${ns}/${name} final`,
    async () => {
      const o = await w.kube.get<SessionObj>(apiVersionOf('BackupSession'), 'BackupSession', ns, name);
      return ['Succeeded', 'Failed', 'Skipped'].includes(o.status?.phase ?? '') ? o : undefined;
    },
    ms,
    100,
  );
  return { s, ms: Date.now() - since };
}

/** restic against a repository (a local directory, rest:…, s3:…) with the Secret's data as env: `check` and the snapshot ids. */
export function resticRepo(
  repo: string,
  secret: Record<string, string>,
): { check(): Promise<string>; snapshots(): Promise<string[]> } {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: tmpdir(),
    ...secret,
  };
  const bin = binary('restic');
  return {
    async check() {
      const { stdout } = await run(bin, ['-r', repo, '--no-cache', 'check'], { env, maxBuffer: 16 * 1024 * 1024 });
      return stdout;
    },
    async snapshots() {
      const { stdout } = await run(bin, ['-r', repo, '--no-cache', '--no-lock', 'snapshots', '--json'], {
        env,
        maxBuffer: 16 * 1024 * 1024,
      });
      return (JSON.parse(stdout) as Array<{ id: string }>).map((x) => x.id);
    },
  };
}

/** The backend Secret's data of a test namespace (namespaceWithRepo makes a random password). */
export async function secretData(w: E2EWorld, ns: string, name = 'repo-secret'): Promise<Record<string, string>> {
  const s = await w.kube.get<KubeObject & { data?: Record<string, string> }>('v1', 'Secret', ns, name);
  return Object.fromEntries(
    Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}

/** A namespace with a Repository on the given backend block and its Secret. */
export async function namespaceWithBackend(
  w: E2EWorld,
  ns: string,
  backend: Record<string, unknown>,
  secret: Record<string, string>,
): Promise<void> {
  await w.kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await w.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'repo-secret', namespace: ns },
    stringData: secret,
  });
  await w.kube.create({
    apiVersion: apiVersionOf('Repository'),
    kind: 'Repository',
    metadata: { name: 'repo', namespace: ns },
    spec: { backend: { storageSecretName: 'repo-secret', ...backend } },
  });
}

/** restic (and database dump) processes whose command line names `needle` (a repository path), from /proc. */
export function procsNaming(needle: string): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd: string;
    let environ: string;
    try {
      cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ');
      if (!/(^|\/)(restic|mysqldump|mariadb-dump|pg_dump)\b/.test(cmd)) continue;
      environ = readFileSync(`/proc/${d}/environ`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (cmd.includes(needle) || environ.includes(needle)) out.push({ pid: Number(d), cmd });
  }
  return out;
}

/** restic processes in the given process groups, from /proc (one pass, cheap enough to poll every few ms). */
export function resticGroups(pgids: readonly number[]): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  if (pgids.length === 0) return out;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ');
      if (!/(^|\/)restic\b/.test(cmd)) continue;
      // Fields after the parenthesised command: state, ppid, pgrp.
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgids.includes(pgrp)) out.push({ pid: Number(d), cmd });
    } catch {
      continue; // gone meanwhile
    }
  }
  return out;
}

/** One figure line per fault, in the TAP output: `fault-figure <fault>: final after <s> s`. */
export function figure(t: Assert, fault: string, ms: number, extra = ''): void {
  t.comment(`fault-figure ${fault}: final after ${(ms / 1000).toFixed(1)} s${extra ? ` (${extra})` : ''}`);
}

// ------------------------------------------------------------------------------------------------ operator

/** SIGKILLs the operator process and starts a fresh one (same identity, env and certificates directory). */
export async function killAndRestartOperator(w: E2EWorld, downMs = 2_000): Promise<void> {
  const pid = firstOperatorPid(w);
  await killGroup(pid, 0);
  await new Promise((r) => setTimeout(r, downMs));
  await startOperator(w.state, () => undefined, { env: { STASH_HOST_LIVENESS_TIMEOUT: `${FAULT_LIVENESS_MS}ms` } });
}

/** SIGSTOPs the operator for `ms`, then SIGCONTs it (a process frozen by the node, a long GC pause, a debugger). */
export async function pauseOperator(w: E2EWorld, ms: number): Promise<void> {
  const pid = firstOperatorPid(w);
  process.kill(-pid, 'SIGSTOP');
  try {
    await new Promise((r) => setTimeout(r, ms));
  } finally {
    process.kill(-pid, 'SIGCONT');
  }
}

// ------------------------------------------------------------------------------------------------ backends

export interface RestartableServer {
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * A backend server that can be stopped and started again on the same port and data (the test backends in
 * test/backends start afresh each time): restic's REST server without auth, or MinIO with fixed credentials.
 */
export async function restartableBackend(
  kind: 'rest' | 's3',
): Promise<RestartableServer & { backend: Record<string, unknown>; secret: Record<string, string> }> {
  const root = mkdtempSync(join(tmpdir(), `stash-ts-fault-${kind}-`));
  const data = join(root, 'data');
  mkdirSync(data);
  const port = await freePort();
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root };
  const access = `fault${randomBytes(4).toString('hex')}`;
  const secretKey = randomBytes(18).toString('base64url');
  let proc: ServerProcess | undefined;
  const start = async () => {
    proc =
      kind === 'rest'
        ? await startServer(restServerBin() ?? '', ['--path', data, '--listen', `127.0.0.1:${port}`, '--no-auth'], {
            env,
            ready: () => httpOk(`http://127.0.0.1:${port}/`),
          })
        : await startServer(
            minioBin() ?? '',
            [
              'server',
              '--quiet',
              '--address',
              `127.0.0.1:${port}`,
              '--console-address',
              `127.0.0.1:${await freePort()}`,
              data,
            ],
            {
              env: {
                ...env,
                MINIO_ROOT_USER: access,
                MINIO_ROOT_PASSWORD: secretKey,
                MINIO_UPDATE: 'off',
                MINIO_CALLHOME_ENABLE: 'off',
                MINIO_BROWSER: 'off',
              },
              ready: () => httpOk(`http://127.0.0.1:${port}/minio/health/live`),
              readyTimeoutMs: 60_000,
            },
          );
  };
  await start();
  const password = `fault-${randomBytes(6).toString('hex')}`;
  return {
    port,
    start,
    async stop() {
      await proc?.stop();
    },
    backend:
      kind === 'rest'
        ? { rest: { url: `http://127.0.0.1:${port}/repo/` } }
        : { s3: { endpoint: `http://127.0.0.1:${port}`, bucket: 'fault', prefix: 'repo', region: 'us-east-1' } },
    secret:
      kind === 'rest'
        ? { RESTIC_PASSWORD: password }
        : { RESTIC_PASSWORD: password, AWS_ACCESS_KEY_ID: access, AWS_SECRET_ACCESS_KEY: secretKey },
  };
}

// ------------------------------------------------------------------------------------------------ a Sequential batch

/** The stages of a two-member Sequential BackupBatch at which a fault is injected. */
export const BACKUP_STAGES = [
  'before member 1',
  'during member 1 backup',
  'during member 1 status write',
  'between members',
  'during member 2 backup',
  'during the final write',
] as const;
export type BackupStage = (typeof BACKUP_STAGES)[number];

/**
 * Namespace `ns` with a local Repository and a Sequential BackupBatch `app` over two Deployments (`first`,
 * `second`) of 24 MiB each, keeping every snapshot (so "earlier snapshots intact" is not confused with
 * retention), sidecars running. Returns the repository directory.
 */
export async function sequentialBatch(w: E2EWorld, ns: string): Promise<string> {
  const repoDir = await namespaceWithRepo(w, ns);
  const apps = ['first', 'second'];
  for (const a of apps) await createApp(w, ns, a, { 'blob.bin': randomBytes(24 * 1024 * 1024), 'small.txt': `${a}\n` });
  await w.kube.create(
    backupBatch(ns, 'app', apps, {
      executionOrder: 'Sequential',
      retentionPolicy: { name: 'keep-all', keepLast: 100, prune: false },
    }),
  );
  await until(
    'BackupBatch Ready',
    async () =>
      (
        await w.kube.get<KubeObject & { status?: { phase?: string } }>(
          apiVersionOf('BackupBatch'),
          'BackupBatch',
          ns,
          'app',
        )
      ).status?.phase === 'Ready',
    60_000,
  );
  await sidecarsRunning(w, ns, apps);
  return repoDir;
}

/** Returns once session `name` of sequentialBatch's `app` has reached `stage` (watched through status and /proc). */
export async function reachStage(w: E2EWorld, ns: string, name: string, stage: BackupStage): Promise<void> {
  const ref = (app: string) => ({ apiVersion: 'apps/v1', kind: 'Deployment', name: app, namespace: ns });
  const phase = async (app: string) =>
    findTarget(
      (await w.kube.getOrNull<SessionObj>(apiVersionOf('BackupSession'), 'BackupSession', ns, name))?.status,
      ref(app),
      ns,
    )?.phase;
  const final = async (app: string) => ['Succeeded', 'Failed'].includes((await phase(app)) ?? '');
  // restic runs in its sidecar's process group: that names the member and the namespace (sessions of other
  // namespaces may be backing up at the same time). The sidecars stay up across an apiserver restart.
  const groups = { first: agentPids(ns, 'first'), second: agentPids(ns, 'second') };
  const backingUp = (app: 'first' | 'second') => resticGroups(groups[app]).some((p) => / backup /.test(p.cmd));
  switch (stage) {
    case 'before member 1':
      return;
    case 'during member 1 backup':
      await until(
        'member 1 restic running',
        async () => backingUp('first') && (await phase('first')) === 'Running',
        60_000,
        50,
      );
      return;
    case 'during member 1 status write':
      await until(
        'member 1 restic running',
        async () => backingUp('first') && (await phase('first')) === 'Running',
        60_000,
        50,
      );
      await until('member 1 restic done', async () => !backingUp('first'), 60_000, 20);
      return;
    case 'between members':
      await until('member 1 final', () => final('first'), 90_000, 50);
      return;
    case 'during member 2 backup':
      await until(
        'member 2 restic running',
        async () => backingUp('second') && (await phase('second')) === 'Running',
        90_000,
        50,
      );
      return;
    case 'during the final write':
      await until('member 2 final', () => final('second'), 90_000, 50);
  }
}

export interface Turn {
  stage: BackupStage;
  /** The fault-figure line's name. */
  label: string;
  /** Injects the fault once the session has reached its stage. */
  inject(): Promise<unknown>;
}

/**
 * One session per turn, taking turns between the lanes (namespaces with a sequentialBatch each): while one
 * session finishes after its fault, the next (of the next lane) heads for its stage, so a fault may also land on
 * a finishing session (more faults, never fewer). A lane runs one session at a time (a batch skips a session
 * while another of it runs): its next starts once its last is final. Each session must succeed, both members final.
 */
export async function takeTurns(
  t: Assert,
  w: E2EWorld,
  lanes: readonly string[],
  turns: readonly Turn[],
): Promise<void> {
  const open = new Map<string, Promise<void>>();
  for (const [i, turn] of turns.entries()) {
    const ns = lanes[i % lanes.length]!;
    const name = `app-${i + 1}`;
    await open.get(ns);
    await w.kube.create(backupSession(ns, name, 'app'));
    await reachStage(w, ns, name, turn.stage);
    const at = Date.now();
    const note = await turn.inject();
    open.set(
      ns,
      finalPhase(w, ns, name, at, FAULT_LIVENESS_MS * 4).then(({ s, ms }) => {
        figure(
          t,
          turn.label,
          ms,
          `${typeof note === 'string' ? `${note}; ` : ''}${s.status?.phase}; ${hostSummary(s)}`,
        );
        t.equal(s.status?.phase, 'Succeeded', `${turn.label}: the session succeeds`, { status: s.status });
        t.same(
          s.status?.targets?.map((x) => x.phase),
          ['Succeeded', 'Succeeded'],
          `${turn.label}: both members final and Succeeded`,
        );
      }),
    );
  }
  await Promise.all(open.values());
}

/** How every fault case ends: a clean session succeeds, earlier snapshots are intact, `restic check` is clean, nothing open. */
export async function endChecks(t: Assert, w: E2EWorld, ns: string, repoDir: string, invoker = 'app'): Promise<void> {
  const repo = resticRepo(repoDir, await secretData(w, ns));
  const before = await repo.snapshots();
  await w.kube.create(backupSession(ns, `${invoker}-clean`, invoker));
  t.equal(
    (await finalPhase(w, ns, `${invoker}-clean`, Date.now())).s.status?.phase,
    'Succeeded',
    'the next session without a fault succeeds',
  );
  const after = await repo.snapshots();
  t.ok(
    before.every((id) => after.includes(id)),
    `every earlier snapshot is intact (${before.length} before, ${after.length} after)`,
  );
  t.match(await repo.check(), /no errors were found/, 'restic check is clean');
  t.same(await openSessions(w, ns), [], 'no session, member or host left Running or Pending');
}

/** "first=Succeeded, second=Failed (why)" for a figure line. */
export function hostSummary(s: SessionObj): string {
  return (s.status?.targets ?? [])
    .flatMap((x) => (x.stats ?? []).map((h) => `${h.hostname}=${h.phase}${h.error ? ` (${h.error})` : ''}`))
    .join(', ');
}
