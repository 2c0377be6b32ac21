// Pure parts of lock recovery and its wait bound on a fake repository; the recovery itself runs against real
// repositories in test/integration/restic-locks-*.test.ts.
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Restic } from './command.ts';
import { LockedError } from './errors.ts';
import { describeLock, holderOf, localHolderAlive, withLockRecovery } from './locks.ts';
import { directLockRemover, LockRemovalError } from './lock-remover.ts';
import type { LockInfo } from './output.ts';

const lock: LockInfo = {
  id: 'ab'.repeat(32),
  time: '2026-11-23T23:11:47.7Z',
  exclusive: true,
  hostname: 'web-0',
  username: 'root',
  pid: 42,
  uid: 0,
  gid: 0,
};

t.test('describe and holder', async (t) => {
  t.equal(
    describeLock(lock),
    'exclusive lock abababab held by pid 42 on web-0 (user root, since 2026-11-23T23:11:47.7Z)',
  );
  t.match(holderOf(lock), { pid: 42, hostname: 'web-0', exclusive: true, storageIdPrefix: 'abababab' });
});

t.test('localHolderAlive', async (t) => {
  t.equal(localHolderAlive({ hostname: 'other', pid: process.pid }, 'me'), undefined, 'other hosts: ask Kubernetes');
  t.equal(localHolderAlive({ hostname: 'me', pid: process.pid }, 'me'), true, 'a running pid');
  const child = spawn('true');
  await once(child, 'exit');
  t.equal(localHolderAlive({ hostname: 'me', pid: child.pid! }, 'me'), false, 'an exited pid');
  t.equal(localHolderAlive({ hostname: 'me', pid: 0 }, 'me'), true, 'no usable pid: alive');
});

t.test('removers', async (t) => {
  t.equal(directLockRemover({ kind: 'unsupported', backend: 'gcs' }), undefined, 'no direct client for gcs');
  const local = directLockRemover({ kind: 'local', path: '/nonexistent-repo' })!;
  await t.resolves(local(lock), 'already gone counts as removed');
  await t.rejects(local({ ...lock, id: '../config' }), LockRemovalError, 'only lock ids');
  const s3 = directLockRemover({
    kind: 's3',
    endpoint: 'http://127.0.0.1:1',
    bucket: 'b',
    prefix: '',
    region: 'us-east-1',
    accessKeyId: undefined,
    secretAccessKey: undefined,
    sessionToken: undefined,
    caPem: undefined,
    insecureTLS: false,
  })!;
  await t.rejects(s3(lock), /needs AWS_ACCESS_KEY_ID/, 's3 needs keys');
});

/** A repository whose lock list the test controls; only what recovery touches. */
function fakeRepo(locks: LockInfo[]): Restic {
  return { locks: async () => [...locks], repo: { display: 'fake:repo' } } as unknown as Restic;
}

const lockedError = () =>
  new LockedError(
    'repository is locked',
    { command: 'backup', exitCode: 1, signal: undefined, stderrTail: [] },
    holderOf(lock),
  );

t.test('withLockRecovery: the wait bound counts waiting for holders, not the command', async (t) => {
  let clock = 0;
  const locks = [lock];
  let calls = 0;
  const removed: string[] = [];
  const out = await withLockRecovery(
    fakeRepo(locks),
    async () => {
      calls++;
      // A long command (or a machine paused under it) that meets the lock only at its end.
      clock += 60_000;
      if (locks.length) throw lockedError();
      return 'snapshot';
    },
    {
      need: 'shared',
      waitMs: 20_000,
      pollMs: 200,
      now: () => clock,
      isHolderAlive: async () => false,
      remover: async (l) => {
        removed.push(l.id);
        locks.splice(0);
      },
    },
  );
  t.equal(out, 'snapshot', 'the command ran again after the dead holder’s lock was removed');
  t.equal(calls, 2);
  t.same(removed, [lock.id], 'exactly that lock removed');
});

t.test('withLockRecovery: a lock that keeps coming back ends at the bound, naming the holder', async (t) => {
  let calls = 0;
  const err = await withLockRecovery(
    fakeRepo([]),
    async () => {
      calls++;
      throw lockedError();
    },
    { need: 'shared', waitMs: 1_000, pollMs: 200, isHolderAlive: async () => true, remover: async () => undefined },
  ).catch((e: unknown) => e);
  t.ok(err instanceof LockedError && err.holder?.pid === 42, 'the last LockedError, with its holder');
  t.ok(calls >= 2 && calls <= 6, `each round counts at least one poll interval (${calls} attempts for 1 s / 200 ms)`);
});
