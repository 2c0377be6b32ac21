import t from 'tap';
import { repositoryInUse } from './repository-in-use.ts';
import { snapshotDeleteValidator } from './admission/snapshot-delete.ts';
import type { AdmissionRequest } from './admission/review.ts';
import { createLogger } from '../shared/log.ts';
import type { KubeObject } from '../shared/kube/client.ts';

const bc = {
  kind: 'BackupConfiguration',
  metadata: { namespace: 'demo', name: 'nightly' },
  spec: { repository: { name: 'repo' } },
};
const session = (phase: string) => ({
  kind: 'BackupSession',
  metadata: { namespace: 'demo', name: 'nightly-1' },
  spec: { invoker: { kind: 'BackupConfiguration', name: 'nightly' } },
  status: { phase },
});
const restore = (phase: string, ns = 'other') => ({
  kind: 'RestoreSession',
  metadata: { namespace: ns, name: 'rs' },
  spec: { repository: { name: 'repo', namespace: 'demo' } },
  status: { phase },
});

t.test('a Repository is in use while a session of its invoker or a restore from it is not final', async (t) => {
  const idle = { backupInvokers: [bc], backupSessions: [session('Succeeded')], restores: [restore('Failed')] };
  t.equal(repositoryInUse('demo', 'repo', idle), undefined);
  t.match(
    repositoryInUse('demo', 'repo', { ...idle, backupSessions: [session('Running')] }),
    'BackupSession demo/nightly-1 is backing up into it (phase Running)',
  );
  t.match(
    repositoryInUse('demo', 'repo', { ...idle, restores: [restore('')] }),
    'RestoreSession other/rs is restoring from it (phase Pending)',
  );
  t.equal(repositoryInUse('demo', 'another', { ...idle, backupSessions: [session('Running')] }), undefined);
});

t.test('admission refuses a Snapshot delete naming the user of the Repository', async (t) => {
  let users = { backupInvokers: [bc], backupSessions: [session('Running')], restores: [] as KubeObject[] };
  const handle = snapshotDeleteValidator(() => users);
  const req: AdmissionRequest = {
    uid: 'u',
    kind: { group: 'repositories.stash.appscode.com', version: 'v1alpha1', kind: 'Snapshot' },
    operation: 'DELETE',
    namespace: 'demo',
    name: 'repo-a1b2c3d4',
    oldObject: { status: { repository: 'repo' } },
  };
  const log = createLogger({ level: 'silent' });
  t.match(handle(req, log), { outcome: 'denied', code: 409, message: /BackupSession demo\/nightly-1 is backing up/ });
  users = { ...users, backupSessions: [session('Succeeded')] };
  t.match(handle(req, log), { outcome: 'allowed' });
});
