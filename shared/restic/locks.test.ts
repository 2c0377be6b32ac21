// Pure parts of lock recovery; the recovery itself runs against real repositories in
// test/integration/restic-locks-*.test.ts.
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describeLock, holderOf, localHolderAlive } from './locks.ts';
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
