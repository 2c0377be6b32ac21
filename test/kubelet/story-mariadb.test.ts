// Story on real pods: a MariaDB member. Debian's MariaDB server runs as a pod (the image built by
// test/world/images from Debian's packages) behind a Service; an AppBinding points at the Service's ClusterIP
// (this world runs no cluster DNS, so clientConfig.url rather than clientConfig.service). The operator's backup
// Job dumps the database through kube-proxy into restic; after the database is dropped, a RestoreSession's Job
// streams the dump back, and the rows are the same.
import t from 'tap';
import { apiVersionOf, APPBINDING_API_VERSION } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { MARIADB_IMAGE } from '../world/images/build.ts';
import { until } from '../support/e2e-world.ts';
import { backupNow, finalPhase, invokerReady, openStory, type Pod, type Session } from './story-kit.ts';

t.setTimeout(600_000);
const st = await openStory(t, 'mariadb', ['mariadb']);
const PASSWORD = `db-${Date.now().toString(36)}`;

/** SQL as the server's root, over its unix socket, inside the database container. */
const sql = (pod: string, query: string) =>
  st.kubectl('-n', st.ns, 'exec', pod, '-c', 'mariadb', '--', 'mariadb', '-N', '-B', '-e', query);

// The server initialises its datadir on first start and creates the login the AppBinding's Secret names
// (--init-file runs on every start). The password reaches the container through env from the Secret.
const START = [
  'set -e',
  'mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld',
  '[ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null',
  `printf "CREATE USER IF NOT EXISTS 'stash'@'%%' IDENTIFIED BY '%s';\\nGRANT ALL ON *.* TO 'stash'@'%%';\\n" "$DB_PASSWORD" > /run/mysqld/init.sql`,
  'chown mysql /run/mysqld/init.sql && chmod 600 /run/mysqld/init.sql',
  'exec mariadbd --user=mysql --datadir=/var/lib/mysql --bind-address=0.0.0.0 --port=3306 --init-file=/run/mysqld/init.sql',
].join('\n');

t.test('a MariaDB pod is dumped by a backup Job and restored by a restore Job', async (t) => {
  await st.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'mysql-auth', namespace: st.ns },
    stringData: { username: 'stash', password: PASSWORD },
  });
  await st.kube.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'mysql', namespace: st.ns, labels: { app: 'mysql' } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'mysql' } },
      template: {
        metadata: { labels: { app: 'mysql' } },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: 'mariadb',
              image: MARIADB_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              command: ['sh', '-c', START],
              env: [{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'mysql-auth', key: 'password' } } }],
              ports: [{ containerPort: 3306 }],
              readinessProbe: { exec: { command: ['mariadb-admin', 'ping'] }, periodSeconds: 1 },
              volumeMounts: [{ name: 'data', mountPath: '/var/lib/mysql' }],
            },
          ],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    },
  });
  const svc = await st.kube.create<KubeObject & { spec?: Record<string, unknown> & { clusterIP?: string } }>({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'mysql', namespace: st.ns },
    spec: { selector: { app: 'mysql' }, ports: [{ port: 3306, targetPort: 3306 }] },
  });
  await st.kube.create({
    apiVersion: APPBINDING_API_VERSION,
    kind: 'AppBinding',
    metadata: { name: 'mysql', namespace: st.ns },
    spec: {
      type: 'kubedb.com/mariadb',
      clientConfig: { url: `mysql://${svc.spec!.clusterIP}:3306/` },
      secret: { name: 'mysql-auth' },
    },
  });
  const pod = await until(
    'the MariaDB pod Ready',
    async () =>
      (await st.kube.list<Pod>('v1', 'Pod', st.ns, { labelSelector: 'app=mysql' })).items.find((p) =>
        p.status?.containerStatuses?.every((c) => c.ready),
      ),
    120_000,
  );
  const name = pod.metadata!.name!;
  sql(
    name,
    `CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(100), amount DECIMAL(8,2)) ENGINE=InnoDB;
     USE shop; INSERT INTO shop.orders SELECT seq, CONCAT('item ', seq, ' ✓'), seq * 1.25 FROM seq_1_to_2000;`,
  );
  const rows = () => sql(name, 'SELECT COUNT(*), SUM(amount), MD5(GROUP_CONCAT(item ORDER BY id)) FROM shop.orders');
  const before = rows();
  t.match(before, /^2000\t/, 'the database holds 2000 rows');

  await st.kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name: 'mysql-backup', namespace: st.ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      task: { name: 'mariadb-backup-10.5.8', params: [{ name: 'args', value: '--databases shop' }] },
      target: { ref: { apiVersion: APPBINDING_API_VERSION, kind: 'AppBinding', name: 'mysql' } },
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
    },
  });
  await invokerReady(st, 'BackupConfiguration', 'mysql-backup');
  await backupNow(st, 'mysql-backup-1', { kind: 'BackupConfiguration', name: 'mysql-backup' });
  const session = await finalPhase<Session>(st, 'BackupSession', 'mysql-backup-1');
  t.equal(session.status?.phase, 'Succeeded', 'the dump was backed up', { status: session.status });
  const snaps = JSON.parse(st.restic('snapshots', '--json')) as Array<{ hostname: string; paths: string[] }>;
  t.same(
    snaps.map((x) => [x.hostname, x.paths]),
    [['host-0', ['/dumpfile.sql']]],
    'one snapshot: the dump, streamed in',
  );

  sql(name, 'DROP DATABASE shop');
  t.match(sql(name, 'SHOW DATABASES'), /^(?![\s\S]*\bshop\b)/, 'the database is gone');
  await st.kube.create({
    apiVersion: apiVersionOf('RestoreSession'),
    kind: 'RestoreSession',
    metadata: { name: 'mysql-restore', namespace: st.ns },
    spec: {
      repository: { name: 'repo' },
      task: { name: 'mariadb-restore-10.5.8' },
      target: {
        ref: { apiVersion: APPBINDING_API_VERSION, kind: 'AppBinding', name: 'mysql' },
        rules: [{ snapshots: ['latest'] }],
      },
    },
  });
  const restore = await finalPhase<Session>(st, 'RestoreSession', 'mysql-restore');
  t.equal(restore.status?.phase, 'Succeeded', 'the restore succeeded', { status: restore.status });
  t.equal(rows(), before, 'the same 2000 rows, the same contents');
});
