import t from 'tap';
import { parseSnapshots } from '../restic/output.ts';
import { diffSnapshots, resolveSnapshotRef, snapshotName, snapshotObject, SNAPSHOT_FINALIZER } from './snapshot.ts';
import { structuralProblems } from './schema/structural.ts';
import { SnapshotSchema } from './schema/snapshot.ts';

// One entry as restic 0.18 prints it (`restic snapshots --json`), summary included.
const ENTRY = {
  time: '2026-12-02T01:02:03.123456789+01:00',
  tree: 'b'.repeat(64),
  paths: ['/source/data'],
  hostname: 'app-0',
  username: 'root',
  uid: 0,
  gid: 0,
  tags: ['nightly'],
  program_version: 'restic 0.18.1',
  summary: { total_files_processed: 3, total_bytes_processed: 2048, data_added: 10 },
  id: 'a1b2c3d4' + 'e'.repeat(56),
  short_id: 'a1b2c3d4',
};

t.test('a restic entry becomes a Snapshot named and labelled as upstream', async (t) => {
  const [s] = parseSnapshots(JSON.stringify([ENTRY]));
  const o = snapshotObject('demo', 'gcs-repo', s!);
  t.equal(o.metadata.name, 'gcs-repo-a1b2c3d4');
  t.same(o.metadata.labels, { repository: 'gcs-repo', hostname: 'app-0' });
  t.same(o.metadata.finalizers, [SNAPSHOT_FINALIZER]);
  t.match(o.status, {
    id: ENTRY.id,
    shortId: 'a1b2c3d4',
    snapshotTime: '2026-12-02T00:02:03.123Z',
    repository: 'gcs-repo',
    hostname: 'app-0',
    paths: ['/source/data'],
    tree: ENTRY.tree,
    uid: 0,
    gid: 0,
    username: 'root',
    tags: ['nightly'],
    totalFiles: 3,
    size: '2.000 KiB',
  });
  const old = snapshotObject('demo', 'r', { ...s!, summary: undefined, uid: undefined, gid: undefined });
  t.notOk('size' in old.status! || 'uid' in old.status!, 'what restic does not report is left out');
  const odd = snapshotObject('demo', 'r', { ...s!, hostname: 'not a label value' });
  t.same(odd.metadata.labels, { repository: 'r' }, 'a hostname that is no label value gets no label');
});

t.test('the Snapshot schema is a structural CRD schema', async (t) => {
  t.same(structuralProblems(JSON.parse(JSON.stringify(SnapshotSchema)) as Record<string, unknown>), []);
});

t.test('diff: create the new, update the changed, remove the gone, leave the deleting', async (t) => {
  const [s] = parseSnapshots(JSON.stringify([ENTRY]));
  const mk = (id: string, tags: string[] = []) => snapshotObject('ns', 'r', { ...s!, id, tags });
  const keep = mk('11111111' + '0'.repeat(56));
  const retag = mk('22222222' + '0'.repeat(56), ['x']);
  const gone = mk('33333333' + '0'.repeat(56));
  const deleting = mk('44444444' + '0'.repeat(56));
  deleting.metadata.deletionTimestamp = new Date();
  const fresh = mk('55555555' + '0'.repeat(56));
  const d = diffSnapshots(
    [keep, mk('22222222' + '0'.repeat(56), ['y']), fresh],
    [keep, retag, gone, deleting].map((o) => structuredClone(o)),
  );
  t.same(
    d.create.map((o) => o.metadata.name),
    ['r-55555555'],
  );
  t.same(
    d.update.map((o) => [o.metadata.name, o.status?.tags]),
    [['r-22222222', ['y']]],
  );
  t.same(d.remove, ['r-33333333']);
  const twins = diffSnapshots(
    [
      snapshotObject('ns', 'r', { ...s!, id: 'abcdef01' + '1'.repeat(56), time: '2026-01-02T00:00:00Z' }),
      snapshotObject('ns', 'r', { ...s!, id: 'abcdef01' + '2'.repeat(56), time: '2026-01-01T00:00:00Z' }),
    ],
    [],
  );
  t.equal(twins.create.length, 1, 'two ids sharing 8 hex make one object');
  t.equal(twins.create[0]!.status?.id, 'abcdef01' + '2'.repeat(56), 'the older one');
});

t.test('a restore names a snapshot by id, latest, or Snapshot name', async (t) => {
  const ids = ['a1b2c3d4' + 'e'.repeat(56), 'ffff0000' + 'e'.repeat(56)];
  t.equal(resolveSnapshotRef('latest', 'repo', ids), 'latest');
  t.equal(resolveSnapshotRef('a1b2c3d4', 'repo', ids), 'a1b2c3d4');
  t.equal(resolveSnapshotRef(snapshotName('my-repo', ids[0]!), 'my-repo', ids), ids[0]);
  t.throws(
    () => resolveSnapshotRef('other-a1b2c3d4', 'my-repo', ids),
    /nor the name of a Snapshot of Repository "my-repo"/,
  );
  t.throws(() => resolveSnapshotRef('my-repo-12345678', 'my-repo', ids), /no snapshot 12345678/);
  t.throws(() => resolveSnapshotRef('what', 'my-repo', ids), /neither a snapshot id, latest/);
});
