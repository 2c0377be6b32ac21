// The database-member scenario both engines go through (test/integration/db-*.test.ts), for each restic
// version: the member's AppBinding and Secret are stored in the real apiserver and the connection is built
// from what it returns; a dump of several databases is backed up, everything is dropped and restored,
// and the rows must be identical; a dump that dies halfway (the last database's table is locked, and the
// dump's session is killed while it waits) fails the backup with a readable reason, leaves no snapshot and
// leaves the earlier snapshot restorable. Meanwhile every process's command line is sampled for the
// password.
import { readdir, readFile } from 'node:fs/promises';
import type { Test } from 'tap';
import { requireDatabaseTask } from '../../agent/db/tasks.ts';
import { connectionFromAppBinding, type AppBinding, type DatabaseConnection } from '../../agent/db/connection.ts';
import type { Restic } from '../../shared/restic/command.ts';
import { backupDatabase, restoreDatabase } from '../../agent/db/run.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { makeLocalBackend } from './local.ts';
import { makeRestic } from './restic.ts';
import type { ClusterHandle } from '../world/harness.ts';

export interface DatabaseUnderTest {
  port: number;
  user: string;
  password: string;
  /** Databases blog, shop and zz_locked (last in every dump order) with thousands of rows, blobs, unicode. */
  seed(): Promise<void>;
  /** Canonical rows of every seeded table, keyed db.table. */
  tables(): Promise<Record<string, string>>;
  dropAll(): Promise<void>;
  databases(): Promise<string[]>;
  /** Locks zz_locked's table so a dump stops there, after the other databases are in the stream. */
  lockLast(): Promise<{ release(): Promise<void> }>;
  /** Kills the dump's session once it waits for that lock; returns the statement it was running. */
  killWaitingDump(): Promise<string>;
  stop(): Promise<void>;
}

export interface ScenarioOptions {
  backupTask: string;
  restoreTask: string;
  /** AppBinding spec.type and clientConfig.url scheme. */
  type: string;
  scheme: string;
  /** Process names of the dump/restore clients, to prove the sampler saw them. */
  clients: RegExp;
  /** What the failed dump's error says about the lost session. */
  lostSession: RegExp;
  /** Secret keys for username and password. */
  keys?: { user: string; password: string };
  /** Engine-specific checks after the common ones (task params, restoring over existing data). */
  more?: (
    t: Test,
    x: { restic: Restic; conn: DatabaseConnection; host: string; original: Record<string, string> },
  ) => Promise<void>;
}

/**
 * Samples /proc/<pid>/cmdline of every process until stop(); reports processes whose argv holds `needle`.
 * `seen` lists the clients it caught: a process named like `watch`, or with an argument like `watchArg`
 * (the node scripts that wrap a client).
 */
export function sampleCommandLines(needle: string, watch: RegExp, watchArg = /psql-guard/) {
  const hits = new Set<string>();
  const seen = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const pids = await readdir('/proc').catch(() => [] as string[]);
      await Promise.all(
        pids
          .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
          .map(async (pid) => {
            const raw = await readFile(`/proc/${pid}/cmdline`).catch(() => undefined);
            if (!raw || raw.length === 0) return;
            const argv = raw.toString('utf8').split('\0').filter(Boolean);
            const line = argv.join(' ');
            const base = (argv[0] ?? '').split('/').pop() ?? '';
            if (watch.test(base) || argv.some((a) => watchArg.test(a)))
              seen.add(argv.slice(0, 3).join(' ').slice(0, 120));
            if (line.includes(needle)) hits.add(`${pid}: ${(argv[0] ?? '').slice(0, 60)}`);
          }),
      );
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { hits: [...hits], seen: [...seen] };
    },
  };
}

export async function databaseScenario(
  t: Test,
  c: ClusterHandle,
  bin: string,
  db: DatabaseUnderTest,
  o: ScenarioOptions,
): Promise<void> {
  const local = await makeLocalBackend();
  const { restic, cleanup } = await makeRestic(bin, local.backend, local.secret, { graceMs: 15_000 });
  t.teardown(async () => {
    await cleanup();
    await local.stop();
  });
  await restic.init();

  // The member as the operator would see it: Secret + AppBinding stored and read back from the apiserver.
  const keys = o.keys ?? { user: 'username', password: 'password' };
  const name = `db-${Math.random().toString(36).slice(2, 8)}`;
  await c.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `${name}-auth`, namespace: c.namespace },
    stringData: { [keys.user]: db.user, [keys.password]: db.password },
  } as KubeObject);
  await c.kube.create({
    apiVersion: 'appcatalog.appscode.com/v1alpha1',
    kind: 'AppBinding',
    metadata: { name, namespace: c.namespace },
    spec: {
      type: o.type,
      version: '1',
      clientConfig: { url: `${o.scheme}://127.0.0.1:${db.port}/` },
      secret: { name: `${name}-auth` },
    },
  } as KubeObject);
  const binding = await c.kube.get<KubeObject & AppBinding>(
    'appcatalog.appscode.com/v1alpha1',
    'AppBinding',
    c.namespace,
    name,
  );
  const secret = await c.kube.get<KubeObject & { data?: Record<string, string> }>(
    'v1',
    'Secret',
    c.namespace,
    `${name}-auth`,
  );
  const secretData = Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
  const backupTask = requireDatabaseTask(o.backupTask, 'backup');
  const restoreTask = requireDatabaseTask(o.restoreTask, 'restore');
  t.equal(backupTask.engine, restoreTask.engine);
  const conn = connectionFromAppBinding(binding, secretData, { engine: backupTask.engine });
  t.match(
    conn,
    { engine: backupTask.engine, host: '127.0.0.1', port: db.port, user: db.user },
    'connection from the stored AppBinding',
  );
  t.equal(conn.password, db.password, 'password from the stored Secret');

  await db.seed();
  const original = await db.tables();
  t.ok(Object.keys(original).length >= 3, `tables: ${Object.keys(original).join(', ')}`);
  t.ok(
    Object.values(original).every((rows) => rows.split('\n').length > 1000),
    'thousands of rows per table',
  );
  const host = 'host-0';
  const sampler = sampleCommandLines(db.password, o.clients);
  let sampled: { hits: string[]; seen: string[] } | undefined;
  try {
    const started = Date.now();
    const backup = await backupDatabase(restic, conn, { host });
    t.ok(backup.snapshotId, `snapshot ${backup.snapshotId?.slice(0, 8)} in ${Date.now() - started} ms`);
    const snaps = await restic.snapshots();
    t.equal(snaps.length, 1, 'one snapshot');
    t.same(snaps[0]?.paths, ['/dumpfile.sql'], 'the dump is /dumpfile.sql');
    t.equal(snaps[0]?.hostname, host);

    await db.dropAll();
    t.same(await db.databases(), [], 'databases dropped');
    const restoreStarted = Date.now();
    const restored = await restoreDatabase(restic, conn, { snapshot: backup.snapshotId!, host });
    t.ok(restored.bytes > 100_000, `restored ${restored.bytes} bytes in ${Date.now() - restoreStarted} ms`);
    t.same(await db.databases(), ['blog', 'shop', 'zz_locked'], 'databases back');
    const after = await db.tables();
    for (const key of Object.keys(original))
      t.ok(after[key] === original[key], `${key}: rows identical (${original[key]!.length} bytes)`);

    // A dump that dies halfway: the earlier databases are already in restic's stdin when it fails.
    const lock = await db.lockLast();
    let failed: unknown;
    try {
      const attempt = backupDatabase(restic, conn, { host }).then(
        () => undefined,
        (err: unknown) => err,
      );
      const stuck = await db.killWaitingDump();
      t.match(
        stuck,
        /zz_locked|"t"|`t`|public\.t/i,
        `the dump was killed at the last database (${stuck.slice(0, 80)})`,
      );
      failed = await attempt;
    } finally {
      await lock.release();
    }
    t.ok(failed instanceof Error, 'the backup of a dump that failed halfway rejects');
    const msg = (failed as Error).message;
    t.match(msg, /^backup of .* at 127\.0\.0\.1:\d+ failed: /, `readable: ${msg}`);
    t.match(msg, o.lostSession, 'says the dump lost its session');
    t.notMatch(msg, db.password, 'no password in the message');
    const afterFailure = await restic.snapshots();
    t.same(
      afterFailure.map((s) => s.id),
      snaps.map((s) => s.id),
      'restic snapshots shows no new snapshot',
    );
    t.same(await restic.listLocks(), [], 'no lock left behind');

    // The earlier snapshot still restores (`latest` for this host is still it).
    await db.dropAll();
    await restoreDatabase(restic, conn, { snapshot: 'latest', host });
    const again = await db.tables();
    for (const key of Object.keys(original))
      t.ok(again[key] === original[key], `${key}: identical after restoring the earlier snapshot`);

    // Wrong credentials: a readable failure that does not echo what it was given.
    const wrong = { ...conn, password: `${db.password}-wrong` };
    const denied = await restoreDatabase(restic, wrong, { snapshot: 'latest', host }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    t.ok(denied, 'a restore with a wrong password fails');
    t.match(
      denied?.message,
      /^restore of .* from snapshot latest failed: (mysql|psql) failed .*(denied|authentication failed)/i,
      `readable: ${denied?.message}`,
    );
    t.notMatch(denied?.message ?? '', db.password, 'no password in the message');

    if (o.more) await t.test('engine specifics', (tt) => o.more!(tt, { restic, conn, host, original }));
  } finally {
    sampled = await sampler.stop();
  }
  t.same(sampled.hits, [], 'the password never appeared in any command line');
  t.ok(sampled.seen.length >= 2, `the sampler saw the clients run: ${sampled.seen.join(' ; ')}`);
}
