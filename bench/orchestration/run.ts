// Orchestration benchmark (`npm run bench:orchestration`): how fast the operator drives sessions, and what it
// costs in memory, measured in one run against a private control plane (real etcd + kube-apiserver, no
// kube-controller-manager, so Deployments stay objects and no pods churn) with the operator as a process —
// the image's entrypoint, leader election on — and THIS PROCESS PLAYING THE AGENTS: it writes a host's stats
// (docs/api.md §15 step 7) as soon as it sees the host's target initiated, so the figures are orchestration, not restic.
//   start20  : BackupSession creation → all 20 targets of a Parallel batch Running (median of 3 sessions)
//   handoff  : Sequential batch of 10: from the agent's final status write for member i to member i+1 initiated
//              (mean over the 9 hand-offs of each of 2 sessions)
//   rss1000  : operator VmRSS after it reconciled 1,000 BackupBatches × 3 members (all Ready, CPU quiet, then 20 s settled)
// Last line: `orchestration: start20=<ms>ms handoff=<ms>ms rss1000=<MiB>MiB`. Targets: ≤ 1,000 ms, ≤ 250 ms, ≤ 200 MiB.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import { generateCerts } from '../../certs/certs.ts';
import { apiVersionOf } from '../../shared/api/index.ts';
import { Kube, type KubeObject } from '../../shared/kube/client.ts';
import { Informer } from '../../shared/kube/informer.ts';
import { backupTargetPhase } from '../../shared/status/index.ts';
import { REPO_ROOT } from '../../test/world/bins.ts';
import { freePort, startControlPlane, stopControlPlane } from '../../test/world/controlplane.ts';
import { AGENT_IMAGE, OPERATOR_ENTRYPOINT } from '../../test/world/entrypoints.ts';
import { alive, killGroup, launchDetached } from '../../test/world/procs.ts';
import { agentReportsBackup, type SessionObj } from '../../test/support/operator-testkit.ts';
import { until } from '../../test/support/until.ts';

const NS = 'bench';
const BB = apiVersionOf('BackupBatch');
const BS = apiVersionOf('BackupSession');
const out = (m: string) => process.stdout.write(`${m}\n`);
type Phased = KubeObject & { status?: { phase?: string } };

function deployment(name: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS, labels: { app: name } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'busybox:1.36',
              command: ['sleep', 'infinity'],
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    },
  };
}

function batch(name: string, members: string[], order: 'Parallel' | 'Sequential'): KubeObject {
  return {
    apiVersion: BB,
    kind: 'BackupBatch',
    metadata: { name, namespace: NS },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      executionOrder: order,
      retentionPolicy: { name: 'keep-5', keepLast: 5, prune: true },
      members: members.map((m) => ({
        target: {
          alias: m,
          ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: m },
          paths: ['/data'],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      })),
    },
  };
}

function session(name: string, invoker: string): KubeObject {
  return {
    apiVersion: BS,
    kind: 'BackupSession',
    metadata: {
      name,
      namespace: NS,
      labels: { 'stash.appscode.com/invoker-type': 'BackupBatch', 'stash.appscode.com/invoker-name': invoker },
    },
    spec: { invoker: { apiGroup: 'stash.appscode.com', kind: 'BackupBatch', name: invoker } },
  };
}

/** Runs fn over items with at most `n` in flight. */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

async function allReady(kube: Kube, names: string[], ms: number): Promise<void> {
  const want = new Set(names);
  await until(
    `${names.length} BackupBatches Ready`,
    async () => {
      const l = await kube.list<Phased>(BB, 'BackupBatch', NS);
      return (
        l.items.filter((b) => want.has(b.metadata?.name ?? '') && b.status?.phase === 'Ready').length === want.size
      );
    },
    ms,
    names.length > 10 ? 3_000 : 200,
  );
}

async function cpuTicks(pid: number): Promise<number> {
  const f = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
}

async function statusKiB(pid: number, key: string): Promise<number> {
  const m = (await readFile(`/proc/${pid}/status`, 'utf8')).match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) : NaN;
}

/** Runtime tuning the operator container gets in manifests/webhook/operator.yaml (NODE_OPTIONS, MALLOC_ARENA_MAX). */
async function operatorRuntimeEnv(): Promise<Record<string, string>> {
  const docs = parseAllDocuments(await readFile(join(REPO_ROOT, 'manifests', 'webhook', 'operator.yaml'), 'utf8')).map(
    (d) => d.toJSON() as { kind?: string; spec?: any },
  );
  const containers = (docs.find((d) => d?.kind === 'Deployment')?.spec?.template?.spec?.containers ?? []) as Array<{
    env?: Array<{ name: string; value?: string }>;
  }>;
  const env: Record<string, string> = {};
  for (const e of containers[0]?.env ?? [])
    if (['NODE_OPTIONS', 'MALLOC_ARENA_MAX'].includes(e.name) && e.value !== undefined) env[e.name] = e.value;
  return env;
}

/** Asks the operator for a heap snapshot (it was started with --heapsnapshot-signal) and waits until it is written. */
async function heapSnapshot(pid: number, dir: string): Promise<void> {
  const count = async () => (await readdir(dir)).filter((f) => f.endsWith('.heapsnapshot')).length;
  const before = await count();
  process.kill(pid, 'SIGUSR2');
  await until('the heap snapshot', async () => (await count()) > before, 120_000, 500);
  // The file appears when writing starts; wait for its size to settle.
  let last = -1;
  await until(
    'the heap snapshot to be complete',
    async () => {
      const files = (await readdir(dir)).filter((f) => f.endsWith('.heapsnapshot')).sort();
      const size = (await stat(join(dir, files.at(-1)!))).size;
      const done = size === last && size > 0;
      last = size;
      return done;
    },
    300_000,
    2_000,
  );
  out(`heap snapshot written to ${dir}`);
}

/** The operator's latest memstats line, in MiB: what of the RSS is V8 heap (used of committed, per space) and what is not. */
async function memBreakdown(file: string): Promise<string> {
  const lines = (await readFile(file, 'utf8')).trim().split('\n');
  const m = JSON.parse(lines.at(-1)!) as {
    rss: number;
    heapTotal: number;
    heapUsed: number;
    external: number;
    arrayBuffers: number;
    spaces: Record<string, { used: number; size: number }>;
    gc?: { scavenges: number; scavengeMs: number; majors: number; majorMs: number; otherMs: number };
  };
  const mib = (x: number) => (x / 1048576).toFixed(0);
  const spaces = Object.entries(m.spaces)
    .filter(([, s]) => s.size > 1048576)
    .map(([k, s]) => `${k} ${mib(s.used)}/${mib(s.size)}`)
    .join(', ');
  return (
    `rss ${mib(m.rss)}, heap used ${mib(m.heapUsed)} of ${mib(m.heapTotal)} committed (${spaces}), external ${mib(m.external)}, arrayBuffers ${mib(m.arrayBuffers)}, outside the V8 heap ${mib(m.rss - m.heapTotal)}` +
    (m.gc
      ? `; GC so far: ${m.gc.scavenges} scavenges ${m.gc.scavengeMs.toFixed(0)} ms, ${m.gc.majors} mark-compacts ${m.gc.majorMs.toFixed(0)} ms, other ${m.gc.otherMs.toFixed(0)} ms`
      : '')
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stash-bench-orch-'));
  let operatorPid = 0;
  let kube: Kube | undefined;
  const informers: Array<Informer<SessionObj>> = [];
  try {
    out('starting a private control plane (etcd + kube-apiserver, no controller manager)');
    const cp = await startControlPlane(dir, { withControllerManager: false });
    kube = Kube.load(cp.kubeconfig, 'stash-bench');
    for (const ns of ['stash-system', NS])
      await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await kube.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'repo-secret', namespace: NS },
      stringData: { RESTIC_PASSWORD: 'bench-only' },
    });
    await kube.create({
      apiVersion: apiVersionOf('Repository'),
      kind: 'Repository',
      metadata: { name: 'repo', namespace: NS },
      spec: {
        backend: {
          storageSecretName: 'repo-secret',
          local: { mountPath: '/safe/repo', hostPath: { path: join(dir, 'repo') } },
        },
      },
    });

    const certs = await generateCerts({
      dir: join(dir, 'certs'),
      serviceName: 'stash-ts-operator',
      namespace: 'stash-system',
      days: 1,
    });
    const [, script] = OPERATOR_ENTRYPOINT;
    // The operator runs with the runtime settings its Deployment gives it (manifests/webhook/operator.yaml).
    const runtimeEnv = await operatorRuntimeEnv();
    out(
      `operator runtime env from its Deployment: ${
        Object.entries(runtimeEnv)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ') || '(none)'
      }`,
    );
    // BENCH_HEAP_DIR=<dir>: the operator writes a V8 heap snapshot there on SIGUSR2, which the bench sends after
    // each measurement (never before one), to see where the memory goes.
    const heapDir = process.env.BENCH_HEAP_DIR;
    const diag = heapDir
      ? [
          '--heapsnapshot-signal=SIGUSR2',
          `--diagnostic-dir=${heapDir}`,
          '--import',
          join(import.meta.dirname, 'memstats.ts'),
        ]
      : [];
    operatorPid = launchDetached(
      join(dir, 'logs'),
      'operator',
      join(REPO_ROOT, 'node_modules', '.bin', 'node'),
      [...diag, script],
      {
        cwd: REPO_ROOT,
        env: {
          ...runtimeEnv,
          STASH_KUBECONFIG: cp.kubeconfig,
          POD_NAMESPACE: 'stash-system',
          POD_NAME: 'stash-bench-operator',
          STASH_WEBHOOK_HOST: '127.0.0.1',
          STASH_WEBHOOK_PORT: String(await freePort()),
          STASH_METRICS_PORT: String(await freePort()),
          ...(heapDir ? { BENCH_MEMSTATS_FILE: join(heapDir, `memstats-${process.pid}.jsonl`) } : {}),
          STASH_TLS_CERT_FILE: certs.certFile,
          STASH_TLS_KEY_FILE: certs.keyFile,
          STASH_AGENT_IMAGE: AGENT_IMAGE,
        },
      },
    );
    await until(
      'the operator holding its Lease',
      async () => {
        if (!alive(operatorPid))
          throw new Error(
            `operator exited: ${(await readFile(join(dir, 'logs', 'operator.log'), 'utf8')).slice(-2000)}`,
          );
        const l = await kube!.getOrNull<KubeObject & { spec?: { holderIdentity?: string } }>(
          'coordination.k8s.io/v1',
          'Lease',
          'stash-system',
          'stash-operator',
        );
        return l?.spec?.holderIdentity === 'stash-bench-operator';
      },
      60_000,
      200,
    );
    out(
      `operator process ${operatorPid} is the leader (admission webhooks not registered: the reconcile path injects sidecars)`,
    );

    // The test plays every agent: a target seen initiated gets its host's Succeeded stats at once, unless held.
    const inf = new Informer<SessionObj>(kube, { apiVersion: BS, kind: 'BackupSession', namespace: NS });
    informers.push(inf);
    const initiatedAt = new Map<string, number>();
    const reportedAt = new Map<string, number>();
    const hold = new Set<string>();
    const seen = (s: SessionObj) => {
      const name = s.metadata?.name ?? '';
      for (const tg of s.status?.targets ?? []) {
        const key = `${name}/${tg.ref?.name}`;
        if (tg.totalHosts === undefined || tg.totalHosts === null || backupTargetPhase(tg) !== 'Running') continue;
        if (!initiatedAt.has(key)) initiatedAt.set(key, performance.now());
        if (hold.has(name) || reportedAt.has(key)) continue;
        reportedAt.set(key, -1);
        void agentReportsBackup(
          kube!,
          NS,
          name,
          { apiVersion: 'apps/v1', kind: 'Deployment', name: tg.ref!.name, namespace: NS },
          tg.ref!.name,
          'Succeeded',
        ).then(
          () => reportedAt.set(key, performance.now()),
          (err: unknown) => {
            // 20 agents racing on one status: a write that ran out of conflict retries goes again shortly (the
            // next update event may already have passed, and a session waiting for it would never finish).
            reportedAt.delete(key);
            if (!/409/.test(String(err))) out(`agent write failed: ${String(err)}`);
            setTimeout(() => {
              const cur = inf.get(NS, name);
              if (cur) seen(cur);
            }, 50);
          },
        );
      }
    };
    inf.on('add', seen).on('update', seen).start();
    await inf.waitForSync();
    const phaseOf = (name: string) => inf.get(NS, name)?.status?.phase;

    // start20
    const par = Array.from({ length: 20 }, (_, i) => `par-${i}`);
    await pool(par, 10, (d) => kube!.create(deployment(d)));
    await kube.create(batch('par20', par, 'Parallel'));
    await allReady(kube, ['par20'], 60_000);
    const starts: number[] = [];
    for (let r = 0; r < 3; r++) {
      const name = `par20-${r}`;
      hold.add(name);
      const t0 = performance.now();
      await kube.create(session(name, 'par20'));
      await until(`${name}: 20 targets Running`, () => par.every((m) => initiatedAt.has(`${name}/${m}`)), 30_000, 5);
      starts.push(Math.max(...par.map((m) => initiatedAt.get(`${name}/${m}`)!)) - t0);
      hold.delete(name);
      seen(inf.get(NS, name)!);
      await until(`${name} Succeeded`, () => phaseOf(name) === 'Succeeded', 30_000, 20);
    }
    const start20 = median(starts);
    out(`start20: ${starts.map((x) => x.toFixed(0)).join(', ')} ms → median ${start20.toFixed(0)} ms`);

    // handoff
    const seq = Array.from({ length: 10 }, (_, i) => `seq-${i}`);
    await pool(seq, 10, (d) => kube!.create(deployment(d)));
    await kube.create(batch('seq10', seq, 'Sequential'));
    await allReady(kube, ['seq10'], 60_000);
    const handoffs: number[] = [];
    for (let r = 0; r < 2; r++) {
      const name = `seq10-${r}`;
      await kube.create(session(name, 'seq10'));
      await until(`${name} Succeeded`, () => phaseOf(name) === 'Succeeded', 60_000, 20);
      for (let i = 0; i + 1 < seq.length; i++)
        handoffs.push(initiatedAt.get(`${name}/${seq[i + 1]}`)! - reportedAt.get(`${name}/${seq[i]}`)!);
    }
    const handoff = mean(handoffs);
    out(
      `handoff: mean ${handoff.toFixed(0)} ms, median ${median(handoffs).toFixed(0)} ms, max ${Math.max(...handoffs).toFixed(0)} ms over ${handoffs.length} hand-offs`,
    );

    // rss1000
    const N = 1000;
    const names = Array.from({ length: N }, (_, i) => `b${String(i).padStart(4, '0')}`);
    const t0 = performance.now();
    for (let c = 0; c < N; c += 100) {
      const chunk = names.slice(c, c + 100);
      await pool(
        chunk.flatMap((b) => [`${b}-db`, `${b}-web`, `${b}-cache`]),
        16,
        (d) => kube!.create(deployment(d)),
      );
      await pool(chunk, 16, (b) => kube!.create(batch(b, [`${b}-db`, `${b}-web`, `${b}-cache`], 'Parallel')));
      out(
        `  created ${c + chunk.length} BackupBatches (${((performance.now() - t0) / 1000).toFixed(0)} s), operator RSS ${((await statusKiB(operatorPid, 'VmRSS')) / 1024).toFixed(0)} MiB`,
      );
    }
    // Generous: on a shared machine the reconcile of 3,000 workloads can take many minutes; the figure is the RSS.
    await allReady(kube, names, 1_800_000);
    out(`all ${N} BackupBatches Ready after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    // Settled: the operator used under 5% of a core over the last 3 s.
    let prev = await cpuTicks(operatorPid);
    await until(
      'the operator to go quiet',
      async () => {
        await sleep(3_000);
        const now = await cpuTicks(operatorPid);
        const busy = (now - prev) / 100 / 3;
        prev = now;
        return busy < 0.05;
      },
      180_000,
      0,
    );
    // The figure is the resident size of an operator that holds 1,000 batches, not of one still digesting the
    // burst: V8 returns the burst's garbage when its memory reducer runs (a few seconds after the work stops), so
    // the bench samples for 20 s more and reports the last value, next to the value at quiet and the peak.
    const atQuiet = (await statusKiB(operatorPid, 'VmRSS')) / 1024;
    const series: number[] = [];
    for (let i = 0; i < 10; i++) {
      await sleep(2_000);
      series.push((await statusKiB(operatorPid, 'VmRSS')) / 1024);
    }
    const rss = series[series.length - 1]!;
    const hwm = (await statusKiB(operatorPid, 'VmHWM')) / 1024;
    out(
      `rss1000: VmRSS ${rss.toFixed(0)} MiB settled (${atQuiet.toFixed(0)} MiB when the operator went quiet; every 2 s after: ${series.map((x) => x.toFixed(0)).join(' ')}; peak VmHWM ${hwm.toFixed(0)} MiB) with ${N} BackupBatches × 3 members reconciled`,
    );
    if (heapDir) {
      out(`memory breakdown (MiB): ${await memBreakdown(join(heapDir, `memstats-${process.pid}.jsonl`))}`);
      await heapSnapshot(operatorPid, heapDir);
    }
    return `orchestration: start20=${start20.toFixed(0)}ms handoff=${handoff.toFixed(0)}ms rss1000=${rss.toFixed(0)}MiB`;
  } finally {
    for (const i of informers) await i.stop();
    kube?.close();
    await killGroup(operatorPid, 5_000);
    await stopControlPlane(dir);
    await rm(dir, { recursive: true, force: true });
  }
}

const last = await main();
out(
  `targets: start20 ≤ 1000 ms, handoff ≤ 250 ms, rss1000 ≤ 200 MiB (operator as a process; agents played by the bench)`,
);
out(last);
