// Story on real pods: hooks through the real exec API. A BackupBatch's member has a local `exec` preBackup hook
// that the sidecar runs inside the APPLICATION container (pods/exec via the kubelet) — it writes a dump into the
// volume, which the backup that follows holds; the batch's global preBackup `exec` hook is run by the operator in
// its own pod, and its output is the session's Event.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import { Kube, type KubeObject } from '../../shared/kube/client.ts';
import { REPO_ROOT, binary } from '../world/bins.ts';
import { APP_IMAGE } from '../world/images/build.ts';
import { OPERATOR_DEPLOYMENT, installProduct } from '../world/node/install.ts';
import { startNodeWorld } from '../world/node/world.ts';
import { until } from '../support/e2e-world.ts';

t.setTimeout(600_000);
const DIR = process.env.STASH_TS_KUBELET_WORLD ?? join(REPO_ROOT, '.cluster', 'kubelet-test');
const NS = `story-hooks-${Date.now().toString(36)}`;
const PASSWORD = `story-${Date.now()}`;

type Pod = KubeObject & { status?: { phase?: string; containerStatuses?: Array<{ name: string; ready?: boolean }> } };
type Session = KubeObject & { status?: { phase?: string; conditions?: Array<{ type: string; status: string; message?: string }>; targets?: Array<{ phase?: string; conditions?: Array<{ type: string; status: string; message?: string }>; stats?: Array<{ hostname?: string; phase?: string; error?: string }> }> } };
type Event = KubeObject & { reason?: string; message?: string };

const s = await startNodeWorld(DIR, { log: (m) => t.comment(m), images: ['operator', 'agent', 'app'] });
await installProduct(s, (m) => t.comment(m));
const kube = Kube.load(s.kubeconfig, 'stash-ts-kubelet-story');
t.teardown(async () => {
  await kube.delete('v1', 'Namespace', undefined, NS).catch(() => undefined);
  kube.close();
});

const repoDir = join(DIR, 'repositories', NS);
rmSync(repoDir, { recursive: true, force: true });
mkdirSync(repoDir, { recursive: true });
chmodSync(repoDir, 0o777);

t.test('a local exec hook runs in the app container and a global exec hook in the operator pod, before the backup', async (t) => {
  await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  await kube.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'repo-secret', namespace: NS }, stringData: { RESTIC_PASSWORD: PASSWORD } });
  await kube.create({
    apiVersion: apiVersionOf('Repository'), kind: 'Repository', metadata: { name: 'repo', namespace: NS },
    spec: { backend: { storageSecretName: 'repo-secret', local: { mountPath: '/stash-repo', hostPath: { path: repoDir } } } },
  });
  await kube.create({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'shop', namespace: NS, labels: { app: 'shop' } },
    spec: {
      replicas: 1, selector: { matchLabels: { app: 'shop' } },
      template: {
        metadata: { labels: { app: 'shop' } },
        spec: {
          terminationGracePeriodSeconds: 2,
          // The app marks its own container (a file outside the volume), so the hook's dump proves where it ran.
          containers: [{ name: 'app', image: APP_IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'mkdir -p /data; echo "app container $(date +%s%N)" > /tmp/whoami; echo order-1 > /data/orders.txt; httpd -f -p 8080 -h /data'], volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    },
  });
  await kube.create({
    apiVersion: apiVersionOf('BackupBatch'), kind: 'BackupBatch', metadata: { name: 'shop-backup', namespace: NS },
    spec: {
      repository: { name: 'repo' }, schedule: '0 0 1 1 *',
      hooks: { preBackup: { exec: { command: ['sh', '-c', 'echo "global-pre-backup from $(hostname)"'] } } },
      members: [{
        target: { alias: 'shop', ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'shop' }, paths: ['/data'], volumeMounts: [{ name: 'data', mountPath: '/data' }] },
        hooks: { preBackup: { containerName: 'app', exec: { command: ['sh', '-c', 'cp /tmp/whoami /data/dump.txt && echo dumped'] } } },
      }],
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
    },
  });
  const pod = await until('a rolled pod with a ready stash sidecar', async () => {
    const l = (await kube.list<Pod>('v1', 'Pod', NS, { labelSelector: 'app=shop' })).items.filter((p) => !p.metadata?.deletionTimestamp);
    return l.find((p) => p.status?.phase === 'Running' && p.status.containerStatuses?.length === 2 && p.status.containerStatuses.every((c) => c.ready));
  }, 180_000);
  const kubectl = (...args: string[]) => execFileSync(s.kubectl, ['--kubeconfig', s.kubeconfig, ...args], { encoding: 'utf8' });
  const whoami = kubectl('-n', NS, 'exec', pod.metadata!.name!, '-c', 'app', '--', 'cat', '/tmp/whoami');

  await kube.create({
    apiVersion: apiVersionOf('BackupSession'), kind: 'BackupSession',
    metadata: { name: 'shop-backup-1', namespace: NS, labels: { 'stash.appscode.com/invoker-type': 'BackupBatch', 'stash.appscode.com/invoker-name': 'shop-backup' } },
    spec: { invoker: { apiGroup: 'stash.appscode.com', kind: 'BackupBatch', name: 'shop-backup' } },
  });
  const session = await until('BackupSession to finish', async () => {
    const o = await kube.get<Session>(apiVersionOf('BackupSession'), 'BackupSession', NS, 'shop-backup-1');
    return o.status?.phase === 'Succeeded' || o.status?.phase === 'Failed' ? o : undefined;
  }, 240_000);
  t.equal(session.status?.phase, 'Succeeded', 'the session succeeded', { status: session.status });
  t.equal(session.status?.conditions?.find((c) => c.type === 'GlobalPreBackupHookSucceeded')?.status, 'True', 'global preBackup hook condition True');
  t.equal(session.status?.targets?.[0]?.conditions?.find((c) => c.type === 'PreBackupHookExecutionSucceeded')?.status, 'True', 'local preBackup hook condition True');

  // The global hook ran in the operator's pod, through pods/exec: its output names that pod.
  const events = (await kube.list<Event>('v1', 'Event', NS)).items.filter((e) => (e as { involvedObject?: { name?: string } }).involvedObject?.name === 'shop-backup-1');
  const global = events.find((e) => e.reason === 'GlobalPreBackupHookSucceeded');
  t.match(global?.message ?? '', new RegExp(`global-pre-backup from ${OPERATOR_DEPLOYMENT}-`), 'the global hook ran in the operator pod', { events: events.map((e) => `${e.reason}: ${e.message}`) });

  // The local hook ran in the app container (its /tmp is the app's) before restic read the volume.
  const dump = execFileSync(binary('restic'), ['-r', repoDir, '--no-cache', 'dump', 'latest', '/data/dump.txt'], { encoding: 'utf8', env: { ...process.env, RESTIC_PASSWORD: PASSWORD } });
  t.equal(dump, whoami, "the snapshot holds the hook's dump, written from the app container");
});
