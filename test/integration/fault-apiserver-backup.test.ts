// Fault injection (issue #14.6): kube-apiserver restarted at each stage of a Sequential BackupBatch, real
// processes only — a private world of real etcd + kube-apiserver + kube-controller-manager, the operator
// process, and the pod runner, which is our dev/test stand-in for a kubelet (it runs the `stash` sidecars as
// local processes; it is not a kubelet). restic writes to a local-directory Repository.
// Stages: before member 1, during its backup, during its status write (just after its restic exits), between
// members, during member 2, during the operator's final write. Each session must end final within the liveness
// bound; afterwards a clean session succeeds, `restic check` is clean and every earlier snapshot is intact.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { findTarget } from '../../shared/status/index.ts';
import { REPO_MOUNT, backupBatch, backupSession, createApp, namespaceWithRepo, sidecarsRunning, until, type SessionObj } from '../support/e2e-world.ts';
import { FAULT_LIVENESS_MS, faultWorld, figure, finalPhase, openSessions, procsNaming, resticRepo, secretData } from '../support/fault-world.ts';

const BB = apiVersionOf('BackupBatch');
const BS = apiVersionOf('BackupSession');
const ROUNDS = 2;

t.setTimeout(600_000);
const w = await faultWorld(t, 'fault-api-backup');

type Stage = 'before member 1' | 'during member 1 backup' | 'during member 1 status write' | 'between members' | 'during member 2 backup' | 'during the final write';
const STAGES: Stage[] = ['before member 1', 'during member 1 backup', 'during member 1 status write', 'between members', 'during member 2 backup', 'during the final write'];

t.test(`kube-apiserver restarted at each stage of a Sequential BackupBatch (${ROUNDS} rounds)`, async (t) => {
  const ns = 'fault-api-bb';
  const repoDir = await namespaceWithRepo(w, ns);
  const apps = ['first', 'second'];
  for (const a of apps) await createApp(w, ns, a, { 'blob.bin': randomBytes(24 * 1024 * 1024), 'small.txt': `${a}\n` });
  // Keep every snapshot, so "earlier snapshots intact" is not confused with retention.
  await w.kube.create(backupBatch(ns, 'app', apps, { executionOrder: 'Sequential', retentionPolicy: { name: 'keep-all', keepLast: 100, prune: false } }));
  await until('BackupBatch Ready', async () => (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, 'app')).status?.phase === 'Ready', 60_000);
  await sidecarsRunning(w, ns, apps);
  const ref = (name: string) => ({ apiVersion: 'apps/v1', kind: 'Deployment', name, namespace: ns });
  const session = async (name: string) => await w.kube.getOrNull<SessionObj>(BS, 'BackupSession', ns, name);
  const targetPhase = async (name: string, app: string) => findTarget((await session(name))?.status, ref(app), ns)?.phase;
  // restic's command line names the repository's mount path, the same for every member; Sequential order says whose it is.
  const resticBackup = () => procsNaming(REPO_MOUNT).some((p) => / backup /.test(p.cmd));

  const restarts: number[] = [];
  let n = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const stage of STAGES) {
      const name = `app-${++n}`;
      await w.kube.create(backupSession(ns, name, 'app'));
      const created = Date.now();
      switch (stage) {
        case 'before member 1':
          break;
        case 'during member 1 backup':
          await until('member 1 restic running', async () => (await targetPhase(name, 'first')) === 'Running' && resticBackup(), 60_000, 50);
          break;
        case 'during member 1 status write':
          await until('member 1 restic running', async () => (await targetPhase(name, 'first')) === 'Running' && resticBackup(), 60_000, 50);
          await until('member 1 restic done', async () => !resticBackup(), 60_000, 20);
          break;
        case 'between members':
          await until('member 1 final', async () => ['Succeeded', 'Failed'].includes((await targetPhase(name, 'first')) ?? ''), 90_000, 50);
          break;
        case 'during member 2 backup':
          await until('member 2 restic running', async () => (await targetPhase(name, 'second')) === 'Running' && resticBackup(), 90_000, 50);
          break;
        case 'during the final write':
          await until('member 2 final', async () => ['Succeeded', 'Failed'].includes((await targetPhase(name, 'second')) ?? ''), 90_000, 50);
          break;
      }
      const at = Date.now();
      const took = await w.restartApiServer();
      restarts.push(took);
      const { s, ms } = await finalPhase(w, ns, name, at, FAULT_LIVENESS_MS * 4);
      const hosts = (s.status?.targets ?? []).flatMap((x) => (x.stats ?? []).map((h) => `${h.hostname}=${h.phase}${h.error ? ` (${h.error})` : ''}`));
      figure(t, `apiserver restart ${stage} (round ${round})`, ms, `restart took ${(took / 1000).toFixed(1)} s; ${s.status?.phase}; ${hosts.join(', ')}; created→final ${((Date.now() - created) / 1000).toFixed(1)} s`);
      t.equal(s.status?.phase, 'Succeeded', `${stage}, round ${round}: the session succeeds despite the restart`, { status: s.status });
      t.same(s.status?.targets?.map((x) => x.phase), ['Succeeded', 'Succeeded'], 'both members final');
    }
  }
  t.equal(w.restarts, ROUNDS * STAGES.length, `${w.restarts} apiserver restarts`);
  t.comment(`apiserver restart durations (kill to /readyz): ${restarts.map((x) => (x / 1000).toFixed(1)).join(', ')} s`);

  const repo = resticRepo(repoDir, await secretData(w, ns));
  const before = await repo.snapshots();
  await w.kube.create(backupSession(ns, 'app-clean', 'app'));
  const clean = await finalPhase(w, ns, 'app-clean', Date.now());
  t.equal(clean.s.status?.phase, 'Succeeded', 'the next session without a fault succeeds');
  const after = await repo.snapshots();
  t.ok(before.every((id) => after.includes(id)), `every earlier snapshot is intact (${before.length} before, ${after.length} after)`);
  t.match(await repo.check(), /no errors were found/, 'restic check is clean');
  t.same(await openSessions(w, ns), [], 'no session, member or host left Running or Pending');
});
