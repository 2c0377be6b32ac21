import t from 'tap';
import { databaseTask, requireDatabaseTask } from './tasks.ts';

t.test('upstream task names select engine and action', async (t) => {
  const cases: Array<[string, ReturnType<typeof databaseTask>]> = [
    ['mysql-backup-8.0.21', { engine: 'mysql', action: 'backup', version: '8.0.21' }],
    ['mysql-restore-8.0.21', { engine: 'mysql', action: 'restore', version: '8.0.21' }],
    ['mysql-backup-8.0.14', { engine: 'mysql', action: 'backup', version: '8.0.14' }],
    ['mariadb-backup-10.5.8', { engine: 'mysql', action: 'backup', version: '10.5.8' }],
    ['mariadb-restore-10.5.8', { engine: 'mysql', action: 'restore', version: '10.5.8' }],
    ['postgres-backup-16.1', { engine: 'postgres', action: 'backup', version: '16.1' }],
    ['postgres-restore-11.9', { engine: 'postgres', action: 'restore', version: '11.9' }],
    ['pg-backup-10.2', { engine: 'postgres', action: 'backup', version: '10.2' }],
    ['pg-restore', { engine: 'postgres', action: 'restore', version: undefined }],
    ['postgres-backup-13.13-v2', { engine: 'postgres', action: 'backup', version: '13.13-v2' }],
    ['MySQL-Backup-8.0.21', { engine: 'mysql', action: 'backup', version: '8.0.21' }],
    ['mysql-backup', { engine: 'mysql', action: 'backup', version: undefined }],
    ['redis-backup-7.0.5', { engine: 'redis', action: 'backup', version: '7.0.5' }],
    ['redis-restore-6.2.5', { engine: 'redis', action: 'restore', version: '6.2.5' }],
    ['mongodb-backup-4.4.6', { engine: 'mongodb', action: 'backup', version: '4.4.6' }],
    ['mongodb-restore-4.2.3', { engine: 'mongodb', action: 'restore', version: '4.2.3' }],
    ['mongo-backup', { engine: 'mongodb', action: 'backup', version: undefined }],
    ['etcd-backup-3.5.0', { engine: 'etcd', action: 'backup', version: '3.5.0' }],
    ['etcd-restore-3.5.0', { engine: 'etcd', action: 'restore', version: '3.5.0' }],
  ];
  for (const [name, want] of cases) t.same(databaseTask(name), want, name);
});

t.test('other names are not database tasks', async (t) => {
  for (const name of [
    '',
    'pvc-backup',
    'pvc-restore',
    'elasticsearch-backup-7.3.2',
    'mysql-dump-8.0',
    'mysql-backup-latest',
    'mysql-backup-8.0.21;rm',
    'backup-mysql',
  ]) {
    t.equal(databaseTask(name), undefined, JSON.stringify(name));
  }
});

t.test('requireDatabaseTask explains what it accepts', async (t) => {
  t.throws(() => requireDatabaseTask('elasticsearch-backup-7.3.2'), {
    code: 'VALIDATION_FAILED',
    message: /task\.name: unknown database task "elasticsearch-backup-7\.3\.2".*mysql, mariadb, postgres.*mongodb/,
  });
  t.throws(() => requireDatabaseTask('mysql-restore-8.0.21', 'backup'), {
    message: /is a restore task, but this member needs a backup task/,
  });
  t.same(requireDatabaseTask('postgres-backup-16.1', 'backup'), {
    engine: 'postgres',
    action: 'backup',
    version: '16.1',
  });
});
