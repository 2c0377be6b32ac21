// Fault injection (issue #14.6): the operator SIGKILLed (and started again) and paused (SIGSTOP … SIGCONT) at
// each stage of a Sequential BackupBatch, real processes only — a private world of real etcd + kube-apiserver +
// kube-controller-manager, the operator process, and the pod runner, which is our dev/test stand-in for a
// kubelet (it runs the `stash` sidecars as local processes; it is not a kubelet).
// Each session must end final within the liveness bound; afterwards a clean session succeeds, `restic check`
// is clean and every earlier snapshot is intact.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { findTarget } from '../../shared/status/index.ts';
import { REPO_MOUNT, backupBatch, backupSession, createApp, namespaceWithRepo, sidecarsRunning, until, type SessionObj } from '../support/e2e-world.ts';
import {
  FAULT_LIVENESS_MS, faultWorld, figure, finalPhase, killAndRestartOperator, openSessions, pauseOperator, procsNaming, resticRepo, secretData,
} from '../support/fault-world.ts';

const BB = apiVersionOf('BackupBatch');
const BS = apiVersionOf('BackupSession');
const PAUSE_MS = 12_000;

t.setTimeout(600_000);
const w = await faultWorld(t, 'fault-operator');

const STAGES = ['before member 1', 'during member 1 backup', 'between members', 'during member 2 backup', 'during the final write'] as const;

t.test('the operator killed, and paused, at each stage of a Sequential BackupBatch', async (t) => {
  const ns = 'fault-op';
  const repoDir = await namespaceWithRepo(w, ns);
  const apps = ['first', 'second'];
  for (const a of apps) await createApp(w, ns, a, { 'blob.bin': randomBytes(24 * 1024 * 1024), 'small.txt': `${a}\n` });
  await w.kube.create(backupBatch(ns, 'app', apps, { executionOrder: 'Sequential', retentionPolicy: { name: 'keep-all', keepLast: 100, prune: false } }));
  await until('BackupBatch Ready', async () => (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, 'app')).status?.phase === 'Ready', 60_000);
  await sidecarsRunning(w, ns, apps);
  const ref = (name: string) => ({ apiVersion: 'apps/v1', kind: 'Deployment', name, namespace: ns });
  const targetPhase = async (name: string, app: string) => findTarget((await w.kube.getOrNull<SessionObj>(BS, 'BackupSession', ns, name))?.status, ref(app), ns)?.phase;
  const resticBackup = () => procsNaming(REPO_MOUNT).some((p) => / backup /.test(p.cmd));
  const final = (p: string | undefined) => p === 'Succeeded' || p === 'Failed';

  let n = 0;
  for (const fault of ['kill', 'pause'] as const) {
    for (const stage of STAGES) {
      const name = `app-${++n}`;
      await w.kube.create(backupSession(ns, name, 'app'));
      switch (stage) {
        case 'before member 1': break;
        case 'during member 1 backup':
          await until('member 1 restic running', async () => (await targetPhase(name, 'first')) === 'Running' && resticBackup(), 60_000, 50);
          break;
        case 'between members':
          await until('member 1 final', async () => final(await targetPhase(name, 'first')), 90_000, 50);
          break;
        case 'during member 2 backup':
          await until('member 2 restic running', async () => (await targetPhase(name, 'second')) === 'Running' && resticBackup(), 90_000, 50);
          break;
        case 'during the final write':
          await until('member 2 final', async () => final(await targetPhase(name, 'second')), 90_000, 50);
          break;
      }
      const at = Date.now();
      if (fault === 'kill') await killAndRestartOperator(w);
      else await pauseOperator(w, PAUSE_MS);
      const { s, ms } = await finalPhase(w, ns, name, at, FAULT_LIVENESS_MS * 4);
      figure(t, `operator ${fault === 'kill' ? 'SIGKILL + restart' : `SIGSTOP ${PAUSE_MS / 1000} s + SIGCONT`} ${stage}`, ms, `${s.status?.phase}; ${JSON.stringify(s.status?.targets?.map((x) => [x.ref?.name, x.phase, x.stats?.[0]?.error]))}`);
      t.equal(s.status?.phase, 'Succeeded', `operator ${fault} ${stage}: the session still succeeds`, { status: s.status });
      t.same(s.status?.targets?.map((x) => x.phase), ['Succeeded', 'Succeeded'], 'both members final and Succeeded');
    }
  }

  const repo = resticRepo(repoDir, await secretData(w, ns));
  const before = await repo.snapshots();
  await w.kube.create(backupSession(ns, 'app-clean', 'app'));
  t.equal((await finalPhase(w, ns, 'app-clean', Date.now())).s.status?.phase, 'Succeeded', 'the next session without a fault succeeds');
  const after = await repo.snapshots();
  t.ok(before.every((id) => after.includes(id)), `every earlier snapshot is intact (${before.length} before, ${after.length} after)`);
  t.match(await repo.check(), /no errors were found/, 'restic check is clean');
  t.same(await openSessions(w, ns), [], 'no session, member or host left Running or Pending');
});
