// BackupBatch end to end with real agents: a private local world (real etcd + kube-apiserver +
// kube-controller-manager, the operator as a process, the pod runner starting the `stash` sidecars with the
// args the webhook injected, restic writing to a local-directory Repository). Each case has its own namespace.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { findCondition } from '../../shared/status/index.ts';
import {
  DATA_PATH,
  SessionTimeline,
  agentPids,
  backupBatch,
  backupSession,
  createApp,
  e2eWorld,
  finished,
  namespaceWithRepo,
  sidecarsRunning,
  until,
  type SessionObj,
} from '../support/e2e-world.ts';

const BB = apiVersionOf('BackupBatch');
const BS = apiVersionOf('BackupSession');

// A whole world per file: longer than the runner's default per-file timeout.
t.setTimeout(360_000);
const w = await e2eWorld(t, 'e2e-backup');

function appFiles(name: string): Record<string, Buffer | string> {
  return {
    'README.txt': `data of ${name}\n`,
    'db/table.bin': randomBytes(512 * 1024),
    'db/index.bin': randomBytes(64 * 1024),
    'conf/app.conf': `name=${name}\n`,
  };
}

async function readyBatch(ns: string, name: string): Promise<void> {
  await until(
    `BackupBatch ${name} Ready`,
    async () =>
      (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, name)).status?.phase ===
      'Ready',
    60_000,
  );
}

function snapshotCount(repoDir: string): number {
  const d = join(repoDir, 'snapshots');
  return existsSync(d) ? readdirSync(d).length : 0;
}

t.test('Sequential: three members back up in order and the session succeeds', async (t) => {
  const ns = 'e2e-seq';
  const repoDir = await namespaceWithRepo(w, ns);
  const apps = ['db', 'web', 'cache'];
  for (const a of apps) await createApp(w, ns, a, appFiles(a));
  await w.kube.create(backupBatch(ns, 'app', apps, { executionOrder: 'Sequential' }));
  await readyBatch(ns, 'app');
  await sidecarsRunning(w, ns, apps);
  const tl = await new SessionTimeline(w, ns, 'app-1').start(t);
  await w.kube.create(backupSession(ns, 'app-1', 'app'));
  const s = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'app-1', 120_000);
  t.equal(s.status?.phase, 'Succeeded', 'the session succeeded', { status: s.status });
  t.same(
    s.status?.targets?.map((x) => x.ref?.name),
    apps,
    'targets in member order',
  );
  for (const tg of s.status?.targets ?? []) {
    t.equal(tg.phase, 'Succeeded', `${tg.ref?.name} succeeded`);
    const host = tg.stats?.[0];
    t.equal(host?.hostname, tg.ref?.name, 'host named by the alias');
    t.equal(
      host?.snapshots?.[0]?.fileStats?.totalFiles,
      4,
      `${tg.ref?.name}: the four files of its volume were backed up`,
    );
  }
  for (let i = 0; i + 1 < apps.length; i++) {
    t.ok(
      (tl.initiated.get(apps[i + 1]!) ?? 0) > (tl.finished.get(apps[i]!) ?? Infinity),
      `${apps[i + 1]} started only after ${apps[i]} finished`,
    );
  }
  t.equal(snapshotCount(repoDir), 3, 'three snapshots in the repository');
});

t.test('Parallel: members run concurrently and the session succeeds', async (t) => {
  const ns = 'e2e-par';
  await namespaceWithRepo(w, ns);
  const apps = ['p1', 'p2', 'p3'];
  for (const a of apps) await createApp(w, ns, a, appFiles(a));
  await w.kube.create(backupBatch(ns, 'app', apps, { executionOrder: 'Parallel' }));
  await readyBatch(ns, 'app');
  await sidecarsRunning(w, ns, apps);
  const tl = await new SessionTimeline(w, ns, 'app-1').start(t);
  await w.kube.create(backupSession(ns, 'app-1', 'app'));
  const s = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'app-1', 120_000);
  t.equal(s.status?.phase, 'Succeeded', 'the session succeeded', { status: s.status });
  t.same(
    s.status?.targets?.map((x) => x.phase),
    ['Succeeded', 'Succeeded', 'Succeeded'],
    'every member succeeded',
  );
  const lastStart = Math.max(...apps.map((a) => tl.initiated.get(a) ?? Infinity));
  const firstEnd = Math.min(...apps.map((a) => tl.finished.get(a) ?? -Infinity));
  t.ok(
    lastStart < firstEnd,
    `every member was initiated before any finished (initiated ${[...tl.initiated.values()]}, finished ${[...tl.finished.values()]})`,
  );
});

t.test('a failing global pre-hook fails the session and no member runs', async (t) => {
  const ns = 'e2e-hook';
  const repoDir = await namespaceWithRepo(w, ns);
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const apps = ['h1', 'h2'];
  for (const a of apps) await createApp(w, ns, a, appFiles(a));
  await w.kube.create(
    backupBatch(ns, 'app', apps, { hooks: { preBackup: { httpGet: { host: '127.0.0.1', port, path: '/pre' } } } }),
  );
  await readyBatch(ns, 'app');
  await sidecarsRunning(w, ns, apps);
  await w.kube.create(backupSession(ns, 'app-1', 'app'));
  const s = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'app-1', 60_000);
  t.equal(s.status?.phase, 'Failed', 'the session failed');
  const c = findCondition(s.status?.conditions, 'GlobalPreBackupHookSucceeded');
  t.equal(c?.status, 'False', 'GlobalPreBackupHookSucceeded is False');
  t.match(c?.message, new RegExp(`127\\.0\\.0\\.1:${port}`), 'the reason names the failing endpoint');
  t.equal(s.status?.targets?.length ?? 0, 0, 'no member was initiated');
  t.equal(snapshotCount(repoDir), 0, 'no agent wrote a snapshot');
});

t.test('a failing member fails the session while the others finish', async (t) => {
  const ns = 'e2e-mix';
  const repoDir = await namespaceWithRepo(w, ns);
  const apps = ['ok1', 'bad', 'ok2'];
  for (const a of apps) await createApp(w, ns, a, appFiles(a));
  await w.kube.create(
    backupBatch(ns, 'app', ['ok1', ['bad', { paths: [`${DATA_PATH}/no-such-dir`] }], 'ok2'], {
      executionOrder: 'Sequential',
    }),
  );
  await readyBatch(ns, 'app');
  await sidecarsRunning(w, ns, apps);
  await w.kube.create(backupSession(ns, 'app-1', 'app'));
  const s = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'app-1', 120_000);
  t.equal(s.status?.phase, 'Failed', 'the session failed');
  t.same(
    s.status?.targets?.map((x) => [x.ref?.name, x.phase]),
    [
      ['ok1', 'Succeeded'],
      ['bad', 'Failed'],
      ['ok2', 'Succeeded'],
    ],
    'the member after the failed one still ran',
  );
  const bad = s.status?.targets?.find((x) => x.ref?.name === 'bad');
  t.ok(bad?.stats?.[0]?.error, `the failed host says why: ${bad?.stats?.[0]?.error}`);
  t.equal(snapshotCount(repoDir), 2, 'the two good members made snapshots');
});

t.test('paused suspends the CronJob; deleting the BackupBatch removes the sidecars and the CronJob', async (t) => {
  const ns = 'e2e-life';
  await namespaceWithRepo(w, ns);
  const apps = ['l1', 'l2'];
  for (const a of apps) await createApp(w, ns, a, appFiles(a));
  await w.kube.create(backupBatch(ns, 'app', apps));
  await readyBatch(ns, 'app');
  await sidecarsRunning(w, ns, apps);
  type Cron = KubeObject & { spec?: { suspend?: boolean } };
  const cron = await w.kube.get<Cron>('batch/v1', 'CronJob', ns, 'stash-trigger-app');
  t.equal(cron.spec?.suspend, false, 'the CronJob runs while not paused');
  await w.kube.patch(BB, 'BackupBatch', ns, 'app', { spec: { paused: true } });
  t.ok(
    await until(
      'CronJob suspended',
      async () => (await w.kube.get<Cron>('batch/v1', 'CronJob', ns, 'stash-trigger-app')).spec?.suspend === true,
      30_000,
    ),
    'paused: true suspends the CronJob',
  );
  await w.kube.patch(BB, 'BackupBatch', ns, 'app', { spec: { paused: false } });
  t.ok(
    await until(
      'CronJob resumed',
      async () => (await w.kube.get<Cron>('batch/v1', 'CronJob', ns, 'stash-trigger-app')).spec?.suspend === false,
      30_000,
    ),
    'paused: false resumes it',
  );

  t.ok(
    apps.every((a) => agentPids(ns, a).length === 1),
    'one sidecar agent process per member before deletion',
  );
  await w.kube.delete(BB, 'BackupBatch', ns, 'app');
  await until('BackupBatch gone', async () => !(await w.kube.getOrNull(BB, 'BackupBatch', ns, 'app')), 30_000);
  t.equal(await w.kube.getOrNull('batch/v1', 'CronJob', ns, 'stash-trigger-app'), null, 'CronJob removed');
  for (const a of apps) {
    const d = await w.kube.get<
      KubeObject & {
        spec?: { template?: { spec?: { containers?: Array<{ name: string }>; volumes?: Array<{ name: string }> } } };
      }
    >('apps/v1', 'Deployment', ns, a);
    t.same(
      d.spec?.template?.spec?.containers?.map((c) => c.name),
      ['app'],
      `${a}: sidecar removed from the pod template`,
    );
  }
  await until('sidecar agents stopped', async () => apps.every((a) => agentPids(ns, a).length === 0), 60_000);
  t.pass('the pods that ran sidecars were replaced and their agent processes are gone');
});
