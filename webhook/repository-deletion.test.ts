// The rule deciding what deleting a Repository does next: release at once, wait for a user, or wipe.
import t from 'tap';
import { finalizeStep, wipeOutUnsupported, type FinalizeInput } from './repository-deletion.ts';

const base: FinalizeInput = {
  wipeOut: true,
  backend: 's3',
  inUse: undefined,
  namespaceTerminating: false,
  failedAttempts: 0,
};

t.test('wipeOut false or unset keeps the data and releases at once, even while a session runs', async (t) => {
  for (const inUse of [undefined, 'BackupSession demo/s-1 is backing up into it (phase Running)']) {
    const s = finalizeStep({ ...base, wipeOut: false, inUse });
    t.equal(s.step, 'release');
    t.match(s, { kept: /spec\.wipeOut is false/ });
  }
});

t.test('wipeOut true waits while the Repository is in use, naming the user', async (t) => {
  const why = 'BackupSession demo/s-1 is backing up into it (phase Running)';
  const s = finalizeStep({ ...base, inUse: why });
  t.same(s, { step: 'wait', why: `waiting to delete the backend data: ${why}` });
  t.same(finalizeStep({ ...base, backend: 'rest', failedAttempts: 3 }), { step: 'wipe' }, 'retries keep wiping');
  t.same(finalizeStep(base), { step: 'wipe' }, 'nothing uses it: wipe');
});

t.test('an unsupported backend that slipped past admission keeps its data', async (t) => {
  for (const b of ['local', 'b2', 'gcs', 'azure', 'swift', 'unknown']) {
    const s = finalizeStep({ ...base, backend: b });
    t.equal(s.step, 'release', b);
    t.match(s, { kept: /ignored/ }, b);
  }
});

t.test('a namespace being deleted gets one attempt and never waits', async (t) => {
  t.same(finalizeStep({ ...base, namespaceTerminating: true, inUse: 'x' }), { step: 'wipe' });
  const s = finalizeStep({ ...base, namespaceTerminating: true, failedAttempts: 1 });
  t.equal(s.step, 'release');
  t.match(s, { kept: /namespace is being deleted and the wipe failed/ });
});

t.test('admission messages: s3 and rest supported, the others say why', async (t) => {
  t.equal(wipeOutUnsupported('s3'), undefined);
  t.equal(wipeOutUnsupported('rest'), undefined);
  t.match(wipeOutUnsupported('local'), /only a pod that mounts it/);
  t.match(wipeOutUnsupported('b2'), /as in Stash/);
  t.match(wipeOutUnsupported('gcs'), /cannot delete data from a gcs backend/);
});
