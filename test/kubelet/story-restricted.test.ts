// Story on real pods in a namespace labelled `pod-security.kubernetes.io/enforce: restricted`, enforced by the
// world's own kube-apiserver (its PodSecurity admission is on by default; test/world/node/world.ts only adds
// NodeRestriction). Every pod of ours must get past it and run: the injected `stash` sidecar, `stash-init` and
// the job model's backup Job (docs/api.md §13.5). hostPath volumes are forbidden at this level, so the repository
// is a local backend on a ReadWriteMany claim (a hostPath PersistentVolume: the check is on pods, not volumes).
//
// 1. RWO placement (docs/api.md §12.1): a job-model backup of a ReadWriteOnce claim that a running app pod mounts
//    runs on that pod's node, with the node affinity and the status that say so, while the app pod keeps running.
//    This world has ONE node, so it cannot show the Job being steered away from another node, nor the failure
//    when the claim is in use on two nodes: test/integration/e2e-placement.test.ts shows both with two
//    pod-runner nodes. What one node shows is that the affinity is admitted and satisfiable by the real
//    scheduler, and that the Job's pod mounts a claim a live pod holds, on real pods.
// 2. A restricted Deployment (uid 1000, fsGroup 1000) is backed up by its injected sidecar and restored by
//    stash-init: the restored files belong to the app's own user and group, and a file only its owner may read
//    is readable by the app again.
import t from 'tap';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { APP_IMAGE } from '../world/images/build.ts';
import { until } from '../support/e2e-world.ts';
import {
  backupNow,
  finalPhase,
  hostPathClaim,
  invokerReady,
  openStory,
  podsWithSidecar,
  type Session,
} from './story-kit.ts';

t.setTimeout(600_000);
const st = await openStory(t, 'restricted');
const { kube, ns: NS, kubectl } = st;
const APP_UID = 1000;

await kube.patch('v1', 'Namespace', undefined, NS, {
  metadata: {
    labels: {
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'latest',
    },
  },
});
/**
 * A Repository `name` on a directory of the story's repository area through a ReadWriteMany claim (hostPath is not
 * allowed here). One per test: restic's files belong to the user who initialised the repository (the Job's 65532,
 * the app's 1000), and a user not in the pod's groups cannot read another's keys.
 */
async function claimRepository(name: string): Promise<string> {
  const dir = join(st.repoDir, name);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777);
  const pv = `${NS}-${name}`;
  await kube.create({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: pv },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteMany'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: 'story-hostpath',
      hostPath: { path: dir, type: 'Directory' },
      claimRef: { namespace: NS, name: `${name}-claim` },
    },
  });
  st.cleanups.push(() => kube.delete('v1', 'PersistentVolume', undefined, pv).then(() => undefined));
  await kube.create({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: `${name}-claim`, namespace: NS },
    spec: {
      accessModes: ['ReadWriteMany'],
      storageClassName: 'story-hostpath',
      volumeName: pv,
      resources: { requests: { storage: '1Gi' } },
    },
  });
  await kube.create({
    apiVersion: apiVersionOf('Repository'),
    kind: 'Repository',
    metadata: { name, namespace: NS },
    spec: {
      backend: {
        storageSecretName: 'repo-secret',
        local: { mountPath: '/stash-repo', persistentVolumeClaim: { claimName: `${name}-claim` } },
      },
    },
  });
  return dir;
}

type RunningPod = KubeObject & {
  spec?: { nodeName?: string; affinity?: unknown; initContainers?: Array<{ name: string }> };
  status?: {
    phase?: string;
    containerStatuses?: Array<{
      name: string;
      restartCount?: number;
      state?: { running?: { startedAt?: string }; terminated?: { exitCode?: number; startedAt?: string } };
    }>;
  };
};

/** A Deployment that passes the restricted level on its own, running as APP_UID with `command`. */
function restrictedApp(name: string, command: string, volume: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS, labels: { app: name } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 2,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: APP_UID,
            runAsGroup: APP_UID,
            fsGroup: APP_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'app',
              image: APP_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              command: ['sh', '-c', command],
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'data', ...volume }],
        },
      },
    },
  };
}

async function runningPod(app: string, ms = 120_000): Promise<RunningPod> {
  return await until(
    `a running pod of ${app}`,
    async () =>
      (await kube.list<RunningPod>('v1', 'Pod', NS, { labelSelector: `app=${app}` })).items.find(
        (p) => !p.metadata?.deletionTimestamp && p.status?.phase === 'Running',
      ),
    ms,
  );
}

t.test('a ReadWriteOnce claim in use: the backup Job runs on its pod’s node, admitted as restricted', async (t) => {
  const repoDir = await claimRepository('jobs-repo');
  await hostPathClaim(st, 'uploads', { 'a.txt': 'alpha\n', 'deep/b.txt': 'beta\n' });
  await kube.create(
    restrictedApp('uploader', 'while true; do date >> /data/log.txt; sleep 1; done', {
      persistentVolumeClaim: { claimName: 'uploads' },
    }),
  );
  const app = await runningPod('uploader');
  const appNode = app.spec?.nodeName;
  t.ok(appNode, `the app pod runs on node ${appNode}`);
  await kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name: 'uploads-backup', namespace: NS },
    spec: {
      repository: { name: 'jobs-repo' },
      schedule: '0 0 1 1 *',
      task: { name: 'pvc-backup' },
      target: {
        ref: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'uploads' },
        paths: ['/uploads'],
        volumeMounts: [{ name: 'uploads', mountPath: '/uploads' }],
      },
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
    },
  });
  await invokerReady(st, 'BackupConfiguration', 'uploads-backup');
  await backupNow(st, 'uploads-backup-1', { kind: 'BackupConfiguration', name: 'uploads-backup' });
  const session = await finalPhase<Session>(st, 'BackupSession', 'uploads-backup-1');
  t.equal(session.status?.phase, 'Succeeded', 'the backup Job backed the claim up', { status: session.status });
  const jobPod = await until(
    'the backup Job pod, its container ended',
    async () =>
      (await kube.list<RunningPod>('v1', 'Pod', NS, { labelSelector: 'batch.kubernetes.io/job-name' })).items.find(
        (p) =>
          p.metadata?.labels?.['batch.kubernetes.io/job-name']?.startsWith('stash-backup-uploads-backup-1') &&
          p.status?.containerStatuses?.[0]?.state?.terminated,
      ),
    60_000,
  );
  t.equal(jobPod.spec?.nodeName, appNode, "the Job's pod ran on the app pod's node");
  t.match(
    JSON.stringify(jobPod.spec?.affinity),
    new RegExp(`"metadata.name","operator":"In","values":\\["${appNode}"\\]`),
    'pinned there by required node affinity, which the real scheduler honoured',
  );
  const ran = jobPod.status?.containerStatuses?.[0]?.state?.terminated;
  t.equal(ran?.exitCode, 0, 'its container ran to completion on the node');
  const executor = session.status?.targets?.[0]?.conditions?.find((c) => c.type === 'BackupExecutorEnsured');
  t.match(
    executor?.message,
    `on node ${appNode}, where pod ${app.metadata?.name} mounts the ReadWriteOnce claim uploads`,
    'the status says where and why',
  );
  const after = await kube.get<RunningPod>('v1', 'Pod', NS, app.metadata!.name!);
  const appContainer = after.status?.containerStatuses?.find((c) => c.name === 'app');
  t.equal(after.status?.phase, 'Running', 'the app pod still runs');
  t.equal(appContainer?.restartCount ?? 0, 0, 'and never restarted');
  const appStarted = Date.parse(appContainer?.state?.running?.startedAt ?? '');
  t.ok(
    appStarted < Date.parse(ran?.startedAt ?? ''),
    'the Job ran while the app pod was running with the claim mounted',
  );
  t.match(st.restic('-r', repoDir, 'ls', 'latest'), /deep\/b\.txt/, 'the snapshot holds the claim');
});

t.test('restricted: sidecar and stash-init are admitted, run, and restore files owned by the app user', async (t) => {
  // 0600 secret.txt: only its owner may read it; the app proves it can after the restore.
  const seed =
    '[ -f /data/secret.txt ] || { mkdir -p /data/pages; echo one > /data/pages/one.html; echo s3cret-$(date +%s%N) > /data/secret.txt; chmod 600 /data/secret.txt; }; httpd -p 8080 -h /data; while true; do sleep 1; done';
  await claimRepository('web-repo');
  await kube.create(restrictedApp('web', seed, { emptyDir: {} }));
  await runningPod('web');
  await kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name: 'web-backup', namespace: NS },
    spec: {
      repository: { name: 'web-repo' },
      schedule: '0 0 1 1 *',
      target: {
        ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
        paths: ['/data'],
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
      },
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
    },
  });
  const [pod] = await podsWithSidecar(st, 'web');
  const stash = (pod as unknown as RunningPod).status?.containerStatuses?.find((c) => c.name === 'stash');
  t.ok(stash?.state?.running, 'the injected sidecar was admitted and runs');
  const secret = kubectl('-n', NS, 'exec', pod!.metadata!.name!, '-c', 'app', '--', 'cat', '/data/secret.txt').trim();
  await backupNow(st, 'web-backup-1', { kind: 'BackupConfiguration', name: 'web-backup' });
  const backup = await finalPhase<Session>(st, 'BackupSession', 'web-backup-1');
  t.equal(backup.status?.phase, 'Succeeded', 'the sidecar backed the volume up', { status: backup.status });

  // The restore's stash-init (next to the sidecar) fills the fresh emptyDir of the rolled pod.
  await kube.create({
    apiVersion: apiVersionOf('RestoreSession'),
    kind: 'RestoreSession',
    metadata: { name: 'web-restore', namespace: NS },
    spec: {
      repository: { name: 'web-repo' },
      target: {
        ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
        rules: [{ paths: ['/data'] }],
      },
    },
  });
  const restore = await finalPhase<Session>(st, 'RestoreSession', 'web-restore');
  t.equal(restore.status?.phase, 'Succeeded', 'stash-init restored', { status: restore.status });
  const restored = await until(
    'a pod of web that ran stash-init',
    async () =>
      (await kube.list<RunningPod>('v1', 'Pod', NS, { labelSelector: 'app=web' })).items.find(
        (p) =>
          !p.metadata?.deletionTimestamp &&
          p.status?.phase === 'Running' &&
          p.spec?.initContainers?.some((c) => c.name === 'stash-init'),
      ),
    120_000,
  );
  const name = restored.metadata!.name!;
  const exec = (cmd: string) => kubectl('-n', NS, 'exec', name, '-c', 'app', '--', 'sh', '-c', cmd).trim();
  t.equal(exec('id -u'), String(APP_UID), 'the app runs as its own user');
  t.equal(
    exec('stat -c %u:%g /data/secret.txt /data/pages/one.html'),
    `${APP_UID}:${APP_UID}\n${APP_UID}:${APP_UID}`,
    "restored files belong to the app's user and group",
  );
  t.equal(exec('stat -c %a /data/secret.txt'), '600', 'with their mode');
  t.equal(exec('cat /data/secret.txt'), secret, 'so the app reads its owner-only file: the backed-up one');
});
