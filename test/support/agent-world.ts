// Helpers for the agent integration tests: run the agent as a pod would (a process with the pod's args and
// env), play the operator's part in session status (no operator exists in these tests), build and compare
// file trees, and watch child processes' argv for secrets.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Test } from 'tap';
import { useCluster } from '../world/harness.ts';
import { makeLocalBackend } from '../backends/local.ts';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { Kube, KubeObject } from '../../shared/kube/client.ts';
import { resticBin, templateWasm } from '../backends/bins.ts';
import { REPO_ROOT } from '../world/bins.ts';
import type { BackupSession, RestoreSession } from '../../agent/types.ts';
import { mergeBackupSessionStatus, type TargetPatch } from '../../shared/status/index.ts';
import { until } from './until.ts';

export const NODE = join(REPO_ROOT, 'node_modules', '.bin', 'node');
export const AGENT = join(REPO_ROOT, 'agent', 'main.ts');

export function restic(): string {
  const bin = resticBin();
  if (!bin) throw new Error('restic not found: run hack/build-bins.sh restic');
  return bin;
}

export interface AgentProcess {
  child: ChildProcess;
  pid: number;
  output(): string;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL of the whole group after graceMs. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL of the whole process group (agent and restic): a pod killed hard. */
  kill(): Promise<void>;
}

export interface PodEnv {
  podName: string;
  nodeName?: string;
  namespace: string;
  kubeconfig: string;
  extra?: Record<string, string>;
}

export function startAgent(args: string[], pod: PodEnv): AgentProcess {
  const child = spawn(NODE, [AGENT, ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      POD_NAME: pod.podName,
      NODE_NAME: pod.nodeName ?? 'node-1',
      POD_NAMESPACE: pod.namespace,
      KUBECONFIG: pod.kubeconfig,
      STASH_RESTIC_BINARY: restic(),
      STASH_TEMPLATE_WASM: templateWasm(),
      ...pod.extra,
    },
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const pid = child.pid ?? 0;
  const group = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* gone */
    }
  };
  return {
    child,
    pid,
    output: () => out,
    exited,
    async stop(graceMs = 5000) {
      group('SIGTERM');
      const t = setTimeout(() => group('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
      group('SIGKILL');
    },
    async kill() {
      group('SIGKILL');
      await exited;
    },
  };
}

/** Runs the agent to completion (restore, create-backupsession); resolves with exit code and output. */
export async function runAgent(
  args: string[],
  pod: PodEnv,
  timeoutMs = 90_000,
): Promise<{ code: number | null; output: string }> {
  const a = startAgent(args, pod);
  const t = setTimeout(() => void a.kill(), timeoutMs);
  const code = await a.exited;
  clearTimeout(t);
  return { code, output: a.output() };
}

export function sidecarArgs(o: {
  invokerKind: string;
  invokerName: string;
  targetKind: string;
  targetName: string;
  namespace: string;
  scratch: string;
}): string[] {
  // The args the mutating webhook injects (docs/api.md §13.2), plus our dev-only hostname isolation.
  return [
    'run-backup',
    `--invoker-name=${o.invokerName}`,
    `--invoker-kind=${o.invokerKind}`,
    `--target-name=${o.targetName}`,
    `--target-namespace=${o.namespace}`,
    `--target-kind=${o.targetKind}`,
    '--enable-cache=true',
    '--max-connections=0',
    '--metrics-enabled=true',
    '--pushgateway-url=http://127.0.0.1:1',
    '--use-kubeapiserver-fqdn-for-aks=true',
    '--v=3',
    '--scratch-dir',
    o.scratch,
    '--restic-hostname-isolation',
  ];
}

/** Secret + Repository for a backend block. */
export async function makeRepository(
  kube: Kube,
  ns: string,
  name: string,
  backend: Record<string, unknown>,
  secret: Record<string, string>,
): Promise<void> {
  await kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `${name}-secret`, namespace: ns },
    stringData: secret,
  });
  await kube.create({
    apiVersion: apiVersionOf('Repository'),
    kind: 'Repository',
    metadata: { name, namespace: ns },
    spec: { backend: { ...backend, storageSecretName: `${name}-secret` } },
  });
}

export async function getSession(kube: Kube, ns: string, name: string): Promise<BackupSession> {
  return await kube.get<BackupSession>(apiVersionOf('BackupSession'), 'BackupSession', ns, name);
}

/**
 * The operator's docs/api.md §14.3 step 6, done by the test because no operator exists yet: write each target's ref and
 * totalHosts, InitializeBackendRepository on the first, the post-backup actions on the last.
 */
export async function initiateTargets(
  kube: Kube,
  ns: string,
  session: string,
  targets: Array<{ ref: TargetPatch['ref']; totalHosts: number }>,
): Promise<void> {
  await kube.update<BackupSession>(
    apiVersionOf('BackupSession'),
    'BackupSession',
    ns,
    session,
    (s) => {
      const patches: TargetPatch[] = targets.map((t, i) => ({
        ref: t.ref,
        totalHosts: t.totalHosts,
        ...(i === 0 ? { preBackupActions: ['InitializeBackendRepository'] } : {}),
        ...(i === targets.length - 1
          ? { postBackupActions: ['ApplyRetentionPolicy', 'VerifyRepositoryIntegrity', 'SendRepositoryMetrics'] }
          : {}),
      }));
      s.status = mergeBackupSessionStatus(s.status, { targets: patches }, { namespace: ns });
      return s;
    },
    { subresource: 'status' },
  );
}

/** A BackupSession the way create-backupsession makes one (used when a test wants a fixed name). */
export async function createSession(
  kube: Kube,
  ns: string,
  name: string,
  invokerKind: string,
  invokerName: string,
): Promise<void> {
  await kube.create({
    apiVersion: apiVersionOf('BackupSession'),
    kind: 'BackupSession',
    metadata: {
      name,
      namespace: ns,
      labels: { 'stash.appscode.com/invoker-type': invokerKind, 'stash.appscode.com/invoker-name': invokerName },
    },
    spec: { invoker: { apiGroup: 'stash.appscode.com', kind: invokerKind, name: invokerName }, retryLeft: 0 },
  });
}

/** Files of several sizes, nested dirs, an empty dir, a symlink, odd modes. */
export async function seedTree(dir: string, opts: { files?: number; seed?: string } = {}): Promise<void> {
  await mkdir(join(dir, 'sub', 'deeper'), { recursive: true });
  await mkdir(join(dir, 'empty-dir'), { recursive: true });
  const n = opts.files ?? 12;
  for (let i = 0; i < n; i++) {
    const size = [0, 1, 700, 4096, 65_537, 300_000][i % 6] ?? 10;
    const where = i % 3 === 0 ? dir : i % 3 === 1 ? join(dir, 'sub') : join(dir, 'sub', 'deeper');
    await writeFile(join(where, `f${i}.bin`), randomBytes(size));
  }
  await writeFile(join(dir, 'script.sh'), `#!/bin/sh\necho ${opts.seed ?? 'hi'}\n`);
  await chmod(join(dir, 'script.sh'), 0o750);
  await writeFile(join(dir, 'secret-ish.txt'), 'private\n');
  await chmod(join(dir, 'secret-ish.txt'), 0o600);
  await symlink('sub/f1.bin', join(dir, 'link-to-f1'));
  await symlink('/nonexistent/target', join(dir, 'dangling'));
}

export interface TreeEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  size: number;
  digest: string;
}

export async function tree(dir: string): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const walk = async (d: string) => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      const st = await lstat(p);
      const rel = relative(dir, p);
      if (st.isSymbolicLink()) out.push({ path: rel, type: 'symlink', mode: 0, size: 0, digest: await readlink(p) });
      else if (st.isDirectory()) {
        out.push({ path: rel, type: 'dir', mode: st.mode & 0o7777, size: 0, digest: '' });
        await walk(p);
      } else
        out.push({
          path: rel,
          type: 'file',
          mode: st.mode & 0o7777,
          size: st.size,
          digest: createHash('sha256')
            .update(await readFile(p))
            .digest('hex'),
        });
    }
  };
  await walk(dir);
  return out;
}

/** Every descendant pid of `root` (by /proc ppid links). */
/** The process exists and is not a zombie (an exited child its new parent has not reaped yet). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(e), ppid);
    } catch {
      /* exited */
    }
  }
  const out: number[] = [];
  const frontier = [root];
  while (frontier.length) {
    const p = frontier.pop() as number;
    for (const [c, pp] of parent)
      if (pp === p && !out.includes(c)) {
        out.push(c);
        frontier.push(c);
      }
  }
  return out;
}

/** Samples the argv of `roots`' descendants until stopped; returns every argv seen (joined by spaces). */
export function sampleCmdlines(roots: () => number[], everyMs = 15): { stop(): string[] } {
  const seen = new Set<string>();
  let running = true;
  const loop = async () => {
    while (running) {
      for (const r of roots()) {
        for (const pid of [r, ...descendants(r)]) {
          try {
            seen.add(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '));
          } catch {
            /* exited */
          }
        }
      }
      await sleep(everyMs);
    }
  };
  void loop();
  return {
    stop() {
      running = false;
      return [...seen];
    },
  };
}

export async function eventsFor(
  kube: Kube,
  ns: string,
  name: string,
): Promise<Array<KubeObject & { reason?: string; message?: string; type?: string }>> {
  const list = await kube.list<
    KubeObject & { involvedObject?: { name?: string }; reason?: string; message?: string; type?: string }
  >('v1', 'Event', ns);
  return list.items.filter((e) => e.involvedObject?.name === name);
}

export interface SingleTarget {
  kube: Kube;
  ns: string;
  kubeconfig: string;
  scratch: string;
  invoker: string;
  targetKind?: string;
  targetName: string;
  podName: string;
  extraArgs?: string[];
}

/** A BackupConfiguration for one Deployment target backing up `paths` into Repository `repo`. */
export async function makeBackupConfiguration(
  kube: Kube,
  ns: string,
  name: string,
  o: { repo: string; targetName: string; alias?: string; paths: string[]; kind?: string; keepLast?: number },
): Promise<void> {
  await kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name, namespace: ns },
    spec: {
      schedule: '*/5 * * * *',
      repository: { name: o.repo },
      retentionPolicy: { name: 'keep', keepLast: o.keepLast ?? 10, prune: false },
      target: {
        ...(o.alias ? { alias: o.alias } : {}),
        ref: { apiVersion: 'apps/v1', kind: o.kind ?? 'Deployment', name: o.targetName },
        paths: o.paths,
      },
    },
  });
}

/**
 * One session of a single-target invoker: creates the session, initiates the target as the operator would
 * (with repository init and the post-backup actions, unless `postActions` is false) and waits for the host.
 */
export async function runSession(
  kube: Kube,
  ns: string,
  sessionName: string,
  invoker: string,
  targetRef: TargetPatch['ref'],
  o: { postActions?: boolean; timeoutMs?: number } = {},
): Promise<BackupSession> {
  await createSession(kube, ns, sessionName, 'BackupConfiguration', invoker);
  await kube.update<BackupSession>(
    apiVersionOf('BackupSession'),
    'BackupSession',
    ns,
    sessionName,
    (s) => {
      s.status = mergeBackupSessionStatus(
        s.status,
        {
          targets: [
            {
              ref: targetRef,
              totalHosts: 1,
              preBackupActions: ['InitializeBackendRepository'],
              ...(o.postActions === false
                ? {}
                : {
                    postBackupActions: ['ApplyRetentionPolicy', 'VerifyRepositoryIntegrity', 'SendRepositoryMetrics'],
                  }),
            },
          ],
        },
        { namespace: ns },
      );
      return s;
    },
    { subresource: 'status' },
  );
  return await until(
    `host stats of ${sessionName}`,
    async () => {
      const s = await getSession(kube, ns, sessionName);
      return s.status?.targets?.[0]?.stats?.length ? s : undefined;
    },
    o.timeoutMs ?? 90_000,
    100,
  );
}

/** Runs restic directly (as a person checking the repository would). */
export function resticRun(args: string[], env: Record<string, string>): string {
  return execFileSync(restic(), args, {
    env: { PATH: '/usr/bin:/bin', HOME: '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }).toString();
}

// ---- lock tests: a repository, a long-lived sidecar (the survivor) and victims killed mid-backup

export async function lockWorld(t: Test, survivorLockWait: string) {
  const { kube, namespace: ns, kubeconfigPath } = await useCluster(t);
  const b = await makeLocalBackend();
  const work = await mkdtemp(join(tmpdir(), 'agent-locks-'));
  t.teardown(async () => {
    await b.stop();
    await rm(work, { recursive: true, force: true });
  });
  const env = { RESTIC_PASSWORD: b.secret.RESTIC_PASSWORD ?? '' };
  const locksDir = join(b.dir, 'locks');
  const lockFiles = async () =>
    (await readdir(locksDir).catch(() => [] as string[])).filter((f) => /^[0-9a-f]{64}$/.test(f));
  // A lock can vanish between list and cat (its holder finished): skip it.
  const lockHosts = () =>
    resticRun(['list', 'locks', '--no-lock', '-r', b.dir], env)
      .split('\n')
      .filter(Boolean)
      .flatMap((id) => {
        try {
          return [
            (JSON.parse(resticRun(['cat', 'lock', id, '--no-lock', '-r', b.dir], env)) as { hostname: string })
              .hostname,
          ];
        } catch {
          return [];
        }
      });

  await makeRepository(kube, ns, 'repo', b.backend, b.secret);
  const appData = join(work, 'app');
  await mkdir(appData, { recursive: true });
  await writeFile(join(appData, 'a.txt'), 'steady\n');
  await makeBackupConfiguration(kube, ns, 'app-backup', {
    repo: 'repo',
    targetName: 'app',
    alias: 'app',
    paths: [appData],
    keepLast: 100,
  });
  const survivor = startAgent(
    [
      ...sidecarArgs({
        invokerKind: 'BackupConfiguration',
        invokerName: 'app-backup',
        targetKind: 'Deployment',
        targetName: 'app',
        namespace: ns,
        scratch: join(work, 'tmp-app'),
      }),
      `--lock-wait=${survivorLockWait}`,
    ],
    { podName: 'app-5f6g-survivor', namespace: ns, kubeconfig: kubeconfigPath },
  );
  t.teardown(() => survivor.stop());
  const appRef = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'app' };
  let n = 0;
  const nextAppSession = async () => runSession(kube, ns, `app-backup-${++n}`, 'app-backup', appRef);
  const first = await nextAppSession();
  t.equal(
    first.status?.targets?.[0]?.stats?.[0]?.phase,
    'Succeeded',
    first.status?.targets?.[0]?.stats?.[0]?.error ?? '',
  );

  /** A victim sidecar of its own Deployment, killed with SIGKILL once restic holds its lock. */
  const killMidBackup = async (podName: string, i: number) => {
    const data = join(work, `victim-${i}`);
    await mkdir(data, { recursive: true });
    await writeFile(join(data, 'big.bin'), randomBytes(32 * 1024 * 1024));
    const inv = `victim-${i}`;
    await makeBackupConfiguration(kube, ns, inv, { repo: 'repo', targetName: inv, alias: inv, paths: [data] });
    const victim = startAgent(
      sidecarArgs({
        invokerKind: 'BackupConfiguration',
        invokerName: inv,
        targetKind: 'Deployment',
        targetName: inv,
        namespace: ns,
        scratch: join(work, `tmp-${i}`),
      }),
      { podName, namespace: ns, kubeconfig: kubeconfigPath },
    );
    t.teardown(() => victim.kill());
    const before = new Set(await lockFiles());
    await createSession(kube, ns, `${inv}-1`, 'BackupConfiguration', inv);
    await kube.update<BackupSession>(
      apiVersionOf('BackupSession'),
      'BackupSession',
      ns,
      `${inv}-1`,
      (s) => {
        s.status = mergeBackupSessionStatus(
          s.status,
          {
            targets: [
              {
                ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: inv },
                totalHosts: 1,
                preBackupActions: ['InitializeBackendRepository'],
              },
            ],
          },
          { namespace: ns },
        );
        return s;
      },
      { subresource: 'status' },
    );
    await until(
      'the victim restic to take its lock',
      async () => ((await lockFiles()).some((f) => !before.has(f)) ? true : undefined),
      60_000,
      10,
    );
    await victim.kill();
    const s = await getSession(kube, ns, `${inv}-1`);
    t.notOk(s.status?.targets?.[0]?.stats?.length, `${podName} died before reporting`);
    await rm(data, { recursive: true, force: true });
  };

  return { kube, ns, b, env, work, appData, lockFiles, lockHosts, survivor, nextAppSession, killMidBackup };
}

// ---- restore round trip, shared by the per-backend restore tests

export interface RoundTripBackend {
  backend: Record<string, unknown>;
  secret: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Backup by the sidecar process, then restore by the init-container process: the restored tree must be
 * byte-identical (content, modes, symlinks, empty dirs). The test initiates the target as the operator would.
 */
export async function restoreRoundTrip(t: Test, label: string, start: () => Promise<RoundTripBackend>): Promise<void> {
  {
    const { kube, namespace: ns, kubeconfigPath } = await useCluster(t);
    const b = await start();
    const work = await mkdtemp(join(tmpdir(), `agent-restore-${label}-`));
    t.teardown(async () => {
      await b.stop();
      await rm(work, { recursive: true, force: true });
    });
    const src = join(work, 'app-data');
    await seedTree(src, { files: 24, seed: label });
    const want = await tree(src);
    await makeRepository(kube, ns, 'repo', b.backend, b.secret);
    await makeBackupConfiguration(kube, ns, 'app-backup', {
      repo: 'repo',
      targetName: 'app',
      alias: 'app',
      paths: [src],
    });

    const sidecar = startAgent(
      sidecarArgs({
        invokerKind: 'BackupConfiguration',
        invokerName: 'app-backup',
        targetKind: 'Deployment',
        targetName: 'app',
        namespace: ns,
        scratch: join(work, 'tmp-sidecar'),
      }),
      { podName: 'app-7c9d-xk2lp', namespace: ns, kubeconfig: kubeconfigPath },
    );
    t.teardown(() => sidecar.stop());
    const done = await runSession(kube, ns, 'app-backup-1', 'app-backup', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'app',
    });
    const st = done.status?.targets?.[0]?.stats?.[0];
    t.equal(st?.phase, 'Succeeded', st?.error ?? '');
    t.equal(st?.hostname, 'app');
    await sidecar.stop();

    // The pod is recreated with an empty volume; the original stays aside for comparison.
    await rename(src, `${src}.orig`);
    const rs: RestoreSession = {
      apiVersion: apiVersionOf('RestoreSession'),
      kind: 'RestoreSession',
      metadata: { name: 'app-restore', namespace: ns },
      spec: {
        repository: { name: 'repo' },
        target: {
          alias: 'app',
          ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'app' },
          rules: [{ paths: [src] }],
        },
      },
    };
    await kube.create(rs);
    const initArgs = [
      'restore',
      '--invoker-kind=RestoreSession',
      '--invoker-name=app-restore',
      '--target-name=app',
      `--target-namespace=${ns}`,
      '--target-kind=Deployment',
      '--enable-cache=true',
      '--max-connections=0',
      '--metrics-enabled=true',
      '--pushgateway-url=http://127.0.0.1:1',
      '--use-kubeapiserver-fqdn-for-aks=true',
      '--scratch-dir',
      join(work, 'tmp-init'),
      '--restic-hostname-isolation',
    ];
    const pod = { podName: 'app-7c9d-zz9q1', namespace: ns, kubeconfig: kubeconfigPath };
    const r = await runAgent(initArgs, pod);
    t.equal(r.code, 0, r.output.slice(-2000));
    t.same(await tree(src), want, 'restored tree equals the original (content, modes, symlinks, empty dirs)');

    const got = await kube.get<RestoreSession>(apiVersionOf('RestoreSession'), 'RestoreSession', ns, 'app-restore');
    t.equal(got.status?.stats?.length, 1);
    t.equal(got.status?.stats?.[0]?.hostname, 'app');
    t.equal(got.status?.stats?.[0]?.phase, 'Succeeded');
    t.match(got.status?.stats?.[0]?.duration, /s$/);
    const ev = await until('restore event', async () => {
      const e = await eventsFor(kube, ns, 'app-restore');
      return e.length ? e : undefined;
    });
    t.equal(ev[0]?.reason, 'HostRestoreSucceeded');

    // An init container runs again on every pod restart: a restored host exits 0 at once, touching nothing.
    await rm(join(src, 'script.sh'));
    const again = await runAgent(initArgs, pod);
    t.equal(again.code, 0);
    t.match(again.output, /host already restored/);
    t.notOk(
      (await tree(src)).some((e) => e.path === 'script.sh'),
      'no second restore',
    );
    for (const key of ['RESTIC_PASSWORD', 'REST_SERVER_PASSWORD', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      const v = b.secret[key];
      if (!v) continue;
      t.notOk(
        r.output.includes(v) || sidecar.output().includes(v) || JSON.stringify(got).includes(v),
        `${key} not in output or status`,
      );
    }
  }
}

/**
 * One Deployment `app` backed up by a sidecar, as the agent failure files set it up: a seeded source tree under
 * `work`, Repository `repo` on `backend`, BackupConfiguration `app-backup`, and the sidecar (stopped at
 * teardown) whose children's argv are sampled from now on.
 */
export async function appBackupSidecar(
  t: Test,
  o: {
    kube: Kube;
    namespace: string;
    kubeconfig: string;
    work: string;
    backend: Record<string, unknown>;
    secret: Record<string, string>;
    podName: string;
    args?: string[];
  },
): Promise<{ sidecar: AgentProcess; sampler: { stop(): string[] }; ref: NonNullable<TargetPatch['ref']> }> {
  const src = join(o.work, 'data');
  await seedTree(src);
  await makeRepository(o.kube, o.namespace, 'repo', o.backend, o.secret);
  await makeBackupConfiguration(o.kube, o.namespace, 'app-backup', {
    repo: 'repo',
    targetName: 'app',
    alias: 'app',
    paths: [src],
  });
  const sidecar = startAgent(
    [
      ...sidecarArgs({
        invokerKind: 'BackupConfiguration',
        invokerName: 'app-backup',
        targetKind: 'Deployment',
        targetName: 'app',
        namespace: o.namespace,
        scratch: join(o.work, 'tmp'),
      }),
      ...(o.args ?? []),
    ],
    { podName: o.podName, namespace: o.namespace, kubeconfig: o.kubeconfig },
  );
  t.teardown(() => sidecar.stop());
  return {
    sidecar,
    sampler: sampleCmdlines(() => [sidecar.pid]),
    ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'app' },
  };
}

/** No secret value in the agent's logs, any child's argv, the sessions' status or their Events. */
export function assertNoSecrets(
  t: Test,
  secrets: readonly string[],
  seen: { output: string; argvs: readonly string[]; sessions: unknown; events: unknown },
): void {
  for (const secret of secrets) {
    t.notOk(seen.output.includes(secret), 'secret not in agent logs');
    t.notOk(
      seen.argvs.some((a) => a.includes(secret)),
      'secret not in any child argv',
    );
    t.notOk(JSON.stringify(seen.sessions).includes(secret), 'secret not in status');
    t.notOk(JSON.stringify(seen.events).includes(secret), 'secret not in events');
  }
}
