import t from 'tap';
import { heartbeatLeaseName } from './heartbeat.ts';

t.test('lease names are stable, distinct per kind/session/host and valid DNS labels', async (t) => {
  const a = heartbeatLeaseName('BackupSession', 'db-123', 'host-0');
  t.equal(a, heartbeatLeaseName('BackupSession', 'db-123', 'host-0'));
  t.not(a, heartbeatLeaseName('RestoreSession', 'db-123', 'host-0'));
  t.not(a, heartbeatLeaseName('BackupSession', 'db-123', 'host-1'));
  t.not(heartbeatLeaseName('BackupSession', 'a', 'b\0c'), heartbeatLeaseName('BackupSession', 'a\0b', 'c'));
  t.match(a, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
});
