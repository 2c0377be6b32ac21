import t from 'tap';
import { heartbeatLeaseName, heartbeatSessionLabel } from './heartbeat.ts';

t.test('lease names are stable, distinct per kind/session/host and valid DNS labels', async (t) => {
  const a = heartbeatLeaseName('BackupSession', 'db-123', 'host-0');
  t.equal(a, heartbeatLeaseName('BackupSession', 'db-123', 'host-0'));
  t.not(a, heartbeatLeaseName('RestoreSession', 'db-123', 'host-0'));
  t.not(a, heartbeatLeaseName('BackupSession', 'db-123', 'host-1'));
  t.not(heartbeatLeaseName('BackupSession', 'a', 'b\0c'), heartbeatLeaseName('BackupSession', 'a\0b', 'c'));
  t.match(a, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
});

t.test('session label values: the name when it fits, a unique valid shortening when it does not', async (t) => {
  t.equal(heartbeatSessionLabel('app-1700000000'), 'app-1700000000');
  const long = 'x'.repeat(80) + '-1700000000';
  const other = 'x'.repeat(80) + '-1700000001';
  const label = heartbeatSessionLabel(long);
  t.ok(label.length <= 63, 'at most 63 characters');
  t.match(label, /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/);
  t.not(label, heartbeatSessionLabel(other), 'two long names stay apart');
});
