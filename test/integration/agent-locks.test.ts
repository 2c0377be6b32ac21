// Holder-aware lock recovery. A pod killed hard (SIGKILL of agent and restic) leaves its restic lock behind.
// Five times in a row a sidecar is killed mid-backup; each time the next backup of the repository succeeds,
// and its post-backup actions (which need the repository exclusively) remove the dead pod's lock because that
// pod does not exist per the Kubernetes API. A lock whose holder pod exists is never removed: the agent waits,
// then fails naming the holder. An exclusive lock of a dead pod that blocks the backup itself is recovered too.
// No operator runs here; the test initiates targets itself. restic runs with the pod's hostname (UTS
// namespace), as it would in a real pod.
import t from 'tap';
import { lockWorld, resticRun } from '../support/agent-world.ts';

t.test('SIGKILLed sidecars leave locks that the next backup recovers', async (t) => {
  const { b, env, lockFiles, lockHosts, survivor, nextAppSession, killMidBackup } = await lockWorld(t, '4s');
  for (let i = 1; i <= 5; i++) {
    await killMidBackup(`victim-${i}-pod`, i);
    t.ok(lockHosts().includes(`victim-${i}-pod`), `round ${i}: the killed pod's lock is left behind`);
    const s = await nextAppSession();
    const st = s.status?.targets?.[0]?.stats?.[0];
    t.equal(st?.phase, 'Succeeded', `round ${i}: next backup succeeds ${st?.error ?? ''}`);
    t.equal(
      s.status?.conditions?.find((c) => c.type === 'RepositoryIntegrityVerified')?.status,
      'True',
      `round ${i}: check ran with the repository to itself`,
    );
    t.notOk(lockHosts().includes(`victim-${i}-pod`), `round ${i}: the dead pod's lock was removed`);
  }
  t.match(survivor.output(), /removing lock of a dead holder/);

  t.same(await lockFiles(), [], 'no lock left');
  resticRun(['check', '-r', b.dir], env);
  t.pass('restic check is clean');
  t.notMatch(survivor.output(), /remove-all/);
});
