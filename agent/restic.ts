// RepoOps on top of shared/restic: one Restic per repository and run, credentials from the Secret in the
// child's environment only, cache under the agent's tmp dir, and (dev/test world only) restic started in
// its own UTS namespace named after the pod, so its locks carry the pod name exactly as in a real pod.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Restic,
  probeRepository,
  recoverLocks,
  resolveRepository,
  snapshotStats,
  withLockRecovery,
  type BackendSpec,
  type LockInfo,
  type RepositoryProbe,
  ownMemoryCounters,
  type MemoryCounters,
} from '../shared/restic/index.ts';
import type { AgentContext, LoadedRepository } from './common.ts';
import type { RepoOps } from './repo.ts';

export function commandPrefix(ctx: Pick<AgentContext, 'isolateHostname' | 'podName'>): string[] | undefined {
  if (!ctx.isolateHostname) return undefined;
  // unshare without --fork execs in place (a UTS namespace needs no new process), so signals reach restic.
  return ['unshare', '--uts', '/bin/sh', '-c', 'hostname "$0" && exec "$@"', ctx.podName];
}

let memory: { counters: MemoryCounters | undefined } | undefined;
/** This container's memory cgroup, found once: restic's OOM kills are told from it (docs/restic.md §2.5). */
function containerMemory(): MemoryCounters | undefined {
  memory ??= { counters: ownMemoryCounters() };
  return memory.counters;
}

export async function openRepo(
  loaded: LoadedRepository,
  ctx: AgentContext,
  isHolderAlive: (l: LockInfo) => Promise<boolean>,
): Promise<RepoOps> {
  await mkdir(ctx.tmpDir, { recursive: true });
  const scratch = await mkdtemp(join(ctx.tmpDir, 'scratch-'));
  const repo = await resolveRepository(loaded.repository.spec.backend as BackendSpec, loaded.secretData, {
    scratchDir: join(scratch, 'secret'),
    connections: ctx.maxConnections > 0 ? ctx.maxConnections : undefined,
  }).catch(async (err: unknown) => {
    await rm(scratch, { recursive: true, force: true });
    throw err;
  });
  const tmp = join(scratch, 'tmp');
  await mkdir(tmp, { recursive: true });
  const restic = new Restic({
    repo,
    bin: ctx.resticBinary,
    cache: ctx.enableCache ? { dir: join(ctx.tmpDir, 'restic-cache'), cleanup: true } : false,
    tmpDir: tmp,
    home: tmp,
    commandPrefix: commandPrefix(ctx),
    priority: ctx.priority,
    // One status line a second: agent/progress.ts writes the latest every few seconds.
    progressFps: 1,
    probeTimeoutMs: Math.max(ctx.backendTimeoutMs, 5_000),
    logger: ctx.log,
    memory: containerMemory(),
  });
  const lockOpts = (exclusive: boolean) => ({
    isHolderAlive,
    need: exclusive ? ('exclusive' as const) : ('shared' as const),
    waitMs: ctx.lockWaitMs,
    pollMs: 2_000,
    logger: ctx.log,
  });
  // Each step at most this long, so a silent endpoint fails the host well within 30 s.
  const preflightTimeout = Math.min(ctx.backendTimeoutMs, 10_000);
  let probe: RepositoryProbe | undefined;
  const probeOrUnknown = (): Promise<RepositoryProbe> =>
    probeRepository(repo.access, preflightTimeout).catch(() => ({ state: 'unknown' as const }));
  // A command that meets a lock recovers (holder-aware) and tries again, within the wait bound.
  const guarded = <T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> =>
    withLockRecovery(restic, fn, lockOpts(exclusive));

  return {
    display: repo.display,
    async preflight() {
      // Reachability and credentials straight at the backend, in milliseconds and naming what is wrong;
      // the password is checked by restic's first command, which fails at once (exit 12) without retrying.
      probe = await probeRepository(repo.access, preflightTimeout);
    },
    async ensureInitialized() {
      if ((probe ?? (await probeOrUnknown())).state === 'exists') return false;
      const r = await restic.initIfMissing();
      probe = { state: 'exists' };
      return r.created;
    },
    async exists() {
      const p = probe ?? (await probeOrUnknown());
      return p.state === 'unknown' ? undefined : p.state === 'exists';
    },
    async recoverLocks(o) {
      await recoverLocks(restic, lockOpts(o.exclusive));
    },
    async backup(path, o) {
      const result = await guarded(false, () =>
        restic.backup([path], {
          host: o.host,
          excludes: o.exclude,
          args: o.args,
          signal: o.signal,
          onProgress: o.onProgress,
        }),
      );
      return { result, stats: snapshotStats(result, path) };
    },
    async restore(o) {
      await guarded(false, () =>
        restic.restore(o.snapshot, {
          target: o.target,
          host: o.host,
          paths: o.path ? [o.path] : undefined,
          include: o.include,
          exclude: o.exclude,
          signal: o.signal,
        }),
      );
    },
    async snapshots(f) {
      return await restic.snapshots({ host: f.host, paths: f.path ? [f.path] : undefined });
    },
    async forget(policy) {
      const r = await guarded(true, () => restic.forget(policy));
      return { kept: r.kept.length, removed: r.removed.length };
    },
    async check() {
      const r = await guarded(true, () => restic.check());
      return { ok: r.ok, errors: r.errors };
    },
    async stats() {
      const s = await restic.stats();
      const snaps = await restic.snapshots();
      return { totalSize: s.totalSize, snapshotCount: snaps.length };
    },
    async withRestic(fn) {
      return await guarded(false, () => fn(restic));
    },
    async close() {
      await rm(scratch, { recursive: true, force: true });
    },
  };
}
