// Holder-aware stale-lock recovery (docs/architecture.md §4).
//
// Why not restic's own rule: `restic unlock` calls a lock stale when it is older than 30 min, or when its
// hostname equals OURS and its pid is dead here. In Kubernetes the holder is another pod: a lock left by
// a killed pod blocks exclusive work for 30 minutes, and with shared hostnames (hostNetwork) `unlock`
// could even delete a LIVE lock. `unlock --remove-all` is worse: it removes live locks, and a prune that
// then runs can delete data a running backup still references. So we never call it.
//
// What a lock says about its holder: restic writes os.Hostname() (no flag or env changes it), the pid,
// user, uid/gid, a time refreshed every 5 minutes, and the exclusive flag. In a pod, os.Hostname() is
// the POD NAME (unless spec.hostname is set; with hostNetwork it is the NODE name). The agent therefore
// backs `isHolderAlive` with a pod lookup: pod `lock.hostname` in the namespace gone, or in phase
// Succeeded/Failed → dead. Anything it cannot decide (API error, hostNetwork node names, unknown host)
// must answer "alive": a wrong "dead" can corrupt the repository, a wrong "alive" only waits.
// Restic.lockHostname() tells the agent what name its own locks carry. Where several "pods" share one
// hostname and one PID namespace (the local pod runner runs agents as plain processes), the agent can
// decide locks with its own hostname by pid instead: localHolderAlive().
//
// Removing ONE lock: restic has no command for that, so the lock file `locks/<id>` is deleted through
// the backend directly. Lock ids are content hashes: a holder that refreshed wrote a NEW id, so
// deleting an id never removes a newer lock of a live process.
// - local: unlink <repo>/locks/<id>
// - rest:  HTTP DELETE <url>/locks/<id> (rest-server allows it unless --append-only; then we report it)
// - s3:    signed DELETE of <bucket>/<prefix>/locks/<id>
// - gcs, azure, swift, b2: no direct client here. A dead holder's lock is removed by plain `restic
//   unlock` once it is older than restic's 30-minute limit; before that we wait, and then fail naming
//   the holder.
import type { Logger } from 'pino';
import { StashError } from '../errors.ts';
import type { Restic } from './command.ts';
import { LockedError } from './errors.ts';
import type { LockHolder, LockInfo } from './output.ts';
import { directLockRemover, type LockRemover } from './lock-remover.ts';

/**
 * For locks written under OUR hostname: is the holder pid alive in this PID namespace? undefined for
 * other hostnames (ask Kubernetes). Valid only when our hostname is not shared with processes we cannot
 * see: true for the local pod runner (one machine, one PID namespace) and for a pod's own restarted
 * containers; NOT with hostNetwork (the hostname is the node's, shared by every such pod on the node).
 * EPERM means the pid exists (owned by someone else): alive.
 */
export function localHolderAlive(lock: Pick<LockInfo, 'hostname' | 'pid'>, ownHostname: string): boolean | undefined {
  if (lock.hostname !== ownHostname) return undefined;
  if (!Number.isInteger(lock.pid) || lock.pid <= 0) return true;
  try {
    process.kill(lock.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

const DEFAULT_POLL_MS = 5_000;

/** restic's own staleness age (internal/restic/lock.go). */
export const RESTIC_STALE_AFTER_MS = 30 * 60_000;

export function describeLock(l: LockInfo): string {
  return `${l.exclusive ? 'exclusive' : 'shared'} lock ${l.id.slice(0, 8)} held by pid ${l.pid} on ${l.hostname || '?'} (user ${l.username || '?'}, since ${l.time || '?'})`;
}

export function holderOf(l: LockInfo): LockHolder {
  return {
    pid: l.pid,
    hostname: l.hostname,
    username: l.username,
    uid: l.uid,
    gid: l.gid,
    exclusive: l.exclusive,
    createdAt: l.time,
    age: undefined,
    storageIdPrefix: l.id.slice(0, 8),
  };
}

export interface LockRecoveryOptions {
  /**
   * Decides whether a lock's holder still runs. Must answer true when unsure. The agent maps
   * `lock.hostname` (a pod name, see header) to a pod and checks it exists and is not finished.
   */
  isHolderAlive: (lock: LockInfo) => Promise<boolean>;
  /** What we are about to do: an exclusive command conflicts with any lock, a shared one only with exclusive locks. */
  need: 'exclusive' | 'shared';
  /** How long to wait for live holders before failing; default 10 min. */
  waitMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
  /** Default: directLockRemover(restic.repo.access). */
  remover?: LockRemover;
  logger?: Logger;
  /** For tests: one fake clock for both lock ages and elapsed waiting. */
  now?: () => number;
}

/**
 * Elapsed waiting is measured on the monotonic clock: a wall-clock step (a VM resumed, NTP) must neither spend
 * the wait bound in an instant nor stretch it. Lock ages compare with restic's wall-clock lock times.
 */
function clocks(o: LockRecoveryOptions): { wall: () => number; elapsed: () => number } {
  return o.now ? { wall: o.now, elapsed: o.now } : { wall: Date.now, elapsed: () => performance.now() };
}

export interface LockRecoveryResult {
  removed: LockInfo[];
  /** Locks of live holders that do not conflict with `need` (e.g. other backups' shared locks). */
  remaining: LockInfo[];
  waitedMs: number;
}

/**
 * Makes the repository usable for `need`: removes locks whose holders `isHolderAlive` declares gone,
 * waits (up to `waitMs`) for live conflicting holders to release, then fails with a LockedError naming
 * the holder. Never removes a lock whose holder is alive or undecided.
 */
export async function recoverLocks(restic: Restic, o: LockRecoveryOptions): Promise<LockRecoveryResult> {
  const { wall, elapsed } = clocks(o);
  const started = elapsed();
  const waitMs = o.waitMs ?? 10 * 60_000;
  const pollMs = o.pollMs ?? DEFAULT_POLL_MS;
  const remover = o.remover ?? directLockRemover(restic.repo.access);
  const removed: LockInfo[] = [];
  for (;;) {
    if (o.signal?.aborted) throw new StashError('RESTIC_CANCELLED', 'lock recovery cancelled');
    const locks = await restic.locks({ signal: o.signal });
    const alive: LockInfo[] = [];
    let usedUnlock = false;
    for (const lock of locks) {
      let isAlive = true;
      try {
        isAlive = await o.isHolderAlive(lock);
      } catch (err) {
        o.logger?.warn({ err, lock: describeLock(lock) }, 'holder check failed; treating holder as alive');
      }
      if (isAlive) {
        alive.push(lock);
        continue;
      }
      if (remover) {
        o.logger?.info({ lock: describeLock(lock) }, 'removing lock of a dead holder');
        await remover(lock);
        removed.push(lock);
      } else if (wall() - Date.parse(lock.time) > RESTIC_STALE_AFTER_MS && !usedUnlock) {
        // No direct client for this backend: restic's own rule already calls this lock stale.
        o.logger?.info({ lock: describeLock(lock) }, 'removing stale lock of a dead holder with restic unlock');
        await restic.unlockStale({ signal: o.signal });
        usedUnlock = true;
        removed.push(lock);
      } else {
        // Dead, but we cannot remove it yet: it blocks like a live one until restic's 30 minutes pass.
        alive.push(lock);
      }
    }
    const conflicting = alive.filter((l) => o.need === 'exclusive' || l.exclusive);
    const waitedMs = elapsed() - started;
    if (conflicting.length === 0) return { removed, remaining: alive, waitedMs };
    if (waitedMs >= waitMs) {
      const first = conflicting[0]!;
      throw new LockedError(
        `repository ${restic.repo.display} is locked: ${conflicting.map(describeLock).join('; ')}; ` +
          `the holder is alive (or its lock cannot be removed yet), gave up after ${Math.round(waitedMs / 1000)}s`,
        { command: 'lock-recovery', exitCode: undefined, signal: undefined, stderrTail: [] },
        holderOf(first),
      );
    }
    await sleep(Math.min(pollMs, Math.max(0, waitMs - waitedMs)), o.signal);
  }
}

/**
 * Runs `fn`; when it fails because the repository is locked, recovers (see recoverLocks) and tries
 * again until it succeeds or the wait bound is spent. The bound counts time spent waiting for holders, not the
 * time `fn` itself ran: a long backup that meets a lock at its end still gets its recovery.
 */
export async function withLockRecovery<T>(restic: Restic, fn: () => Promise<T>, o: LockRecoveryOptions): Promise<T> {
  const { elapsed } = clocks(o);
  const waitMs = o.waitMs ?? 10 * 60_000;
  // Each round counts at least one poll interval, so a lock that keeps coming back cannot retry forever.
  const minRoundMs = o.pollMs ?? DEFAULT_POLL_MS;
  let waited = 0;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof LockedError)) throw err;
      const left = waitMs - waited;
      if (left <= 0) throw err;
      const t0 = elapsed();
      await recoverLocks(restic, { ...o, waitMs: left });
      waited += Math.max(elapsed() - t0, minRoundMs);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
