// Fault injection (issue #14.6): a loopback TCP proxy between the agents and kube-apiserver drops and stalls
// connections for some seconds at each stage of a Sequential BackupBatch, real processes only — a private
// world of real etcd + kube-apiserver + kube-controller-manager, the operator process (which talks to the
// apiserver directly), and the pod runner, which is our dev/test stand-in for a kubelet and hands its agent
// containers a kubeconfig pointing at the proxy. Each session must end final within the liveness bound;
// afterwards a clean session succeeds, `restic check` is clean and every earlier snapshot is intact.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { findTarget } from '../../shared/status/index.ts';
import { REPO_MOUNT, backupBatch, backupSession, createApp, namespaceWithRepo, sidecarsRunning, until, type SessionObj } from '../support/e2e-world.ts';
import { FAULT_LIVENESS_MS, faultWorld, figure, finalPhase, openSessions, procsNaming, resticRepo, secretData } from '../support/fault-world.ts';

const BB = apiVersionOf('BackupBatch');
const BS = apiVersionOf('BackupSession');
const OUTAGE_MS = 8_000;

t.setTimeout(600_000);
const w = await faultWorld(t, 'fault-network', { proxy: true });
const proxy = w.proxy!;

const STAGES = ['before member 1', 'during member 1 backup', 'during member 1 status write', 'between members', 'during member 2 backup'] as const;

t.test('agents behind a proxy that drops, then stalls, their apiserver connections at each stage', async (t) => {
  const ns = 'fault-net';
  const repoDir = await namespaceWithRepo(w, ns);
  const apps = ['first', 'second'];
  for (const a of apps) await createApp(w, ns, a, { 'blob.bin': randomBytes(24 * 1024 * 1024), 'small.txt': `${a}\n` });
  await w.kube.create(backupBatch(ns, 'app', apps, { executionOrder: 'Sequential', retentionPolicy: { name: 'keep-all', keepLast: 100, prune: false } }));
  await until('BackupBatch Ready', async () => (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, 'app')).status?.phase === 'Ready', 60_000);
  await sidecarsRunning(w, ns, apps);
  await until('agents connected through the proxy', async () => proxy.connections > 0, 30_000);
  t.pass(`the agents talk to the apiserver through the proxy (${proxy.connections} connections)`);
  const ref = (name: string) => ({ apiVersion: 'apps/v1', kind: 'Deployment', name, namespace: ns });
  const targetPhase = async (name: string, app: string) => findTarget((await w.kube.getOrNull<SessionObj>(BS, 'BackupSession', ns, name))?.status, ref(app), ns)?.phase;
  const resticBackup = () => procsNaming(REPO_MOUNT).some((p) => / backup /.test(p.cmd));

  let n = 0;
  for (const fault of ['drop', 'stall'] as const) {
    for (const stage of STAGES) {
      const name = `app-${++n}`;
      await w.kube.create(backupSession(ns, name, 'app'));
      switch (stage) {
        case 'before member 1': break;
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
      }
      const at = Date.now();
      if (fault === 'drop') await proxy.drop(OUTAGE_MS);
      else await proxy.stall(OUTAGE_MS);
      const { s, ms } = await finalPhase(w, ns, name, at, FAULT_LIVENESS_MS * 4);
      figure(t, `agents' apiserver connections ${fault === 'drop' ? 'dropped' : 'stalled'} ${OUTAGE_MS / 1000} s ${stage}`, ms, `${s.status?.phase}; ${JSON.stringify(s.status?.targets?.map((x) => [x.ref?.name, x.phase, x.stats?.[0]?.error]))}`);
      t.equal(s.status?.phase, 'Succeeded', `${fault} ${stage}: the session succeeds once the network is back`, { status: s.status });
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
