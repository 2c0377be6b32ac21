// Holder-aware lock recovery, the other two cases: a lock whose holder pod still exists is never removed (the
// agent waits a bounded time, then fails naming the holder), and an exclusive lock of a dead pod that blocks
// the backup itself is recovered before the backup. The test plays the operator (target initiation).
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lockWorld, restic, resticRun } from '../support/agent-world.ts';
import { until } from '../support/until.ts';

t.test('live holders are waited for and named; dead exclusive holders are recovered', async (t) => {
  const { kube, ns, b, env, work, appData, lockFiles, lockHosts, nextAppSession, killMidBackup } = await lockWorld(
    t,
    '2s',
  );

  await t.test('a live holder is never removed', async (t) => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'live-holder', namespace: ns },
      spec: { automountServiceAccountToken: false, containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
    };
    // Pod admission wants the namespace's default ServiceAccount, which the controller manager creates shortly.
    await until('the pod to be admitted', async () => (await kube.create(pod)) ?? undefined, 30_000, 250);
    await killMidBackup('live-holder', 6);
    t.ok(lockHosts().includes('live-holder'), 'the killed pod left its lock');
    const s = await nextAppSession();
    t.equal(
      s.status?.targets?.[0]?.stats?.[0]?.phase,
      'Succeeded',
      'the backup itself is not blocked by a shared lock',
    );
    const c = s.status?.conditions?.find((x) => x.type === 'RetentionPolicyApplied');
    t.equal(c?.status, 'False');
    t.match(c?.message, /locked.*live-holder/, 'names the holder');
    t.ok(lockHosts().includes('live-holder'), 'a live holder keeps its lock');
    await kube.delete('v1', 'Pod', ns, 'live-holder', { gracePeriodSeconds: 0 });
    await until('pod gone', async () =>
      (await kube.getOrNull('v1', 'Pod', ns, 'live-holder')) === null ? true : undefined,
    );
    const after = await nextAppSession();
    t.equal(
      after.status?.conditions?.find((x) => x.type === 'RetentionPolicyApplied')?.status,
      'True',
      'recovered once the pod is gone',
    );
    t.notOk(lockHosts().includes('live-holder'));
  });

  await t.test('an exclusive lock of a dead pod blocking the backup itself', async (t) => {
    // Another pod's `restic check` (exclusive) killed hard: restic run directly, under that pod's hostname,
    // throttled so it is still holding its lock when it is killed.
    const ghost = spawn(
      'unshare',
      [
        '--uts',
        '/bin/sh',
        '-c',
        'hostname ghost-pod && exec "$@"',
        'sh',
        restic(),
        'check',
        '--read-data',
        '--limit-download',
        '1',
        '-r',
        b.dir,
      ],
      {
        env: { ...env, PATH: '/usr/bin:/bin', HOME: work },
        stdio: 'ignore',
      },
    );
    // restic derives its key (scrypt) before it locks: slow when the cores are busy.
    await until('ghost lock', async () => (lockHosts().includes('ghost-pod') ? true : undefined), 90_000, 20);
    ghost.kill('SIGKILL');
    await new Promise((r) => ghost.once('exit', r));
    t.ok(lockHosts().includes('ghost-pod'));
    await writeFile(join(appData, 'b.txt'), 'changed\n');
    const s = await nextAppSession();
    t.equal(s.status?.targets?.[0]?.stats?.[0]?.phase, 'Succeeded', s.status?.targets?.[0]?.stats?.[0]?.error ?? '');
    t.notOk(lockHosts().includes('ghost-pod'));
  });

  t.same(await lockFiles(), [], 'no lock left');
  resticRun(['check', '-r', b.dir], env);
  t.pass('restic check is clean');
});
