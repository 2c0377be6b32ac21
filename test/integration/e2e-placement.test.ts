// docs/api.md §12.1 on the pod-runner world with two fake nodes: a second pod runner (the local stand-in for a kubelet,
// which binds pods itself and, standing in for the scheduler, honours required node affinity) registers node
// `stash-ts-node-b`. A job-model backup of a ReadWriteOnce PVC that a pod on node b mounts runs on node b and the
// session says so; once pods on two nodes mount the claim, the next session's host fails at once with the reason
// instead of waiting for its timeOut.
import t from 'tap';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { REPO_ROOT } from '../world/bins.ts';
import { killGroup, launchDetached } from '../world/procs.ts';
import {
  VOLUME_PATH,
  backupSession,
  e2eWorld,
  fillClaim,
  finished,
  namespaceWithRepo,
  until,
  type SessionObj,
} from '../support/e2e-world.ts';

t.setTimeout(240_000);
const NODE_B = 'stash-ts-node-b';
const BS = apiVersionOf('BackupSession');
const w = await e2eWorld(t, 'e2e-placement');
const runnerB = launchDetached(
  join(w.dir, 'logs'),
  'pod-runner-b',
  join(REPO_ROOT, 'node_modules', '.bin', 'node'),
  ['test/world/pod-runner/main.ts', w.dir],
  { cwd: REPO_ROOT, env: { STASH_POD_RUNNER_NODE_NAME: NODE_B } },
);
t.teardown(() => killGroup(runnerB, 5_000));

type PodObj = KubeObject & { spec?: { nodeName?: string; affinity?: unknown } };

function userPod(ns: string, name: string, node: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: {
      nodeName: node,
      containers: [{ name: 'app', image: 'busybox:1.36', volumeMounts: [{ name: 'vol', mountPath: '/vol' }] }],
      volumes: [{ name: 'vol', persistentVolumeClaim: { claimName: 'vol' } }],
    },
  } as KubeObject;
}

t.test('a ReadWriteOnce claim in use: the Job goes to its node, or the host fails with the reason', async (t) => {
  const ns = 'e2e-placement';
  await namespaceWithRepo(w, ns);
  fillClaim(w, ns, 'vol', { 'a.txt': 'alpha\n', 'deep/b.txt': 'beta\n' });
  await w.kube.create({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'vol', namespace: ns },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  });
  await until('node b registered', () => w.kube.getOrNull('v1', 'Node', undefined, NODE_B), 60_000);
  await w.kube.create(userPod(ns, 'user-b', NODE_B));
  await w.kube.create({
    apiVersion: apiVersionOf('BackupBatch'),
    kind: 'BackupBatch',
    metadata: { name: 'vol', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      retentionPolicy: { name: 'keep-5', keepLast: 5, prune: true },
      members: [
        {
          task: { name: 'pvc-backup' },
          target: {
            alias: 'vol',
            ref: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'vol' },
            paths: [VOLUME_PATH],
            volumeMounts: [{ name: 'vol', mountPath: VOLUME_PATH }],
          },
        },
      ],
    },
  });

  await until(
    'BackupBatch Ready',
    async () =>
      (
        await w.kube.get<KubeObject & { status?: { phase?: string } }>(
          apiVersionOf('BackupBatch'),
          'BackupBatch',
          ns,
          'vol',
        )
      ).status?.phase === 'Ready',
    60_000,
  );
  await w.kube.create(backupSession(ns, 'vol-1', 'vol'));
  const jobPod = await until(
    'the backup Job pod is bound',
    async () =>
      (await w.kube.list<PodObj>('v1', 'Pod', ns, { labelSelector: 'batch.kubernetes.io/job-name' })).items.find(
        (p) => p.spec?.nodeName,
      ),
    90_000,
  );
  t.equal(jobPod.spec?.nodeName, NODE_B, 'the Job pod runs on the node where the claim is mounted');
  t.match(JSON.stringify(jobPod.spec?.affinity), /"metadata.name","operator":"In","values":\["stash-ts-node-b"\]/);
  const one = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'vol-1', 120_000);
  t.equal(one.status?.phase, 'Succeeded', 'backed up from node b');
  const executor = one.status?.targets?.[0]?.conditions?.find((c) => c.type === 'BackupExecutorEnsured');
  t.match(
    executor?.message,
    /on node stash-ts-node-b, where pod user-b mounts the ReadWriteOnce claim vol/,
    'status says where',
  );

  await w.kube.create(userPod(ns, 'user-a', 'stash-ts-local'));
  const started = Date.now();
  await w.kube.create(backupSession(ns, 'vol-2', 'vol'));
  const two = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'vol-2', 60_000);
  const secs = (Date.now() - started) / 1000;
  t.equal(two.status?.phase, 'Failed', `failed in ${secs.toFixed(1)} s, not at a timeOut`);
  const host = two.status?.targets?.[0]?.stats?.[0];
  t.equal(host?.phase, 'Failed');
  t.match(host?.error, /mounted on several nodes \(stash-ts-local, stash-ts-node-b/, host?.error ?? '');
  t.equal(
    (await w.kube.list('batch/v1', 'Job', ns)).items.filter((j) => j.metadata?.name?.includes('vol-2')).length,
    0,
    'no Job was made that could never start',
  );
});
