// The lock-recovery scenario shared by test/integration/restic-locks-*.test.ts: a restic SIGKILLed
// mid-backup (as when its pod dies) leaves a lock; recovery refuses, naming the holder, while the
// holder callback says "alive", and removes exactly that lock once it says "dead"; `check` is then clean.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { BackendSpec } from '../../shared/restic/backend.ts';
import { Restic } from '../../shared/restic/command.ts';
import { LockedError } from '../../shared/restic/errors.ts';
import { recoverLocks, withLockRecovery } from '../../shared/restic/locks.ts';
import type { LockInfo } from '../../shared/restic/output.ts';
import { makeRestic } from './restic.ts';
import type { Assert } from './roundtrip.ts';
import { until } from '../support/until.ts';

export interface Backend {
  backend: BackendSpec;
  secret: Record<string, string>;
  stop(): Promise<void>;
}

/** Another "pod's" restic: spawned outside the wrapper so nothing cleans up after it. */
function foreignRestic(restic: Restic, bin: string, args: string[]) {
  const child = spawn(bin, restic.argv(args), { env: restic.buildEnv(), stdio: ['pipe', 'ignore', 'ignore'] });
  child.stdin.on('error', () => {});
  return child;
}

export async function lockScenario(t: Assert, bin: string, start: () => Promise<Backend>): Promise<void> {
  const be = await start();
  const { restic, cleanup } = await makeRestic(bin, be.backend, be.secret);
  try {
    await restic.init();
    const me = Restic.lockHostname();

    // 1. a backup killed with SIGKILL leaves its (shared) lock
    const victim = foreignRestic(restic, bin, ['backup', '--host', 'h', '--stdin', '--stdin-filename', 'x']);
    victim.stdin.write('data\n');
    const [lock] = await until(
      'restic to hold a lock',
      async () => {
        const locks = await restic.locks();
        return locks.length >= 1 && locks;
      },
      { timeoutMs: 20_000, everyMs: 150 },
    );
    t.ok(lock, 'the running backup holds a lock');
    t.equal(lock!.pid, victim.pid, 'the lock names the restic pid');
    t.equal(lock!.hostname, me, 'and this host (the pod name in Kubernetes)');
    t.equal(lock!.exclusive, false, 'backup locks are shared');
    victim.kill('SIGKILL');
    await once(victim, 'exit');

    const locked = await restic.check().catch((e: unknown) => e);
    t.ok(locked instanceof LockedError, 'an exclusive command is blocked');
    t.equal((locked as LockedError).holder?.pid, victim.pid, 'the LockedError names the holder pid');
    t.equal((locked as LockedError).holder?.hostname, me, 'and host');

    // a shared need is not blocked by a shared lock, dead or alive
    const shared = await recoverLocks(restic, { need: 'shared', isHolderAlive: async () => true, waitMs: 0 });
    t.same(shared.removed, [], 'nothing removed for a shared need');
    t.equal(shared.remaining.length, 1, 'the live shared lock remains');

    // The wait runs on a clock that advances one second per question, so "asked again" does not depend on how
    // long each `restic list locks` takes on a loaded machine (one round can outlast a short real bound).
    const asked: LockInfo[] = [];
    let clock = Date.now();
    const refused = await recoverLocks(restic, {
      need: 'exclusive',
      waitMs: 2500,
      pollMs: 200,
      now: () => clock,
      isHolderAlive: async (l) => {
        asked.push(l);
        clock += 1000;
        return true;
      },
    }).catch((e: unknown) => e);
    t.ok(refused instanceof LockedError, 'a live holder is never removed: recovery fails after the wait');
    t.match((refused as Error).message, new RegExp(`pid ${victim.pid} on ${me}`), 'the error names the holder');
    t.equal(asked.length, 3, 'the holder was asked again while waiting, until the bound');
    t.equal((await restic.listLocks()).length, 1, 'the lock is still there');

    const errorsAreAlive = await recoverLocks(restic, {
      need: 'exclusive',
      waitMs: 0,
      isHolderAlive: async () => {
        throw new Error('apiserver down');
      },
    }).catch((e: unknown) => e);
    t.ok(errorsAreAlive instanceof LockedError, 'a failing holder check counts as alive');

    // 2. the callback says the holder is gone: exactly that lock is removed, then check runs
    const result = await withLockRecovery(restic, () => restic.check(), {
      need: 'exclusive',
      waitMs: 20_000,
      pollMs: 300,
      isHolderAlive: async (l) => l.pid !== victim.pid,
    });
    t.equal(result.ok, true, 'check succeeds after recovery and the repository is clean');
    t.same(await restic.listLocks(), [], 'no lock left');

    // 3. an exclusive holder blocks even shared commands until it is gone
    const excl = foreignRestic(restic, bin, ['key', 'passwd']); // waits for a new password on stdin, holding the lock
    const [xlock] = await until(
      'restic to hold a lock',
      async () => {
        const locks = await restic.locks();
        return locks.length >= 1 && locks;
      },
      { timeoutMs: 20_000, everyMs: 150 },
    );
    t.equal(xlock!.exclusive, true, 'key passwd holds an exclusive lock');
    const blocked = await restic.backup([import.meta.dirname], { host: 'h' }).catch((e: unknown) => e);
    t.ok(
      blocked instanceof LockedError && blocked.holder?.exclusive === true,
      'backup is blocked by the exclusive holder',
    );
    const pidAlive = async (l: LockInfo) => {
      try {
        process.kill(l.pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const stillThere = await recoverLocks(restic, {
      need: 'shared',
      waitMs: 600,
      pollMs: 200,
      isHolderAlive: pidAlive,
    }).catch((e: unknown) => e);
    t.ok(
      stillThere instanceof LockedError && (stillThere as LockedError).holder?.exclusive,
      'live exclusive holder: refused',
    );
    excl.kill('SIGKILL');
    await once(excl, 'exit');
    const b = await withLockRecovery(restic, () => restic.backup([import.meta.dirname], { host: 'h' }), {
      need: 'shared',
      waitMs: 20_000,
      pollMs: 200,
      isHolderAlive: pidAlive,
    });
    t.ok(b.snapshotId, 'backup runs once the dead exclusive holder is removed');
    t.equal((await restic.check()).ok, true, 'check is clean');
  } finally {
    await cleanup();
    await be.stop();
  }
}
