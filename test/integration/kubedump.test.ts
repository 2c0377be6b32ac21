// A kubedump member on the real apiserver of the integration world: a namespace with a ServiceAccount and
// RBAC, a ConfigMap, a Secret with binary data, a PVC, a Service and a Deployment (whose ReplicaSet the
// controller-manager makes) is dumped one YAML file per object into resources/<Kind>/<name>.yaml without
// server-set fields, backed up with real restic, and restored into a fresh namespace in dependency order;
// restoring again skips what exists, `overwrite` replaces it.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { backupKubedump, isKubedumpTask, restoreKubedump } from '../../agent/kubedump-member.ts';
import { dumpNamespace } from '../../agent/kubedump.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { resticBinaries } from '../backends/bins.ts';
import { localRepo } from '../backends/restic.ts';
import { useCluster } from '../world/harness.ts';
import { until } from '../support/until.ts';

t.setTimeout(120_000);
const newest = [...resticBinaries().entries()].sort(([a], [b]) => b.localeCompare(a, undefined, { numeric: true }))[0];
if (!newest) t.fail('no restic binary found');

const BINARY = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x0a]);

t.test('kubedump member: dump, back up, restore into a fresh namespace', async (t) => {
  const c = await useCluster(t);
  const ns = c.namespace;
  const objects: KubeObject[] = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'app', namespace: ns } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'app-reader', namespace: ns },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
    } as KubeObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'app-reader', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'app-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'app', namespace: ns }],
    } as KubeObject,
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'app-config', namespace: ns, labels: { app: 'web' } },
      data: { 'site.conf': 'listen 80;\n' },
    } as KubeObject,
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'app-secret', namespace: ns },
      data: { key: BINARY.toString('base64') },
    } as KubeObject,
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: ns },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    } as KubeObject,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: ns },
      spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
    } as KubeObject,
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: ns, labels: { app: 'web' } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { serviceAccountName: 'app', containers: [{ name: 'web', image: 'busybox' }] },
        },
      },
    } as KubeObject,
  ];
  for (const o of objects) await c.kube.create(o);
  await until(
    'the ReplicaSet',
    async () => ((await c.kube.list('apps/v1', 'ReplicaSet', ns)).items.length > 0 ? true : undefined),
    30_000,
  );
  t.ok(isKubedumpTask({ name: 'kubedump-backup-0.1.0' }) && isKubedumpTask({ name: 'kubedump-restore-0.1.0' }));

  // The tree itself: one file per object, by kind, nothing the server set, nothing a controller owns.
  const scratch = await mkdtemp(join(tmpdir(), 'stash-ts-kubedump-'));
  t.teardown(() => rm(scratch, { recursive: true, force: true }));
  const { objects: count } = await dumpNamespace(c.kube, ns, scratch);
  const kinds = (await readdir(join(scratch, 'resources'))).sort();
  t.same(
    kinds,
    ['ConfigMap', 'Deployment', 'PersistentVolumeClaim', 'Role', 'RoleBinding', 'Secret', 'Service', 'ServiceAccount'],
    `kinds dumped (${count} objects)`,
  );
  t.same(await readdir(join(scratch, 'resources', 'ConfigMap')), ['app-config.yaml'], 'kube-root-ca.crt left out');
  for (const kind of kinds)
    for (const f of await readdir(join(scratch, 'resources', kind))) {
      const text = await readFile(join(scratch, 'resources', kind, f), 'utf8');
      t.notMatch(
        text,
        /^\s*(uid|resourceVersion|creationTimestamp|managedFields|status|clusterIP|generation):/m,
        `${kind}/${f}: no server-set fields`,
      );
    }

  const restic = await localRepo(t, newest![1]);
  const host = 'kubedump';
  const backup = await backupKubedump({ kube: c.kube, restic, namespace: ns, host });
  t.equal(backup.objects, 8, '8 objects backed up');
  t.ok(backup.result.snapshotId, `snapshot ${backup.result.snapshotId?.slice(0, 8)}`);

  const fresh = `${ns}-restored`;
  t.teardown(() => c.kube.delete('v1', 'Namespace', undefined, fresh).catch(() => undefined));
  const params = [{ name: 'targetNamespace', value: fresh }];
  const restored = await restoreKubedump({ kube: c.kube, restic, namespace: ns, host, params, snapshot: 'latest' });
  t.same(
    restored.created.map((id) => id.split('/')[0]),
    [
      'Namespace',
      'ServiceAccount',
      'Role',
      'RoleBinding',
      'ConfigMap',
      'Secret',
      'PersistentVolumeClaim',
      'Service',
      'Deployment',
    ],
    'created in dependency order',
  );
  const cm = await c.kube.get<KubeObject & { data?: Record<string, string> }>('v1', 'ConfigMap', fresh, 'app-config');
  t.same(cm.data, { 'site.conf': 'listen 80;\n' });
  const secret = await c.kube.get<KubeObject & { data?: Record<string, string> }>('v1', 'Secret', fresh, 'app-secret');
  t.same(Buffer.from(secret.data?.key ?? '', 'base64'), BINARY, 'binary Secret data identical');
  const rb = await c.kube.get<KubeObject & { subjects?: Array<{ namespace?: string }> }>(
    'rbac.authorization.k8s.io/v1',
    'RoleBinding',
    fresh,
    'app-reader',
  );
  t.equal(rb.subjects?.[0]?.namespace, fresh, 'the RoleBinding grants the moved ServiceAccount');
  const dep = await c.kube.get<KubeObject & { spec?: { template?: { spec?: { serviceAccountName?: string } } } }>(
    'apps/v1',
    'Deployment',
    fresh,
    'web',
  );
  t.equal(dep.spec?.template?.spec?.serviceAccountName, 'app');

  const again = await restoreKubedump({
    kube: c.kube,
    restic,
    namespace: ns,
    host,
    params,
    snapshot: backup.result.snapshotId!,
  });
  t.same(again.created, [], 'nothing created twice');
  t.equal(again.skipped.length, 8, 'existing objects skipped');
  await c.kube.patch('v1', 'ConfigMap', fresh, 'app-config', { data: { 'site.conf': 'changed' } });
  const over = await restoreKubedump({
    kube: c.kube,
    restic,
    namespace: ns,
    host,
    params: [...params, { name: 'overwrite', value: 'true' }],
    snapshot: 'latest',
  });
  t.equal(over.replaced.length, 8, 'overwrite replaces existing objects');
  t.same(
    (await c.kube.get<KubeObject & { data?: Record<string, string> }>('v1', 'ConfigMap', fresh, 'app-config')).data,
    { 'site.conf': 'listen 80;\n' },
    'the changed ConfigMap is back',
  );
});
