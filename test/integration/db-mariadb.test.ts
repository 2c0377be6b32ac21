// A MariaDB member end to end on real servers (Debian mariadb-server started by the test): the AppBinding
// and Secret from the apiserver, mysqldump of several databases into restic, restore with rows identical,
// a dump killed halfway that leaves no snapshot, no password in any command line. Both restic versions.
import t from 'tap';
import { resticBinaries } from '../backends/bins.ts';
import { databaseScenario, type DatabaseUnderTest } from '../backends/db-scenario.ts';
import { mariadbAvailable, startMariaDb } from '../backends/mariadb.ts';
import { useCluster } from '../world/harness.ts';
import { backupDatabase, restoreDatabase } from '../../agent/db/run.ts';

// Two restic versions, each a full dump, restore and failure scenario with real database clients: on a loaded
// two-core machine this file ran 100-120 s, at the runner's 120 s default.
t.setTimeout(300_000);

const bins = resticBinaries();
if (bins.size === 0) t.fail('no restic binary found');
if (!mariadbAvailable()) t.fail('MariaDB not installed: run hack/install-system-packages.sh');

const TABLES = ['blog.posts', 'shop.orders', 'shop.customers', 'zz_locked.t'];

// Text with 4-byte UTF-8, quotes, a backslash and a tab; blobs with NUL, quotes, backslash, CR, LF, ^Z.
const SEED = String.raw`
CREATE DATABASE blog; CREATE DATABASE shop; CREATE DATABASE zz_locked;
USE blog;
CREATE TABLE posts (id INT PRIMARY KEY, title VARCHAR(200), body MEDIUMTEXT, created DATETIME(6), data BLOB, score DOUBLE NULL) ENGINE=InnoDB;
INSERT INTO posts SELECT seq, CONCAT('Grüße 🎉 ключ ✓ #', seq, ' ''q'' "dq" \\ tab\t end'), REPEAT(CONCAT('line ', seq, '\n'), 1 + seq % 7),
  '2024-01-02 03:04:05.123456' + INTERVAL seq SECOND, CONCAT(UNHEX(SHA2(seq, 256)), CHAR(0, 39, 34, 92, 10, 13, 26)), IF(seq % 10 = 0, NULL, seq / 7)
  FROM seq_1_to_4000;
USE shop;
CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100), email VARCHAR(100) UNIQUE) ENGINE=InnoDB;
INSERT INTO customers SELECT seq, CONCAT('Zoë Ñandú ', seq), CONCAT('c', seq, '@example.test') FROM seq_1_to_2500;
CREATE TABLE orders (id INT PRIMARY KEY, customer INT, amount DECIMAL(10,2), note TEXT, FOREIGN KEY (customer) REFERENCES customers(id)) ENGINE=InnoDB;
INSERT INTO orders SELECT seq, 1 + seq % 2500, seq * 1.25, IF(seq % 3 = 0, NULL, CONCAT('注文 ', seq)) FROM seq_1_to_6000;
USE zz_locked;
CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB;
INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_2000;
`;

// The engine specifics (task args, restoring over existing data) do not depend on restic: newest only.
const newest = [...bins.keys()].sort((a, b) => b.localeCompare(a, undefined, { numeric: true }))[0];

for (const [version, bin] of bins) {
  t.test(`MariaDB member, restic ${version}`, async (t) => {
    const c = await useCluster(t);
    // The canary: characters an option file or a shell would mangle.
    const password = `Canary-${version}-p#ss"w'rd\\;$x`;
    const m = await startMariaDb({ password });
    t.teardown(() => m.stop());
    const db: DatabaseUnderTest = {
      port: m.port,
      user: m.user,
      password,
      seed: () => m.sql(SEED).then(() => undefined),
      async tables() {
        const out: Record<string, string> = {};
        for (const name of TABLES) {
          const [d, tb] = name.split('.') as [string, string];
          out[name] = await m.rows(d, tb);
        }
        return out;
      },
      dropAll: () =>
        m
          .sql('DROP DATABASE IF EXISTS blog; DROP DATABASE IF EXISTS shop; DROP DATABASE IF EXISTS zz_locked;')
          .then(() => undefined),
      databases: () => m.databases(),
      lockLast: () => m.holdWriteLock('zz_locked', 't'),
      killWaitingDump: () => m.killBlockedSession(m.user),
      stop: () => m.stop(),
    };
    await databaseScenario(t, c, bin, db, {
      backupTask: 'mariadb-backup-10.5.8',
      restoreTask: 'mariadb-restore-10.5.8',
      type: 'kubedb.com/mariadb',
      scheme: 'mysql',
      clients: /^(mysqldump|mariadb-dump|mysql|mariadb)$/,
      lostSession: /mysqldump failed .*(Lost connection|server has gone away|interrupted|2013)/i,
      more:
        version !== newest
          ? undefined
          : async (t, { restic, conn, host, original }) => {
              // mysqldump output drops and re-creates each table, so a restore replaces changed rows.
              await m.sql(
                "UPDATE blog.posts SET title = 'changed' WHERE id < 100; DELETE FROM shop.orders WHERE id > 10;",
              );
              await restoreDatabase(restic, conn, { snapshot: 'latest', host });
              const now = await db.tables();
              for (const key of Object.keys(original))
                t.ok(now[key] === original[key], `${key}: replaced by the restore`);
              // The task's args choose what is dumped: only shop.
              const shopOnly = await backupDatabase(restic, conn, {
                host,
                params: [{ name: 'args', value: '--databases shop' }],
              });
              await db.dropAll();
              await restoreDatabase(restic, conn, { snapshot: shopOnly.snapshotId!, host });
              t.same(await db.databases(), ['shop'], 'only the database the args named is in the dump');
              t.ok((await m.rows('shop', 'orders')) === original['shop.orders'], 'shop.orders identical');
              t.ok((await m.rows('shop', 'customers')) === original['shop.customers'], 'shop.customers identical');
            },
    });
  });
}
