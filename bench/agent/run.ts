// Agent overhead benchmark (docs/architecture.md §6): the same data through plain restic and through the agent, in one run.
//   backup   : `restic backup` vs the sidecar's share of a BackupSession, from the operator's initiation write
//              to this host's stats in the session status (the sidecar process is already running, as in a pod)
//   restore  : `restic restore` vs the whole `restore` init-container process (start to exit, status written)
//   rebackup : the unchanged data again, both ways
//   idle_rss : the sidecar's VmRSS 60 s after its start, idle and watching its sessions, run with the image's
//              Node options (Dockerfile.agent's NODE_OPTIONS) — what every backed-up pod pays
// Each ratio is the median agent time / the median restic time over several alternating runs; the last line
// is `agent: backup=<x> restore=<y> rebackup=<z> idle_rss=<n>MiB`. The control plane is the test world's
// (test/world); the dataset (≥ 1 GiB, mixed sizes) lives in a temp dir that is removed at the end.
// The agent runs as its image runs it: with NODE_COMPILE_CACHE pointing at a compile cache filled once before
// any timing, as Dockerfile.agent fills it at build time (the start-up figures with and without it are printed).
// Development knobs: BENCH_AGENT_SCALE=0.1 shrinks the dataset (figures are then NOT the issue's; they only
// show fixed costs), BENCH_AGENT_LOG=debug prints the agents' logs, BENCH_AGENT_REPS / BENCH_AGENT_RESTORE_REPS set
// the rounds of the first backup (3) and of restore (5), BENCH_AGENT_ONLY=restore times restores only.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { apiVersionOf } from '../../shared/api/index.ts';
import { Kube } from '../../shared/kube/client.ts';
import { ensureTestWorld } from '../../test/world/harness.ts';
import { resticBin } from '../../test/backends/bins.ts';
import type { BackupSession, Repository } from '../../agent/types.ts';
import { mergeBackupSessionStatus } from '../../shared/status/index.ts';
import {
  AGENT,
  NODE,
  createSession,
  makeBackupConfiguration,
  makeRepository,
  sidecarArgs,
  startAgent,
} from '../../test/support/agent-world.ts';

const MiB = 1024 * 1024;
const RESTIC = resticBin();
if (!RESTIC) throw new Error('restic not found: run hack/build-bins.sh restic');
const log = (m: string) => process.stdout.write(`${m}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
/** NODE_OPTIONS of the agent image, read from Dockerfile.agent (empty when it sets none). */
function imageNodeOptions(): string {
  const text = readFileSync(join(import.meta.dirname, '..', '..', 'Dockerfile.agent'), 'utf8');
  return /NODE_OPTIONS="([^"]*)"/.exec(text)?.[1] ?? '';
}
function vmRssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return kb / 1024;
}

async function dataset(dir: string, scale: number): Promise<number> {
  // Mixed sizes: a few large files, many medium, lots of small ones, in nested directories.
  const plan: Array<[count: number, size: number]> = (
    [
      [10, 64 * MiB],
      [300, MiB],
      [3000, 32 * 1024],
      [6000, 2 * 1024],
    ] as Array<[number, number]>
  ).map(([count, size]) => [Math.max(1, Math.round(count * scale)), size]);
  let total = 0;
  let i = 0;
  for (const [count, size] of plan) {
    for (let k = 0; k < count; k++, i++) {
      const sub = join(dir, `d${i % 23}`, `e${i % 7}`);
      await mkdir(sub, { recursive: true });
      await writeFile(join(sub, `f${i}.bin`), randomBytes(size));
      total += size;
    }
  }
  return total;
}

function run(bin: string, args: string[], env: Record<string, string>, onLine?: (l: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    if (onLine)
      p.stdout.on('data', (b: Buffer) =>
        b
          .toString()
          .split('\n')
          .filter(Boolean)
          .forEach((l) => onLine(`${Math.round(performance.now() - t0)}ms ${l.slice(0, 300)}`)),
      );
    else p.stdout.resume();
    p.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-2000)));
    p.once('exit', (code) =>
      code === 0
        ? resolve(performance.now() - t0)
        : reject(new Error(`${bin} ${args.join(' ')} exited ${code}: ${err}`)),
    );
  });
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'stash-bench-agent-'));
  const state = await ensureTestWorld(log);
  const kube = Kube.load(state.kubeconfig, 'stash-bench');
  const ns = `bench-agent-${randomBytes(3).toString('hex')}`;
  await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  let sidecar: ReturnType<typeof startAgent> | undefined;
  try {
    const data = join(root, 'data');
    const scale = Number(process.env.BENCH_AGENT_SCALE ?? 1);
    const bytes = await dataset(data, scale);
    log(
      `dataset: ${(bytes / MiB).toFixed(0)} MiB in ${data}${scale !== 1 ? ` (BENCH_AGENT_SCALE=${scale}: development figures only)` : ''}`,
    );
    // The image's compile cache (Dockerfile.agent): filled by one untimed start, as at image build.
    const compileCache = join(root, 'node-compile-cache');
    const agentStart = async (cache: boolean) => {
      const t0 = performance.now();
      execFileSync(NODE, [AGENT, 'restore', '--help'], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(cache ? { NODE_COMPILE_CACHE: compileCache } : {}) },
        stdio: 'ignore',
      });
      return performance.now() - t0;
    };
    await agentStart(true);
    // …and what a run loads on demand, as the image's build step does.
    execFileSync(
      NODE,
      [
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(join(AGENT, '..', 'restic.ts'))}); await import(${JSON.stringify(join(AGENT, '..', 'restore.ts'))})`,
      ],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_COMPILE_CACHE: compileCache }, stdio: 'ignore' },
    );
    const starts = { cold: Infinity, cached: Infinity };
    for (let i = 0; i < 3; i++) {
      starts.cold = Math.min(starts.cold, await agentStart(false));
      starts.cached = Math.min(starts.cached, await agentStart(true));
    }
    log(
      `agent start-up (node + modules, best of 3): ${starts.cold.toFixed(0)} ms without the image's compile cache, ${starts.cached.toFixed(0)} ms with it`,
    );
    const agentLog = process.env.BENCH_AGENT_LOG;
    const password = randomBytes(12).toString('hex');
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: root,
      TMPDIR: root,
      RESTIC_PASSWORD: password,
      RESTIC_PROGRESS_FPS: String(1 / 60),
    };
    // A first backup needs an empty repository: every repetition gets fresh ones (initialised, untimed).
    let rep = 0;
    let plainRepo = '';
    let agentRepo = '';
    const freshRepos = async () => {
      rep++;
      plainRepo = join(root, `repo-plain-${rep}`);
      agentRepo = join(root, `repo-agent-${rep}`);
      for (const r of [plainRepo, agentRepo]) await run(RESTIC!, ['init', '-r', r], env);
    };
    await freshRepos();

    // The same flags the agent passes (cache with cleanup, JSON output, stable host).
    const plainBackup = () =>
      run(
        RESTIC!,
        [
          '--json',
          '--cache-dir',
          join(root, 'cache-plain'),
          '--cleanup-cache',
          '-r',
          plainRepo,
          'backup',
          '--host',
          'bench',
          '--',
          data,
        ],
        env,
      );
    // Restores compare like with like: the same snapshot of the same repository, the same cache, into the
    // same (emptied) place; only the agent's own work differs.
    const plainRestore = async () => {
      await rm(data, { recursive: true, force: true });
      execFileSync('sync');
      return run(
        RESTIC!,
        [
          '--json',
          '--cache-dir',
          join(root, 'agent-tmp', 'restic-cache'),
          '--cleanup-cache',
          '-r',
          agentRepo,
          'restore',
          'latest',
          '--target',
          '/',
          '--host',
          'bench',
          '--path',
          data,
        ],
        env,
      );
    };

    await makeRepository(
      kube,
      ns,
      'repo',
      { local: { mountPath: agentRepo, hostPath: { path: agentRepo } } },
      { RESTIC_PASSWORD: password },
    );
    await makeBackupConfiguration(kube, ns, 'bench', {
      repo: 'repo',
      targetName: 'bench',
      alias: 'bench',
      paths: [data],
    });
    sidecar = startAgent(
      sidecarArgs({
        invokerKind: 'BackupConfiguration',
        invokerName: 'bench',
        targetKind: 'Deployment',
        targetName: 'bench',
        namespace: ns,
        scratch: join(root, 'agent-tmp'),
      }).filter((a) => a !== '--restic-hostname-isolation'),
      {
        podName: 'bench-6d5f-abcde',
        namespace: ns,
        kubeconfig: state.kubeconfig,
        extra: {
          STASH_LOG_LEVEL: agentLog ?? 'warn',
          NODE_COMPILE_CACHE: compileCache,
          NODE_ENV: 'production',
          NODE_OPTIONS: imageNodeOptions(),
        },
      },
    );
    const sidecarStarted = performance.now();
    const s = sidecar;
    const deadline = Date.now() + 60_000;
    while (!(await kube.getOrNull('coordination.k8s.io/v1', 'Lease', ns, 'lock-deployment-bench-backup'))) {
      if (Date.now() > deadline) throw new Error(`sidecar did not start:\n${s.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1000)); // informer synced
    // Idle: started, leader, watching its sessions, no session yet.
    await new Promise((r) => setTimeout(r, Math.max(0, 60_000 - (performance.now() - sidecarStarted))));
    const idleRss = vmRssMiB(s.pid);
    log(`idle sidecar: VmRSS ${idleRss.toFixed(1)} MiB 60 s after start (NODE_OPTIONS="${imageNodeOptions()}")`);

    const results: Record<string, { restic: number; agent: number }> = {};
    let n = 0;
    const agentBackup = async () => {
      const name = `bench-${++n}`;
      await createSession(kube, ns, name, 'BackupConfiguration', 'bench');
      const watch = kube.watch<BackupSession>(
        `/apis/${apiVersionOf('BackupSession')}/namespaces/${ns}/backupsessions`,
        { fieldSelector: `metadata.name=${name}` },
      );
      const first = watch.next();
      await first;
      const t0 = performance.now();
      // The operator's initiation write (docs/api.md §14.3 step 6) starts the clock.
      await kube.update<BackupSession>(
        apiVersionOf('BackupSession'),
        'BackupSession',
        ns,
        name,
        (x) => {
          x.status = mergeBackupSessionStatus(
            x.status,
            {
              targets: [
                {
                  ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'bench' },
                  totalHosts: 1,
                  preBackupActions: ['InitializeBackendRepository'],
                },
              ],
            },
            { namespace: ns },
          );
          return x;
        },
        { subresource: 'status' },
      );
      for await (const ev of watch) {
        const st = ev.object.status?.targets?.[0]?.stats?.[0];
        if (st) {
          const ms = performance.now() - t0;
          await watch.return(undefined);
          if (st.phase !== 'Succeeded') throw new Error(`agent backup failed: ${st.error}`);
          return ms;
        }
      }
      throw new Error('watch ended');
    };
    const agentRestore = async () => {
      const name = `bench-restore-${++n}`;
      await kube.create({
        apiVersion: apiVersionOf('RestoreSession'),
        kind: 'RestoreSession',
        metadata: { name, namespace: ns },
        spec: {
          repository: { name: 'repo' },
          target: {
            alias: 'bench',
            ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'bench' },
            rules: [{ paths: [data] }],
          },
        },
      });
      // The pod's volume starts empty.
      await rm(data, { recursive: true, force: true });
      execFileSync('sync');
      const args = [
        AGENT,
        'restore',
        '--invoker-kind=RestoreSession',
        `--invoker-name=${name}`,
        '--target-name=bench',
        `--target-namespace=${ns}`,
        '--target-kind=Deployment',
        '--enable-cache=true',
        '--max-connections=0',
        '--scratch-dir',
        join(root, 'agent-tmp'),
      ];
      return run(
        NODE,
        args,
        {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          POD_NAME: 'bench-6d5f-fghij',
          NODE_NAME: 'node-1',
          POD_NAMESPACE: ns,
          KUBECONFIG: state.kubeconfig,
          STASH_RESTIC_BINARY: RESTIC!,
          STASH_LOG_LEVEL: agentLog ?? 'warn',
          NODE_COMPILE_CACHE: compileCache,
        },
        agentLog ? (line) => log(`  agent: ${line}`) : undefined,
      );
    };

    // Each measured run starts with no dirty pages left by the previous one: writeback throttling would
    // otherwise charge one side for the other's writes.
    const settled = async (f: () => Promise<number>) => {
      execFileSync('sync');
      return await f();
    };
    const pair = async (
      label: string,
      plainRaw: () => Promise<number>,
      agentRaw: () => Promise<number>,
      reps: number,
    ) => {
      const plain = () => settled(plainRaw);
      const agent = () => settled(agentRaw);
      const ps: number[] = [];
      const as: number[] = [];
      for (let i = 0; i < reps; i++) {
        // Alternate the order so neither side always runs on a warmer machine.
        if (i % 2 === 0) {
          ps.push(await plain());
          as.push(await agent());
        } else {
          as.push(await agent());
          ps.push(await plain());
        }
      }
      const p = median(ps);
      const a = median(as);
      log(
        `  ${label} runs (s): restic ${ps.map((x) => (x / 1000).toFixed(2)).join(' ')}, agent ${as.map((x) => (x / 1000).toFixed(2)).join(' ')}`,
      );
      results[label] = { restic: p, agent: a };
      log(`${label}: restic ${(p / 1000).toFixed(3)} s, agent ${(a / 1000).toFixed(3)} s, ratio ${(a / p).toFixed(3)}`);
    };

    const useAgentRepo = async () => {
      await kube.update<Repository>(apiVersionOf('Repository'), 'Repository', ns, 'repo', (r) => {
        r.spec.backend = {
          storageSecretName: 'repo-secret',
          local: { mountPath: agentRepo, hostPath: { path: agentRepo } },
        } as Repository['spec']['backend'];
        return r;
      });
    };
    const only = process.env.BENCH_AGENT_ONLY;
    if (only === 'restore') {
      await plainBackup();
      await agentBackup();
    } else {
      const reps = Number(process.env.BENCH_AGENT_REPS ?? 3);
      const firstPlain: number[] = [];
      const firstAgent: number[] = [];
      for (let i = 0; i < reps; i++) {
        if (i > 0) {
          await freshRepos();
          await useAgentRepo();
        }
        execFileSync('sync');
        if (i % 2 === 0) {
          firstPlain.push(await plainBackup());
          execFileSync('sync');
          firstAgent.push(await agentBackup());
        } else {
          firstAgent.push(await agentBackup());
          execFileSync('sync');
          firstPlain.push(await plainBackup());
        }
      }
      const p = median(firstPlain);
      const a = median(firstAgent);
      results.backup = { restic: p, agent: a };
      log(
        `  backup runs (s): restic ${firstPlain.map((x) => (x / 1000).toFixed(2)).join(' ')}, agent ${firstAgent.map((x) => (x / 1000).toFixed(2)).join(' ')}`,
      );
      log(
        `backup: restic ${(p / 1000).toFixed(3)} s, agent ${(a / 1000).toFixed(3)} s, ratio ${(a / p).toFixed(3)} (median of ${reps}, fresh repositories)`,
      );
      await pair('rebackup', plainBackup, agentBackup, 5);
    }
    // Every timed restore must follow a restore of the same data: the first one after the backups otherwise
    // runs on a machine without the previous restore's 1 GiB of freshly written and deleted files, and
    // in the alternating order that clean slot always went to plain restic. One untimed restore evens it.
    await settled(plainRestore);
    // A restore writes 1 GiB; on a shared machine one slow writeback swings a single run by half. Five
    // alternating rounds and their medians keep one such run from deciding the ratio.
    await pair('restore', plainRestore, agentRestore, Number(process.env.BENCH_AGENT_RESTORE_REPS ?? 5));
    const r = (k: string) => ((results[k]?.agent ?? NaN) / (results[k]?.restic ?? NaN)).toFixed(3);
    if (agentLog) log(`sidecar log:\n${sidecar.output()}`);
    log(`load average: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
    log(
      `agent: backup=${r('backup')} restore=${r('restore')} rebackup=${r('rebackup')} idle_rss=${idleRss.toFixed(0)}MiB`,
    );
  } finally {
    await sidecar?.stop();
    await kube.delete('v1', 'Namespace', undefined, ns).catch(() => undefined);
    kube.close();
    await rm(root, { recursive: true, force: true });
  }
}

await main();
