// Auto-backup from a BackupBlueprint (docs/api.md §8.1) against the real kube-apiserver, with the operator's control
// loops in-process and scoped to the test's namespace: annotating a Deployment and a PVC creates their Repository
// and BackupConfiguration with the ${TARGET_*} variables substituted and the schedule override honoured; a blueprint
// change reaches both; removing the annotation removes what was made for that target, and only that.
import t from 'tap';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { createDeployment, startOperator, until } from '../support/operator-testkit.ts';
import { useCluster } from '../world/harness.ts';

t.setTimeout(120_000);

type Obj = Record<string, unknown>;
type WithSpec = KubeObject & { spec?: Obj };
const REPO = apiVersionOf('Repository');
const BC = apiVersionOf('BackupConfiguration');
const BP = apiVersionOf('BackupBlueprint');

t.test('a BackupBlueprint makes, updates and removes auto-backup objects', async (t) => {
  const { kube, namespace: ns } = await useCluster(t);
  const blueprint = `bp-${ns}`;
  t.teardown(() => kube.delete(BP, 'BackupBlueprint', undefined, blueprint));
  await kube.create({
    apiVersion: BP,
    kind: 'BackupBlueprint',
    metadata: { name: blueprint },
    spec: {
      backend: {
        rest: { url: 'http://127.0.0.1:8000/${TARGET_NAMESPACE}/${TARGET_KIND}/${TARGET_NAME}' },
        storageSecretName: 'rest-secret',
      },
      schedule: '*/5 * * * *',
      backupHistoryLimit: 2,
      retentionPolicy: { name: 'keep-last-5', keepLast: 5, prune: true },
    },
  } as KubeObject);
  await startOperator(t, kube, ns);

  await createDeployment(kube, ns, 'web');
  await kube.patch('apps/v1', 'Deployment', ns, 'web', {
    metadata: {
      annotations: {
        'stash.appscode.com/backup-blueprint': blueprint,
        'stash.appscode.com/target-paths': '/var/www,/etc/web',
        'stash.appscode.com/volume-mounts': 'data:/var/www,conf:/etc/web:web',
      },
    },
  });
  await kube.create({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: 'files',
      namespace: ns,
      annotations: {
        'stash.appscode.com/backup-blueprint': blueprint,
        'stash.appscode.com/target-paths': '/files',
        'stash.appscode.com/volume-mounts': 'files:/files',
        'stash.appscode.com/schedule': '0 3 * * *',
      },
    },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  });

  const get = (apiVersion: string, kind: string, name: string) => kube.getOrNull<WithSpec>(apiVersion, kind, ns, name);
  const repo = await until('Repository deployment-web', () => get(REPO, 'Repository', 'deployment-web'));
  t.same(
    repo.spec?.backend,
    { rest: { url: `http://127.0.0.1:8000/${ns}/deployment/web` }, storageSecretName: 'rest-secret' },
    'variables substituted',
  );
  const bc = await until('BackupConfiguration deployment-web', () => get(BC, 'BackupConfiguration', 'deployment-web'));
  t.match(bc.spec, {
    repository: { name: 'deployment-web' },
    schedule: '*/5 * * * *',
    backupHistoryLimit: 2,
    retentionPolicy: { name: 'keep-last-5', keepLast: 5, prune: true },
    target: {
      ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      paths: ['/var/www', '/etc/web'],
      volumeMounts: [
        { name: 'data', mountPath: '/var/www' },
        { name: 'conf', mountPath: '/etc/web', subPath: 'web' },
      ],
    },
  });
  t.match(bc.metadata?.labels, {
    'stash.appscode.com/backup-blueprint': blueprint,
    'stash.appscode.com/target-name': 'web',
  });
  const pvcBc = await until('BackupConfiguration persistentvolumeclaim-files', () =>
    get(BC, 'BackupConfiguration', 'persistentvolumeclaim-files'),
  );
  t.equal(pvcBc.spec?.schedule, '0 3 * * *', 'the schedule annotation overrides the blueprint');

  await kube.patch(BP, 'BackupBlueprint', undefined, blueprint, {
    spec: { schedule: '*/7 * * * *', backend: { rest: { url: 'http://127.0.0.1:8000/v2/${TARGET_NAME}' } } },
  });
  await until('the blueprint change reaches the BackupConfiguration', async () => {
    const cur = await get(BC, 'BackupConfiguration', 'deployment-web');
    return cur?.spec?.schedule === '*/7 * * * *';
  });
  const repo2 = await until('the blueprint change reaches the Repository', async () => {
    const cur = await get(REPO, 'Repository', 'deployment-web');
    return (
      (cur?.spec?.backend as { rest?: { url?: string } } | undefined)?.rest?.url === 'http://127.0.0.1:8000/v2/web' &&
      cur
    );
  });
  t.ok(repo2, 'Repository updated');
  t.equal((await get(BC, 'BackupConfiguration', 'persistentvolumeclaim-files'))?.spec?.schedule, '0 3 * * *');

  await kube.patch('apps/v1', 'Deployment', ns, 'web', {
    metadata: { annotations: { 'stash.appscode.com/backup-blueprint': null } },
  });
  await until('removing the annotation removes what it made', async () => {
    const [r, b] = await Promise.all([
      get(REPO, 'Repository', 'deployment-web'),
      get(BC, 'BackupConfiguration', 'deployment-web'),
    ]);
    return !r && !b;
  });
  t.ok(await get(BC, 'BackupConfiguration', 'persistentvolumeclaim-files'), "the PVC's objects stay");
  t.ok(await get(REPO, 'Repository', 'persistentvolumeclaim-files'));
});
