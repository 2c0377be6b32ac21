import t from 'tap';
import {
  apiVersionProblem,
  isBatch,
  KUBERNETES_WORKLOAD_KINDS,
  membersOf,
  sameTarget,
  servedApiVersion,
  targetKey,
  workloadGroup,
  WORKLOAD_KINDS,
} from './target.ts';
import type { BackupBatch, BackupConfiguration, RestoreBatch, TargetRef } from './types.ts';

const deploy = (apiVersion?: string, extra: Partial<TargetRef> = {}): TargetRef => ({
  ...(apiVersion === undefined ? {} : { apiVersion }),
  kind: 'Deployment',
  name: 'wp',
  ...extra,
});
// A workload as admission and the operator see it: the apiserver serves it at its current version.
const wp = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wp', namespace: 'demo' };

t.test('the one rule: which apiVersions name a workload (docs/api.md §2.1)', async (t) => {
  const rows: Array<[string | undefined, boolean, string]> = [
    [undefined, true, 'no apiVersion: the kind is enough'],
    ['', true, 'an empty apiVersion is no apiVersion'],
    ['apps/v1', true, 'the served version'],
    ['apps/v1beta1', true, 'an older version of the same group'],
    ['apps/v1beta2', true, 'an older version of the same group'],
    ['extensions/v1beta1', true, "a Deployment's older group"],
    ['batch/v1', false, 'a group that does not serve Deployments'],
    ['v1', false, 'the core group does not serve Deployments'],
    ['apps', false, 'no slash: the core group, version "apps"'],
    ['apps.openshift.io/v1', false, "DeploymentConfig's group, not a Deployment's"],
  ];
  for (const [apiVersion, names, why] of rows) {
    t.equal(sameTarget(deploy(apiVersion), wp, 'demo'), names, `${apiVersion ?? '(none)'}: ${why}`);
    t.equal(apiVersionProblem(deploy(apiVersion)) === undefined, names, `${apiVersion ?? '(none)'}: admission agrees`);
  }
  t.match(apiVersionProblem(deploy('batch/v1')), /Deployment is served by apps or extensions, not by batch\/v1/);

  const sts = (apiVersion: string) => ({ apiVersion, kind: 'StatefulSet', name: 'db' });
  const db = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', namespace: 'demo' };
  t.ok(sameTarget(sts('apps/v1beta1'), db, 'demo'), 'StatefulSet apps/v1beta1');
  t.notOk(sameTarget(sts('extensions/v1beta1'), db, 'demo'), 'StatefulSets were never served by extensions');
  t.ok(apiVersionProblem(sts('extensions/v1beta1')));
  t.ok(
    sameTarget({ apiVersion: 'extensions/v1beta1', kind: 'DaemonSet', name: 'ds' }, { kind: 'DaemonSet', name: 'ds' }),
    'DaemonSet extensions/v1beta1',
  );
  const pvc = { kind: 'PersistentVolumeClaim', name: 'data' };
  t.ok(sameTarget({ ...pvc, apiVersion: 'v1' }, pvc), 'PVC v1');
  t.notOk(sameTarget({ ...pvc, apiVersion: 'apps/v1' }, pvc), 'PVC apps/v1 names nothing');
  const ab = { kind: 'AppBinding', name: 'mysql' };
  t.ok(sameTarget({ ...ab, apiVersion: 'appcatalog.appscode.com/v1alpha1' }, ab), 'AppBinding');
  t.ok(
    sameTarget({ apiVersion: 'x.example.com/v1', kind: 'Widget', name: 'w' }, { kind: 'Widget', name: 'w' }),
    'a kind Stash does not know: apiVersion is not part of its identity',
  );
  t.equal(apiVersionProblem({ apiVersion: 'x.example.com/v1', kind: 'Widget' }), undefined, 'nor judged');
});

t.test('kind, name and namespace must agree; the namespace defaults to the invoker’s', async (t) => {
  t.ok(sameTarget(deploy('apps/v1'), wp, 'demo'));
  t.notOk(sameTarget(deploy('apps/v1'), wp, 'other'), 'invoker in another namespace');
  t.ok(sameTarget(deploy('apps/v1', { namespace: 'demo' }), wp, 'other'), 'explicit namespace');
  t.notOk(sameTarget(deploy(), { ...wp, namespace: '' }, 'demo'), "the object's namespace is not defaulted");
  t.notOk(sameTarget({ ...deploy(), kind: 'StatefulSet' }, wp, 'demo'), 'kind');
  t.notOk(sameTarget({ ...deploy(), name: 'other' }, wp, 'demo'), 'name');
  t.notOk(sameTarget(undefined, wp, 'demo'), 'no ref');
  t.notOk(sameTarget({ kind: '', name: '' }, { kind: '', name: '' }), 'refs without kind or name name nothing');
});

t.test('targetKey: one identity for maps and status merging', async (t) => {
  t.equal(targetKey({ kind: 'K', name: 'n' }, 'ns'), '/K/ns/n');
  t.equal(targetKey(deploy(), 'demo'), targetKey(deploy('apps/v1'), 'demo'));
  t.equal(targetKey(deploy('extensions/v1beta1'), 'demo'), targetKey(wp));
  t.not(targetKey(deploy('batch/v1'), 'demo'), targetKey(wp));
  t.equal(targetKey(undefined, 'ns'), '//ns/', 'members without a ref share one key');
});

t.test('the workload kinds and where to read a target', async (t) => {
  t.same([...WORKLOAD_KINDS], ['Deployment', 'StatefulSet', 'DaemonSet', 'DeploymentConfig']);
  t.same([...KUBERNETES_WORKLOAD_KINDS], ['Deployment', 'StatefulSet', 'DaemonSet']);
  t.equal(workloadGroup('DeploymentConfig'), 'apps.openshift.io');
  t.equal(workloadGroup('PersistentVolumeClaim'), undefined, 'not a workload');
  t.equal(servedApiVersion(deploy('extensions/v1beta1')), 'apps/v1', 'read at the served version');
  t.equal(servedApiVersion(deploy()), 'apps/v1');
  t.equal(servedApiVersion({ kind: 'PersistentVolumeClaim' }), 'v1');
  t.equal(servedApiVersion({ kind: 'AppBinding' }), 'appcatalog.appscode.com/v1alpha1');
  t.equal(servedApiVersion({ kind: 'Widget', apiVersion: 'x/v1' }), 'x/v1');
});

t.test('membersOf: batch members, or the single invoker’s spec', async (t) => {
  const batch = {
    kind: 'BackupBatch',
    metadata: { name: 'b', namespace: 'demo' },
    spec: {
      retentionPolicy: { name: 'k', keepLast: 1, prune: true },
      members: [
        { target: { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wp' } } },
        { target: { ref: { kind: 'PersistentVolumeClaim', name: 'data', namespace: 'other' } } },
      ],
    },
  } as BackupBatch;
  const ms = membersOf(batch);
  t.same(
    ms.map((m) => [m.index, m.ref.namespace, m.ref.name]),
    [
      [0, 'demo', 'wp'],
      [1, 'other', 'data'],
    ],
  );
  t.same(ms[1]?.member.target?.paths, ['/stash-data'], 'a PVC target gets its mount defaults');
  t.ok(isBatch(batch));
  const bc = {
    kind: 'BackupConfiguration',
    metadata: { name: 'c', namespace: 'demo' },
    spec: { target: { ref: { kind: 'StatefulSet', name: 'db' } }, retentionPolicy: { name: 'k', prune: true } },
  } as BackupConfiguration;
  t.same(
    membersOf(bc).map((m) => m.ref),
    [{ kind: 'StatefulSet', name: 'db', namespace: 'demo' }],
  );
  t.notOk(isBatch(bc));
  const garbage = { kind: 'RestoreBatch', metadata: {}, spec: { members: [null, 1, { target: {} }] } };
  t.same(
    membersOf(garbage as unknown as RestoreBatch).map((m) => m.index),
    [2],
    'non-object members are skipped, indexes kept',
  );
  t.same(membersOf({ kind: 'RestoreBatch', spec: { members: 'x' } } as unknown as RestoreBatch), []);
});
