// Fault injection (issue #14.6): kube-apiserver restarted at each stage of a Sequential RestoreBatch, real
// processes only — a private world of real etcd + kube-apiserver + kube-controller-manager, the operator
// process, and the pod runner, which is our dev/test stand-in for a kubelet (it runs the `stash-init`
// containers as local processes; it is not a kubelet). restic restores from a local-directory Repository.
// Stages: before member 1, during its restore, between members, during member 2, during the operator's final
// write. Each RestoreBatch must end final within the liveness bound with the data back byte for byte;
// afterwards a restore without a fault succeeds and `restic check` is clean.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import {
  REPO_MOUNT,
  backupBatch,
  backupSession,
  createApp,
  finished,
  namespaceWithRepo,
  readTree,
  restoreBatch,
  sidecarsRunning,
  until,
  type RestoreBatchObj,
  type SessionObj,
} from '../support/e2e-world.ts';
import {
  FAULT_LIVENESS_MS,
  faultWorld,
  figure,
  openSessions,
  procsNaming,
  resticRepo,
  secretData,
} from '../support/fault-world.ts';

const BB = apiVersionOf('BackupBatch');
const BS = apiVersionOf('BackupSession');
const RB = apiVersionOf('RestoreBatch');

t.setTimeout(600_000);
const w = await faultWorld(t, 'fault-api-restore');

/** The tree as file → sha256, so a failed comparison prints digests, not megabytes of data. */
function digests(dir: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(readTree(dir)).map(([f, b64]) => [f, createHash('sha256').update(b64).digest('hex')]),
  );
}

const STAGES = [
  'before member 1',
  'during member 1 restore',
  'between members',
  'during member 2 restore',
  'during the final write',
] as const;

t.test('kube-apiserver restarted at each stage of a Sequential RestoreBatch', async (t) => {
  const ns = 'fault-api-rb';
  const repoDir = await namespaceWithRepo(w, ns);
  const apps = ['first', 'second'];
  const dirs: Record<string, string> = {};
  for (const a of apps)
    dirs[a] = await createApp(w, ns, a, { 'blob.bin': randomBytes(16 * 1024 * 1024), 'conf/app.conf': `name=${a}\n` });
  const pristine = Object.fromEntries(apps.map((a) => [a, digests(dirs[a]!)]));
  await w.kube.create(
    backupBatch(ns, 'app', apps, {
      executionOrder: 'Parallel',
      retentionPolicy: { name: 'keep-all', keepLast: 100, prune: false },
    }),
  );
  await until(
    'BackupBatch Ready',
    async () =>
      (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, 'app')).status?.phase ===
      'Ready',
    60_000,
  );
  await sidecarsRunning(w, ns, apps);
  await w.kube.create(backupSession(ns, 'app-1', 'app'));
  t.equal(
    (await finished<SessionObj>(w, BS, 'BackupSession', ns, 'app-1', 120_000)).status?.phase,
    'Succeeded',
    'the backup to restore from',
  );
  await w.kube.patch(BB, 'BackupBatch', ns, 'app', { spec: { paused: true } });
  const repo = resticRepo(repoDir, await secretData(w, ns));
  const snapshots = await repo.snapshots();

  const member = async (name: string, app: string) =>
    (await w.kube.getOrNull<RestoreBatchObj>(RB, 'RestoreBatch', ns, name))?.status?.members?.find(
      (m) => m.ref?.name === app,
    )?.phase;
  const resticRestore = () => procsNaming(REPO_MOUNT).some((p) => / restore /.test(p.cmd));
  const damage = () => {
    for (const a of apps) writeFileSync(join(dirs[a]!, 'blob.bin'), 'damaged');
  };

  const runs = [...STAGES, 'no fault'] as const;
  for (const [i, stage] of runs.entries()) {
    const name = `restore-${i + 1}`;
    damage();
    await w.kube.create(restoreBatch(ns, name, apps, { executionOrder: 'Sequential' }));
    switch (stage) {
      case 'before member 1':
        break;
      case 'during member 1 restore':
        await until(
          'member 1 restic restore',
          async () => (await member(name, 'first')) === 'Running' && resticRestore(),
          90_000,
          50,
        );
        break;
      case 'between members':
        await until(
          'member 1 final',
          async () => ['Succeeded', 'Failed'].includes((await member(name, 'first')) ?? ''),
          90_000,
          50,
        );
        break;
      case 'during member 2 restore':
        await until(
          'member 2 restic restore',
          async () => (await member(name, 'second')) === 'Running' && resticRestore(),
          120_000,
          50,
        );
        break;
      case 'during the final write':
        await until(
          'member 2 final',
          async () => ['Succeeded', 'Failed'].includes((await member(name, 'second')) ?? ''),
          120_000,
          50,
        );
        break;
      case 'no fault':
        break;
    }
    const at = Date.now();
    const took = stage === 'no fault' ? 0 : await w.restartApiServer();
    const rb = await finished<RestoreBatchObj>(w, RB, 'RestoreBatch', ns, name, FAULT_LIVENESS_MS * 5);
    const ms = Date.now() - at;
    figure(
      t,
      stage === 'no fault' ? 'no fault, for comparison (RestoreBatch)' : `apiserver restart ${stage} (RestoreBatch)`,
      ms,
      `restart took ${(took / 1000).toFixed(1)} s; ${rb.status?.phase}; ${JSON.stringify(rb.status?.members?.map((m) => [m.ref?.name, m.phase, m.stats?.[0]?.error]))}`,
    );
    t.equal(rb.status?.phase, 'Succeeded', `${stage}: the RestoreBatch succeeds`, { status: rb.status });
    for (const a of apps) t.same(digests(dirs[a]!), pristine[a], `${stage}: ${a} restored byte for byte`);
    // The next restore needs the init-containers of this one gone (one restore invoker per workload).
    await w.kube.delete(RB, 'RestoreBatch', ns, name);
    await until(`${name} deleted`, async () => !(await w.kube.getOrNull(RB, 'RestoreBatch', ns, name)), 60_000);
  }
  t.equal(w.restarts, STAGES.length, `${w.restarts} apiserver restarts`);
  t.match(await repo.check(), /no errors were found/, 'restic check is clean');
  t.same(await repo.snapshots(), snapshots, 'the snapshots restored from are intact');
  t.same(await openSessions(w, ns), [], 'no session, member or host left Running or Pending');
});
