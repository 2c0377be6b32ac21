// The job model end to end (docs/api.md §12, §16.3): a BackupBatch whose members are a Deployment (sidecar), a
// stand-alone PersistentVolumeClaim and a real MariaDB behind an AppBinding (both run by Jobs the operator
// creates), in Sequential and in Parallel order; ONE RestoreBatch puts all three back; a dump that breaks halfway
// fails its target and leaves the earlier snapshots restorable; a restore into new PVCs from volumeClaimTemplates.
// The Jobs' pods are started by kube-controller-manager's Job controller and run by the pod runner (the local
// stand-in for a kubelet, which runs only the agent image); MariaDB is a real server on 127.0.0.1.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiVersionOf, APPBINDING_API_VERSION } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { Informer } from '../../shared/kube/informer.ts';
import { backupTargetPhase } from '../../shared/status/backup.ts';
import { findCondition } from '../../shared/status/conditions.ts';
import { pvcDir } from '../world/pod-runner/volumes.ts';
import { mariadbAvailable, startMariaDb, type MariaDb } from '../backends/mariadb.ts';
import {
  DATA_PATH,
  VOLUME_PATH,
  agentPids,
  backupSession,
  createApp,
  e2eWorld,
  fillClaim,
  finished,
  namespaceWithRepo,
  readTree,
  sidecarsRunning,
  until,
  type RestoreBatchObj,
  type SessionObj,
} from '../support/e2e-world.ts';

const BB = apiVersionOf('BackupBatch');
const BS = apiVersionOf('BackupSession');
const RB = apiVersionOf('RestoreBatch');

t.setTimeout(480_000);
if (!mariadbAvailable()) throw new Error('MariaDB is not installed: run hack/install-system-packages.sh');
const w = await e2eWorld(t, 'e2e-jobs');
const db: MariaDb = await startMariaDb();
let stopping = false;
t.teardown(() => {
  stopping = true;
  return db.stop();
});
// A database that dies under the test is a test-setup failure worth seeing in full.
void db.server.exited.then(() => {
  if (!stopping) console.error(`MariaDB exited during the test:\n${db.server.output()}`);
});

async function seedDatabase(name: string, rows: number): Promise<void> {
  const values = Array.from(
    { length: rows },
    (_, i) => `(${i}, 'item ${i} ✓', UNHEX('${randomBytes(24).toString('hex')}'))`,
  ).join(',');
  await db.sql(`CREATE DATABASE ${name}; CREATE TABLE ${name}.orders (id INT PRIMARY KEY, item VARCHAR(100), blob_col BLOB) ENGINE=InnoDB;
    INSERT INTO ${name}.orders VALUES ${values};
    CREATE TABLE ${name}.customers (id INT PRIMARY KEY, name VARCHAR(50)) ENGINE=InnoDB; INSERT INTO ${name}.customers VALUES (1,'Ada'),(2,'Grace');`);
}

async function dbSnapshot(name: string): Promise<string> {
  return `${await db.rows(name, 'orders')}\n--\n${await db.rows(name, 'customers')}`;
}

/** Secret + AppBinding pointing at the loopback MariaDB (clientConfig.url; a Service would be dialled by IP). */
async function appBinding(ns: string, name: string): Promise<void> {
  await w.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `${name}-auth`, namespace: ns },
    stringData: { username: db.user, password: db.password },
  });
  await w.kube.create({
    apiVersion: APPBINDING_API_VERSION,
    kind: 'AppBinding',
    metadata: { name, namespace: ns },
    spec: {
      type: 'kubedb.com/mariadb',
      clientConfig: { url: `mysql://127.0.0.1:${db.port}/` },
      secret: { name: `${name}-auth` },
    },
  });
}

function members(database: string): Array<Record<string, unknown>> {
  return [
    {
      target: {
        alias: 'web',
        ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
        paths: [DATA_PATH],
        volumeMounts: [{ name: 'data', mountPath: DATA_PATH }],
      },
    },
    {
      task: { name: 'pvc-backup' },
      target: {
        alias: 'uploads',
        ref: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'uploads' },
        paths: [VOLUME_PATH],
        volumeMounts: [{ name: 'uploads', mountPath: VOLUME_PATH }],
      },
    },
    {
      task: { name: 'mariadb-backup-10.5.8', params: [{ name: 'args', value: `--databases ${database}` }] },
      target: { alias: 'mysql', ref: { apiVersion: APPBINDING_API_VERSION, kind: 'AppBinding', name: 'mysql' } },
    },
  ];
}

async function mixedApp(ns: string, database: string): Promise<{ web: string; uploads: string }> {
  await namespaceWithRepo(w, ns);
  const web = await createApp(w, ns, 'web', {
    'index.php': '<?php echo "hi";',
    'wp-content/big.bin': randomBytes(256 * 1024),
  });
  const uploads = fillClaim(w, ns, 'uploads', {
    '2026/11/cat.jpg': randomBytes(300 * 1024),
    README: 'uploads\n',
    'nested/a/b.txt': 'b',
  });
  await w.kube.create({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'uploads', namespace: ns },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  });
  await seedDatabase(database, 3000);
  await appBinding(ns, 'mysql');
  return { web, uploads };
}

async function batch(ns: string, name: string, order: 'Sequential' | 'Parallel', database: string): Promise<void> {
  await w.kube.create({
    apiVersion: BB,
    kind: 'BackupBatch',
    metadata: { name, namespace: ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      executionOrder: order,
      retentionPolicy: { name: 'keep-5', keepLast: 5, prune: true },
      members: members(database),
    },
  });
  await until(
    `BackupBatch ${name} Ready`,
    async () =>
      (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, name)).status?.phase ===
      'Ready',
    60_000,
  );
  await sidecarsRunning(w, ns, ['web']);
}

/**
 * Records every version of one BackupSession a watch delivers and each one in which a member had started while an
 * earlier member was not yet Succeeded. The session status is what the operator hands off on; Job timestamps are
 * not: a Job completes only after its agent has reported and exited, so the next Job can rightly be created first.
 */
async function watchMemberOrder(
  t: { teardown(fn: () => unknown): void },
  ns: string,
  name: string,
): Promise<{ versions: number; violations: string[] }> {
  const seen = { versions: 0, violations: [] as string[] };
  const inf = new Informer<SessionObj>(w.kube, { apiVersion: BS, kind: 'BackupSession', namespace: ns });
  const check = (o: SessionObj): void => {
    if (o.metadata?.name !== name) return;
    seen.versions++;
    const targets = o.status?.targets ?? [];
    const started = (x: (typeof targets)[number]) =>
      backupTargetPhase(x) !== 'Pending' || findCondition(x.conditions, 'BackupExecutorEnsured')?.status === 'True';
    targets.forEach((x, i) => {
      const early = targets.slice(0, i).filter((y) => backupTargetPhase(y) !== 'Succeeded');
      if (started(x) && early.length)
        seen.violations.push(
          `${x.ref?.kind}/${x.ref?.name} ${backupTargetPhase(x)} while ${early.map((y) => `${y.ref?.kind}/${y.ref?.name} ${backupTargetPhase(y)}`).join(', ')}`,
        );
    });
  };
  inf.on('add', check).on('update', check).start();
  t.teardown(() => inf.stop());
  await inf.waitForSync();
  return seen;
}

async function jobsOf(ns: string): Promise<string[]> {
  return (await w.kube.list('batch/v1', 'Job', ns)).items.map((j) => j.metadata?.name ?? '').sort();
}

t.test(
  'Sequential mixed batch (Deployment + PVC + MariaDB) backs up in order, then ONE RestoreBatch restores all three',
  async (t) => {
    const ns = 'e2e-jobs-seq';
    const database = 'shop_seq';
    const dirs = await mixedApp(ns, database);
    const before = { web: readTree(dirs.web), uploads: readTree(dirs.uploads), db: await dbSnapshot(database) };
    await batch(ns, 'app', 'Sequential', database);
    const order = await watchMemberOrder(t, ns, 'app-1');
    await w.kube.create(backupSession(ns, 'app-1', 'app'));
    const s = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'app-1', 180_000);
    t.equal(s.status?.phase, 'Succeeded', 'the session succeeded', { status: s.status });
    t.same(
      s.status?.targets?.map((x) => [x.ref?.kind, x.phase, x.stats?.[0]?.hostname]),
      [
        ['Deployment', 'Succeeded', 'web'],
        ['PersistentVolumeClaim', 'Succeeded', 'uploads'],
        ['AppBinding', 'Succeeded', 'mysql'],
      ],
      'every member succeeded under its alias as host',
    );
    t.equal(
      s.status?.targets?.[1]?.stats?.[0]?.snapshots?.[0]?.fileStats?.totalFiles,
      3,
      'the PVC Job backed up the three files of the claim',
    );
    t.match(s.status?.targets?.[2]?.stats?.[0]?.snapshots?.[0]?.path, '/dumpfile.sql', 'the database is one dump file');
    t.same(
      await jobsOf(ns),
      ['stash-backup-app-1-1', 'stash-backup-app-1-2'],
      'a backup Job per job-model member, none for the Deployment',
    );
    t.same(
      order.violations,
      [],
      'Sequential: in every version of the session the watch saw, a member started only once every earlier one had Succeeded',
    );
    t.ok(order.versions >= 3, `the watch saw the session change (${order.versions} versions)`);

    // Lose everything.
    await w.kube.patch(BB, 'BackupBatch', ns, 'app', { spec: { paused: true } });
    await db.sql(`DROP DATABASE ${database}`);
    rmSync(join(dirs.uploads, '2026'), { recursive: true });
    writeFileSync(join(dirs.uploads, 'README'), 'damaged');
    rmSync(join(dirs.web, 'wp-content'), { recursive: true });
    t.notSame(readTree(dirs.uploads), before.uploads, 'the claim is damaged');

    await w.kube.create({
      apiVersion: RB,
      kind: 'RestoreBatch',
      metadata: { name: 'restore', namespace: ns },
      spec: {
        repository: { name: 'repo' },
        executionOrder: 'Sequential',
        members: [
          {
            target: {
              alias: 'web',
              ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
              volumeMounts: [{ name: 'data', mountPath: DATA_PATH }],
              rules: [{ paths: [DATA_PATH] }],
            },
          },
          {
            task: { name: 'pvc-restore' },
            target: {
              alias: 'uploads',
              ref: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'uploads' },
              volumeMounts: [{ name: 'uploads', mountPath: VOLUME_PATH }],
              rules: [{ paths: [VOLUME_PATH] }],
            },
          },
          {
            task: { name: 'mariadb-restore-10.5.8' },
            target: {
              alias: 'mysql',
              ref: { apiVersion: APPBINDING_API_VERSION, kind: 'AppBinding', name: 'mysql' },
              rules: [{ snapshots: ['latest'] }],
            },
          },
        ],
      },
    });
    const rb = await finished<RestoreBatchObj>(w, RB, 'RestoreBatch', ns, 'restore', 180_000);
    t.equal(rb.status?.phase, 'Succeeded', 'the RestoreBatch succeeded', { status: rb.status });
    t.same(
      rb.status?.members?.map((m) => m.phase),
      ['Succeeded', 'Succeeded', 'Succeeded'],
    );
    t.same(readTree(dirs.uploads), before.uploads, 'the claim is byte-identical again');
    t.same(readTree(dirs.web), before.web, 'the Deployment volume is byte-identical again');
    t.equal(await dbSnapshot(database), before.db, 'every row of the database is back, identical');
  },
);

t.test('Parallel mixed batch: all three members run at once and succeed', async (t) => {
  const ns = 'e2e-jobs-par';
  const database = 'shop_par';
  await mixedApp(ns, database);
  await batch(ns, 'app', 'Parallel', database);
  await w.kube.create(backupSession(ns, 'app-1', 'app'));
  const s = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'app-1', 180_000);
  t.equal(s.status?.phase, 'Succeeded', 'the session succeeded', { status: s.status });
  t.same(
    s.status?.targets?.map((x) => x.phase),
    ['Succeeded', 'Succeeded', 'Succeeded'],
  );
  const created = await Promise.all(
    ['stash-backup-app-1-1', 'stash-backup-app-1-2'].map((n) => w.kube.get('batch/v1', 'Job', ns, n)),
  );
  const times = created.map((j) => Date.parse(j.metadata?.creationTimestamp ?? ''));
  t.ok(Math.abs(times[0]! - times[1]!) <= 1000, 'both Jobs were created in the same pass');
});

t.test('a dump that breaks halfway fails its target with a reason; earlier snapshots stay restorable', async (t) => {
  const ns = 'e2e-jobs-fail';
  const database = 'shop_fail';
  await namespaceWithRepo(w, ns);
  await seedDatabase(database, 2000);
  await appBinding(ns, 'mysql');
  const bb = (name: string) => ({
    apiVersion: BB,
    kind: 'BackupBatch',
    metadata: { name, namespace: ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      retentionPolicy: { name: 'keep-5', keepLast: 5, prune: true },
      members: [members(database)[2]],
    },
  });
  await w.kube.create(bb('db'));
  await until(
    'BackupBatch Ready',
    async () =>
      (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, 'db')).status?.phase ===
      'Ready',
    60_000,
  );
  await w.kube.create(backupSession(ns, 'db-1', 'db'));
  const good = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'db-1', 120_000);
  t.equal(good.status?.phase, 'Succeeded', 'a first backup succeeds', { status: good.status });
  const goodSnapshot = good.status?.targets?.[0]?.stats?.[0]?.snapshots?.[0]?.name;
  const pristine = await dbSnapshot(database);

  // The dump reads `customers` first (alphabetical), then blocks on `orders` under a write lock; killing its
  // blocked connection breaks mysqldump in the middle of its output.
  const lock = await db.holdWriteLock(database, 'orders');
  await w.kube.create(backupSession(ns, 'db-2', 'db'));
  const killed = await db.killBlockedSession(db.user, 60_000);
  await lock.release();
  t.match(killed, /orders/i, 'the dump was reading orders when its connection died');
  const bad = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'db-2', 120_000);
  t.equal(bad.status?.phase, 'Failed', 'the session failed');
  const host = bad.status?.targets?.[0]?.stats?.[0];
  t.equal(host?.phase, 'Failed');
  t.match(host?.error, /mysqldump|mariadb-dump|dump/i, 'the reason names the dump', { host });
  t.notOk(host?.error?.includes(db.password), 'the database password is not in the reason');
  t.notOk(host?.snapshots?.length, 'no snapshot recorded for the broken dump');

  // The earlier snapshot is still whole: restore it.
  await db.sql(`DROP DATABASE ${database}`);
  await w.kube.create({
    apiVersion: RB,
    kind: 'RestoreBatch',
    metadata: { name: 'restore', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      members: [
        {
          task: { name: 'mysql-restore-8.0.21' },
          target: {
            alias: 'mysql',
            ref: { apiVersion: APPBINDING_API_VERSION, kind: 'AppBinding', name: 'mysql' },
            rules: [{ snapshots: [goodSnapshot] }],
          },
        },
      ],
    },
  });
  const rb = await finished<RestoreBatchObj>(w, RB, 'RestoreBatch', ns, 'restore', 120_000);
  t.equal(rb.status?.phase, 'Succeeded', 'restoring the earlier snapshot succeeds', { status: rb.status });
  t.equal(await dbSnapshot(database), pristine, 'with every row');
});

t.test(
  'a backup Job whose agent dies mid-dump: the host is marked Failed with a reason, the session ends',
  async (t) => {
    const ns = 'e2e-jobs-kill';
    const database = 'shop_kill';
    await namespaceWithRepo(w, ns);
    await seedDatabase(database, 500);
    await appBinding(ns, 'mysql');
    await w.kube.create({
      apiVersion: BB,
      kind: 'BackupBatch',
      metadata: { name: 'db', namespace: ns },
      spec: {
        repository: { name: 'repo' },
        schedule: '0 0 1 1 *',
        retentionPolicy: { name: 'keep-5', keepLast: 5, prune: true },
        members: [members(database)[2]],
      },
    });
    await until(
      'BackupBatch Ready',
      async () =>
        (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, 'db')).status?.phase ===
        'Ready',
      60_000,
    );
    // The dump blocks on a locked table, so the agent is certainly mid-backup when its container dies.
    const lock = await db.holdWriteLock(database, 'orders');
    t.teardown(() => lock.release());
    await w.kube.create(backupSession(ns, 'db-1', 'db'));
    await until(
      'the dump waiting on the lock',
      async () =>
        (
          await db.sql(
            `SELECT COUNT(*) FROM information_schema.processlist WHERE user='${db.user}' AND state LIKE 'Waiting for table%'`,
          )
        ).trim() !== '0',
      60_000,
    );
    const pids = agentPids(ns, 'mysql');
    t.equal(pids.length, 1, 'one agent runs the backup Job');
    process.kill(-pids[0]!, 'SIGKILL'); // the whole container, as when a node or the OOM killer takes it
    await lock.release();
    const s = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'db-1', 90_000);
    t.equal(s.status?.phase, 'Failed', 'the session ended instead of staying Running');
    const host = s.status?.targets?.[0]?.stats?.[0];
    t.equal(host?.hostname, 'mysql');
    t.equal(host?.phase, 'Failed');
    t.match(host?.error, /Job stash-backup-db-1-0 .*before its host reported/, 'the reason names the Job', { host });
  },
);

t.test('restore into new PVCs from volumeClaimTemplates', async (t) => {
  const ns = 'e2e-jobs-vct';
  await namespaceWithRepo(w, ns);
  const uploads = fillClaim(w, ns, 'uploads', { 'a.txt': 'a', 'b/c.bin': randomBytes(64 * 1024) });
  const want = readTree(uploads);
  await w.kube.create({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'uploads', namespace: ns },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  });
  await w.kube.create({
    apiVersion: BB,
    kind: 'BackupBatch',
    metadata: { name: 'vol', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      retentionPolicy: { name: 'keep-5', keepLast: 5, prune: true },
      members: [
        {
          task: { name: 'pvc-backup' },
          target: {
            alias: 'uploads',
            ref: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'uploads' },
            paths: [VOLUME_PATH],
            volumeMounts: [{ name: 'uploads', mountPath: VOLUME_PATH }],
          },
        },
      ],
    },
  });
  await until(
    'BackupBatch Ready',
    async () =>
      (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, 'vol')).status?.phase ===
      'Ready',
    60_000,
  );
  await w.kube.create(backupSession(ns, 'vol-1', 'vol'));
  t.equal(
    (await finished<SessionObj>(w, BS, 'BackupSession', ns, 'vol-1', 120_000)).status?.phase,
    'Succeeded',
    'backed up',
  );

  await w.kube.create({
    apiVersion: RB,
    kind: 'RestoreBatch',
    metadata: { name: 'clone', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      members: [
        {
          task: { name: 'pvc-restore' },
          target: {
            alias: 'uploads',
            volumeClaimTemplates: [
              {
                metadata: { name: 'copy-${POD_ORDINAL}' },
                spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
              },
            ],
            volumeMounts: [{ name: 'copy', mountPath: VOLUME_PATH }],
            rules: [{ paths: [VOLUME_PATH] }],
          },
        },
      ],
    },
  });
  const rb = await finished<RestoreBatchObj>(w, RB, 'RestoreBatch', ns, 'clone', 120_000);
  t.equal(rb.status?.phase, 'Succeeded', 'the restore into a new PVC succeeded', { status: rb.status });
  t.ok(
    await w.kube.getOrNull('v1', 'PersistentVolumeClaim', ns, 'copy-0'),
    'the PVC copy-0 was created from the template',
  );
  t.same(readTree(pvcDir(w.dir, ns, 'copy-0')), want, 'and holds the backed-up files');
});
