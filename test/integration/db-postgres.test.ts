// A PostgreSQL member end to end on real servers (Debian postgresql-15 started by the test, as the
// `postgres` OS user): the AppBinding and upstream-style Secret (POSTGRES_USER/POSTGRES_PASSWORD) from the
// apiserver, pg_dumpall of several databases into restic, restore through psql with rows identical, a dump
// killed halfway that leaves no snapshot, no password in any command line. Both restic versions.
import t from 'tap';
import { resticBinaries } from '../backends/bins.ts';
import { databaseScenario, type DatabaseUnderTest } from '../backends/db-scenario.ts';
import { postgresBinDir, startPostgres } from '../backends/postgres.ts';
import { backupDatabase, restoreDatabase } from '../../agent/db/run.ts';
import { useCluster } from '../world/harness.ts';

// Two restic versions, each a full dump, restore and failure scenario with real database clients: on a loaded
// two-core machine this file ran 100-120 s, at the runner's 120 s default.
t.setTimeout(300_000);

const bins = resticBinaries();
if (bins.size === 0) t.fail('no restic binary found');
if (!postgresBinDir()) t.fail('PostgreSQL not installed: run hack/install-system-packages.sh');

const TABLES: Array<[string, string]> = [
  ['blog', 'posts'],
  ['shop', 'orders'],
  ['shop', 'customers'],
  ['zz_locked', 't'],
];

// Text with 4-byte UTF-8, quotes, a backslash and a tab; bytea with NUL, quotes, backslash, CR, LF.
const SEED: Record<string, string> = {
  blog: String.raw`
CREATE TABLE posts (id int PRIMARY KEY, title text, body text, created timestamptz, data bytea, score double precision, meta jsonb);
INSERT INTO posts SELECT g, 'Grüße 🎉 ключ ✓ #' || g || ' ''q'' "dq" \ tab' || chr(9) || 'end', repeat('line ' || g || chr(10), 1 + g % 7),
  timestamptz '2024-01-02 03:04:05.123456+00' + g * interval '1 second', decode(md5(g::text), 'hex') || '\x0027225c0a0d1a'::bytea,
  CASE WHEN g % 10 = 0 THEN NULL ELSE g / 7.0 END, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'ü'))
  FROM generate_series(1, 4000) g;`,
  shop: String.raw`
CREATE TABLE customers (id int PRIMARY KEY, name text, email text UNIQUE);
INSERT INTO customers SELECT g, 'Zoë Ñandú ' || g, 'c' || g || '@example.test' FROM generate_series(1, 2500) g;
CREATE TABLE orders (id int PRIMARY KEY, customer int REFERENCES customers(id), amount numeric(10,2), note text);
INSERT INTO orders SELECT g, 1 + g % 2500, g * 1.25, CASE WHEN g % 3 = 0 THEN NULL ELSE '注文 ' || g END FROM generate_series(1, 6000) g;
CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 1000;`,
  zz_locked: String.raw`
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 2000) g;`,
};

// The engine specifics (task args, restoring over existing data) do not depend on restic: newest only.
const newest = [...bins.keys()].sort((a, b) => b.localeCompare(a, undefined, { numeric: true }))[0];

for (const [version, bin] of bins) {
  t.test(`PostgreSQL member, restic ${version}`, async (t) => {
    const c = await useCluster(t);
    const password = `Canary-${version}-p#ss"w'rd\\;$x`;
    const pg = await startPostgres({ password });
    t.teardown(() => pg.stop());
    const db: DatabaseUnderTest = {
      port: pg.port,
      user: pg.user,
      password,
      async seed() {
        for (const [name, sql] of Object.entries(SEED)) {
          await pg.sql(`CREATE DATABASE ${name}`);
          await pg.sql(sql, name);
        }
      },
      async tables() {
        const out: Record<string, string> = {};
        for (const [d, tb] of TABLES) out[`${d}.${tb}`] = await pg.rows(d, tb);
        return out;
      },
      async dropAll() {
        for (const name of Object.keys(SEED)) await pg.sql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      },
      databases: () => pg.databases(),
      lockLast: () => pg.holdExclusiveLock('zz_locked', 't'),
      killWaitingDump: () => pg.terminateBlockedSession(pg.user),
      stop: () => pg.stop(),
    };
    await databaseScenario(t, c, bin, db, {
      backupTask: 'postgres-backup-16.1',
      restoreTask: 'postgres-restore-16.1',
      type: 'kubedb.com/postgres',
      scheme: 'postgres',
      clients: /^(pg_dumpall|pg_dump|psql)$/,
      lostSession: /pg_dumpall failed .*(terminating connection|server closed the connection|pg_dump failed)/i,
      keys: { user: 'POSTGRES_USER', password: 'POSTGRES_PASSWORD' },
      more:
        version !== newest
          ? undefined
          : async (t, { restic, conn, host, original }) => {
              // A plain pg_dumpall dump does not overwrite: restoring it over existing tables fails and says why.
              const over = await restoreDatabase(restic, conn, { snapshot: 'latest', host }).then(
                () => undefined,
                (err: unknown) => err as Error,
              );
              t.match(
                over?.message,
                /psql failed \(exit code 3\): .*statement\(s\) of the dump failed, first: relation ".+" already exists/,
                `restore over existing data: ${over?.message.slice(-160)}`,
              );
              // With the task's args (`--clean --if-exists`, as a user would set them) it replaces what is there.
              const clean = await backupDatabase(restic, conn, {
                host,
                params: [{ name: 'args', value: '--clean --if-exists' }],
              });
              await pg.sql(
                "UPDATE posts SET title = 'changed' WHERE id < 100; INSERT INTO posts (id) VALUES (99999)",
                'blog',
              );
              await pg.sql('DELETE FROM orders WHERE id > 10', 'shop');
              await restoreDatabase(restic, conn, { snapshot: clean.snapshotId!, host });
              const now = await db.tables();
              for (const key of Object.keys(original))
                t.ok(now[key] === original[key], `${key}: replaced by the --clean dump`);
            },
    });
  });
}
