import t from 'tap';
import type { KubeObject } from '../shared/kube/client.ts';
import { dumpable, restoreRank, sanitize } from './kubedump.ts';
import { isKubedumpTask } from './kubedump-member.ts';

t.test('sanitize strips what the server set and keeps what the user wrote', async (t) => {
  const svc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'web',
      namespace: 'demo',
      uid: 'u',
      resourceVersion: '7',
      creationTimestamp: 'now',
      generation: 2,
      managedFields: [{}],
      labels: { app: 'web' },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', keep: 'me' },
    },
    spec: { clusterIP: '10.0.0.1', clusterIPs: ['10.0.0.1'], ports: [{ port: 80 }] },
    status: { loadBalancer: {} },
  } as KubeObject;
  t.same(sanitize(svc), {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'demo', labels: { app: 'web' }, annotations: { keep: 'me' } },
    spec: { ports: [{ port: 80 }] },
  });
  t.equal((svc as { status?: unknown }).status !== undefined, true, 'the input is not changed');
});

t.test('owned and cluster-made objects are not dumped', async (t) => {
  t.notOk(dumpable({ kind: 'ReplicaSet', metadata: { name: 'web-1', ownerReferences: [{}] } } as KubeObject));
  t.notOk(dumpable({ kind: 'Event', metadata: { name: 'e' } }));
  t.notOk(dumpable({ kind: 'ConfigMap', metadata: { name: 'kube-root-ca.crt' } }));
  t.notOk(dumpable({ kind: 'ServiceAccount', metadata: { name: 'default' } }));
  t.notOk(
    dumpable({ kind: 'Secret', metadata: { name: 't' }, type: 'kubernetes.io/service-account-token' } as KubeObject),
  );
  t.ok(dumpable({ kind: 'ConfigMap', metadata: { name: 'app' } }));
});

t.test('restore order: namespaces, CRDs, RBAC, config, claims, workloads, the rest', async (t) => {
  const kinds = [
    'Deployment',
    'Widget',
    'ConfigMap',
    'RoleBinding',
    'PersistentVolumeClaim',
    'ServiceAccount',
    'Namespace',
    'CustomResourceDefinition',
    'Secret',
    'Role',
  ];
  t.same(
    [...kinds].sort((a, b) => restoreRank(a) - restoreRank(b)),
    [
      'Namespace',
      'CustomResourceDefinition',
      'ServiceAccount',
      'Role',
      'RoleBinding',
      'ConfigMap',
      'Secret',
      'PersistentVolumeClaim',
      'Deployment',
      'Widget',
    ],
  );
});

t.test('kubedump task names', async (t) => {
  for (const n of ['kubedump-backup-0.1.0', 'kubedump-restore-0.2.0-v5', 'kubedump-backup'])
    t.ok(isKubedumpTask({ name: n }), n);
  for (const n of ['kubedump', 'pvc-backup', 'mysql-backup-8.0.21', '']) t.notOk(isKubedumpTask({ name: n }), n);
});
