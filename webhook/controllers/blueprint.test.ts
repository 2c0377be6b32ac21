import t from 'tap';
import {
  autoBackupName,
  blueprintVariables,
  desiredObjects,
  labelValue,
  parseVolumeMounts,
  substitute,
} from './blueprint.ts';

const bp = {
  metadata: { name: 'db-bp' },
  spec: {
    backend: { gcs: { bucket: 'b', prefix: 'x/${TARGET_NAMESPACE}/${TARGET_APP_RESOURCE}/${TARGET_NAME}/${OTHER}' } },
    task: { name: 'postgres-backup-11.9.0-v4' },
    repoNamespace: 'backups',
    retentionPolicy: { name: 'k', keepLast: 5, prune: true },
  },
};

t.test('variables and names (docs/api.md §8.1)', async (t) => {
  const appBinding = {
    metadata: {
      name: 'pg',
      namespace: 'demo',
      uid: 'u',
      annotations: { 'stash.appscode.com/backup-blueprint': 'db-bp' },
    },
    spec: { type: 'kubedb.com/postgres', version: '11.9' },
  };
  const vars = blueprintVariables({
    apiVersion: 'appcatalog.appscode.com/v1alpha1',
    kind: 'AppBinding',
    target: appBinding,
  });
  t.match(vars, {
    TARGET_KIND: 'appbinding',
    TARGET_APP_RESOURCE: 'postgres',
    TARGET_APP_GROUP: 'kubedb.com',
    TARGET_APP_VERSION: '11.9',
  });
  t.equal(substitute('a/${TARGET_NAME}/${NOT_ONE}', vars), 'a/pg/${NOT_ONE}', 'unknown variables stay');
  const d = desiredObjects(bp, {
    apiVersion: 'appcatalog.appscode.com/v1alpha1',
    kind: 'AppBinding',
    files: false,
    target: appBinding,
  });
  t.equal(d.repository.metadata?.namespace, 'backups', 'repoNamespace');
  t.notOk(d.repository.metadata?.ownerReferences, 'no owner across namespaces');
  t.same((d.backupConfiguration as { spec: { repository: unknown } }).spec.repository, {
    name: 'appbinding-pg',
    namespace: 'backups',
  });
  t.equal(
    (d.repository as { spec: { backend: { gcs: { prefix: string } } } }).spec.backend.gcs.prefix,
    'x/demo/postgres/pg/${OTHER}',
  );
  t.equal(autoBackupName('StatefulSet', 'db'), 'statefulset-db');
  t.ok(labelValue('x'.repeat(100)).length <= 63);
});

t.test('bad annotations are named', async (t) => {
  t.throws(() => parseVolumeMounts('data'), /volume-mounts: "data" is not name:mountPath/);
  t.same(parseVolumeMounts(' a:/a , b:/b:sub '), [
    { name: 'a', mountPath: '/a' },
    { name: 'b', mountPath: '/b', subPath: 'sub' },
  ]);
  const w = {
    metadata: { name: 'web', namespace: 'demo', annotations: { 'stash.appscode.com/volume-mounts': 'd:/d' } },
  };
  t.throws(
    () => desiredObjects(bp, { apiVersion: 'apps/v1', kind: 'Deployment', files: true, target: w }),
    /stash.appscode.com\/target-paths is required/,
  );
});
