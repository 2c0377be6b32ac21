import t from 'tap';
import { membersOf } from '../../shared/api/target.ts';
import type { Invoker } from '../../shared/api/types.ts';
import {
  backupJobName,
  buildJob,
  claimForOrdinal,
  jobName,
  jobServiceAccount,
  memberJobHosts,
  memberJobNames,
  pinToNode,
  placementFor,
  podTermination,
  pvcVolumes,
} from './jobs.ts';

const inject = { image: 'reg/agent:1', pushgatewayUrl: '', useKubeapiserverFqdnForAks: false };
const batch: Invoker = {
  apiVersion: 'stash.appscode.com/v1beta1',
  kind: 'BackupBatch',
  metadata: { name: 'wp', namespace: 'shop', uid: 'u-1', labels: { team: 'a' } },
  spec: {
    repository: { name: 'repo' },
    members: [
      { target: { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wp' } } },
      {
        task: { name: 'pvc-backup' },
        runtimeSettings: {
          pod: { nodeSelector: { disk: 'ssd' }, podLabels: { extra: 'x' } },
          container: { resources: { limits: { cpu: '1' } } },
        },
        target: {
          alias: 'uploads',
          ref: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'data' },
          volumeMounts: [{ name: 'src', mountPath: '/data' }],
          paths: ['/data'],
        },
      },
      {
        task: { name: 'mysql-backup-8.0.21' },
        target: { ref: { apiVersion: 'appcatalog.appscode.com/v1alpha1', kind: 'AppBinding', name: 'mysql' } },
      },
    ],
  },
};
const session = {
  apiVersion: 'stash.appscode.com/v1beta1',
  kind: 'BackupSession',
  metadata: { name: 'wp-1700000000', namespace: 'shop', uid: 's-1' },
};
const repo = {
  apiVersion: 'stash.appscode.com/v1alpha1',
  kind: 'Repository',
  metadata: { name: 'repo', namespace: 'shop' },
  spec: { backend: { local: { mountPath: '/repo', hostPath: { path: '/srv/repo' } }, storageSecretName: 's' } },
};

t.test('backup Job for a PVC member', async (t) => {
  const m = membersOf(batch)[1]!;
  const job = buildJob({
    purpose: 'backup',
    inv: batch,
    m,
    name: backupJobName('wp-1700000000', m.index),
    owner: session,
    repository: repo as never,
    inject,
    serviceAccountName: 'sa',
    extraArgs: ['--backupsession=wp-1700000000'],
    dataVolumes: pvcVolumes(m),
  }) as any;
  t.equal(job.metadata.name, 'stash-backup-wp-1700000000-1');
  t.same(
    job.metadata.ownerReferences,
    [
      {
        apiVersion: 'stash.appscode.com/v1beta1',
        kind: 'BackupSession',
        name: 'wp-1700000000',
        uid: 's-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
    'owned by the session: history cleanup takes it along',
  );
  t.equal(job.spec.backoffLimit, 0, 'all Stash Jobs use backoffLimit 0');
  const pod = job.spec.template.spec;
  t.equal(pod.restartPolicy, 'Never');
  t.equal(pod.serviceAccountName, 'sa');
  t.same(pod.nodeSelector, { disk: 'ssd' }, 'pod runtime settings apply to Jobs');
  t.equal(job.spec.template.metadata.labels.extra, 'x');
  t.equal(job.spec.template.metadata.labels['stash.appscode.com/invoker-name'], 'wp');
  const c = pod.containers[0];
  t.equal(c.name, 'stash');
  t.equal(c.image, 'reg/agent:1');
  t.equal(c.args[0], 'run-backup');
  t.ok(
    c.args.includes('--target-kind=PersistentVolumeClaim') &&
      c.args.includes('--target-name=data') &&
      c.args.includes('--backupsession=wp-1700000000'),
  );
  t.same(c.resources, { limits: { cpu: '1' } });
  t.same(
    pod.volumes.find((v: any) => v.name === 'src'),
    { name: 'src', persistentVolumeClaim: { claimName: 'data' } },
    'the target PVC under the mounted volume name',
  );
  t.ok(c.volumeMounts.some((v: any) => v.name === 'src' && v.mountPath === '/data'));
  t.ok(
    pod.volumes.some((v: any) => v.hostPath?.path === '/srv/repo'),
    'local backend volume',
  );
  t.ok(c.volumeMounts.some((v: any) => v.mountPath === '/repo'));
  t.ok(pod.volumes.some((v: any) => v.name === 'stash-tmp-dir' && v.emptyDir));
  t.notOk(JSON.stringify(job).includes('password'), 'no credentials in the Job');
});

t.test('restore Job into volumeClaimTemplates', async (t) => {
  const rb: Invoker = {
    kind: 'RestoreBatch',
    apiVersion: 'stash.appscode.com/v1beta1',
    metadata: { name: 'r', namespace: 'shop', uid: 'u-2' },
    spec: {
      members: [
        {
          target: {
            alias: 'db',
            replicas: 3,
            volumeClaimTemplates: [{ metadata: { name: 'data-db-${POD_ORDINAL}' }, spec: {} }],
            volumeMounts: [{ name: 'data-db', mountPath: '/var/lib/db' }],
          },
        },
      ],
    },
  };
  const m = membersOf(rb)[0]!;
  t.same(claimForOrdinal({ metadata: { name: 'data-db-${POD_ORDINAL}' } }, 2, true), {
    claim: 'data-db-2',
    volume: 'data-db',
  });
  t.same(claimForOrdinal({ metadata: { name: 'data-db-${POD_ORDINAL}' } }, 0, false), {
    claim: 'data-db-0',
    volume: 'data-db',
  });
  t.same(claimForOrdinal({ metadata: { name: 'plain' } }, 1, true), { claim: 'plain-1', volume: 'plain' });
  t.same(
    claimForOrdinal({ metadata: { name: 'restore-data' } }, 0, false),
    { claim: 'restore-data', volume: 'restore-data' },
    'no replicas, no ordinal: the name as written',
  );
  t.same(memberJobHosts('restore', m), ['db-0', 'db-1', 'db-2'], 'docs/api.md §12: alias-ordinal when replicas is set');
  t.same(memberJobNames('restore', rb, m, ''), ['stash-restore-r-0-0', 'stash-restore-r-0-1', 'stash-restore-r-0-2']);
  const job = buildJob({
    purpose: 'restore',
    inv: rb,
    m,
    name: 'stash-restore-r-0-1',
    owner: rb,
    repository: undefined,
    inject,
    serviceAccountName: 'sa',
    extraArgs: ['--restore-model=job', '--member-index=0'],
    dataVolumes: [{ name: 'data-db', persistentVolumeClaim: { claimName: 'data-db-1' } }],
    ordinal: 1,
  }) as any;
  const c = job.spec.template.spec.containers[0];
  t.equal(c.args[0], 'restore');
  t.ok(c.args.includes('--restore-model=job') && c.args.includes('--member-index=0'));
  t.same(
    c.env.find((e: any) => e.name === 'POD_ORDINAL'),
    { name: 'POD_ORDINAL', value: '1' },
  );
  t.same(
    c.securityContext,
    {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    'restore Jobs pass the restricted Pod Security level unless asked for root',
  );
  t.same(memberJobHosts('backup', membersOf(batch)[2]!), ['host-0'], 'no alias: host-0');
});

t.test('names', async (t) => {
  const long = jobName(['stash-backup', 'x'.repeat(80), '2']);
  t.ok(long.length <= 63, 'a DNS label');
  t.not(long, jobName(['stash-backup', 'x'.repeat(81), '2']), 'distinct inputs stay distinct');
  t.match(jobName(['stash-backup', 'a.b_C', '0']), /^stash-backup-a-b-c-0$/);
  t.same(jobServiceAccount(batch, {}, 'backup'), { name: 'stash-backup-job-wp', ours: true, kubedump: false });
  t.same(jobServiceAccount(batch, { runtimeSettings: { pod: { serviceAccountName: 'mine' } } }, 'backup'), {
    name: 'mine',
    ours: false,
    kubedump: false,
  });
  t.same(
    jobServiceAccount(batch, { target: { ref: { apiVersion: 'v1', kind: 'Namespace', name: 'shop' } } }, 'restore'),
    { name: 'stash-kubedump-restore-wp', ours: true, kubedump: true },
    'a kubedump member runs under a service account of its own',
  );
});

t.test('placement of a ReadWriteOnce claim (docs/api.md §12.1)', async (t) => {
  const pod = (name: string, node: string, claim = 'vol', extra: Record<string, unknown> = {}) => ({
    metadata: { name, ...extra },
    spec: { nodeName: node, volumes: [{ persistentVolumeClaim: { claimName: claim } }] },
    status: { phase: 'Running' },
  });
  const nodes = new Map([
    ['a', {}],
    ['b', {}],
    ['c', { unschedulable: true }],
  ]);
  const rwo = { name: 'vol', accessModes: ['ReadWriteOnce'] };
  t.equal(placementFor({ name: 'vol', accessModes: ['ReadWriteMany'] }, [pod('p', 'a')], nodes), undefined);
  t.equal(placementFor(rwo, [pod('p', 'a', 'other')], nodes), undefined, 'nobody mounts it');
  t.match(placementFor(rwo, [pod('p', 'a')], nodes), { node: 'a', why: /pod p mounts/ });
  t.match(placementFor(rwo, [pod('p', 'a'), pod('q', 'b')], nodes), { fail: /several nodes \(a, b/ });
  t.match(placementFor(rwo, [pod('p', 'c')], nodes), { fail: /cordoned/ });
  t.match(placementFor(rwo, [pod('p', 'gone')], nodes), { fail: /no longer exists/ });
  t.match(placementFor({ name: 'vol', accessModes: ['ReadWriteOncePod'] }, [pod('p', 'a')], nodes), {
    fail: /ReadWriteOncePod/,
  });
  const ours = pod('job', 'b', 'vol', { labels: { 'app.kubernetes.io/managed-by': 'stash.appscode.com' } });
  t.match(placementFor(rwo, [pod('p', 'a'), ours], nodes), { node: 'a' }, 'our own Job pods do not count');

  const spec: Record<string, unknown> = {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] }, {}],
        },
      },
    },
  };
  pinToNode(spec, 'a');
  const terms = (spec as any).affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
  t.equal(terms.length, 2);
  for (const term of terms)
    t.same(term.matchFields, [{ key: 'metadata.name', operator: 'In', values: ['a'] }], 'every term is pinned');
  t.same(terms[0].matchExpressions, [{ key: 'disk', operator: 'In', values: ['ssd'] }], 'the user terms stay');
});

t.test('podTermination: an OOM kill is named with the memory limit; a clean exit says nothing', async (t) => {
  const pod = (terminated: Record<string, unknown> | undefined) => ({
    metadata: { name: 'stash-backup-s-1-x' },
    spec: { containers: [{ name: 'stash', resources: { limits: { memory: '32Mi' } } }] },
    status: { containerStatuses: [{ name: 'stash', state: terminated ? { terminated } : { running: {} } }] },
  });
  t.equal(
    podTermination(pod({ exitCode: 137, reason: 'OOMKilled' })),
    'container stash of pod stash-backup-s-1-x was OOMKilled (exit code 137, memory limit 32Mi): raise runtimeSettings.container.resources.limits.memory',
  );
  t.equal(
    podTermination(pod({ exitCode: 2, reason: 'Error' })),
    'container stash of pod stash-backup-s-1-x ended with exit code 2 (Error)',
  );
  t.equal(podTermination(pod({ exitCode: 0, reason: 'Completed' })), undefined);
  t.equal(podTermination(pod(undefined)), undefined, 'still running');
});
