// Upstream Stash's backend guides (stashed/docs docs/guides/backends/rest, s3) with the workload of the
// Deployment guide: the guides' Secret keys and Repository objects, pointed at restic's REST server (basic auth)
// and at a MinIO server, both real and on 127.0.0.1 (the guides' `rest-server.demo.svc:8000` and
// `s3.amazonaws.com` / `my-minio-service.minio-namespace.svc` are not reachable here: only loopback is). The
// retention policy of every guide (`keep-last-5`, prune) is checked on the REST repository: six backups, five
// snapshots kept. Application containers are not run by the pod runner (our kubelet stand-in): the test writes
// the file the guide's busybox would.
import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../../shared/kube/client.ts';
import { startRestServer } from '../backends/rest-server.ts';
import { startS3Server } from '../backends/s3-server.ts';
import { pvcDir } from '../world/pod-runner/volumes.ts';
import { e2eWorld, finished } from '../support/e2e-world.ts';
import {
  BC,
  REPO,
  RS,
  claimWithFiles,
  namespace,
  nextScheduledBackup,
  noSessionLeftRunning,
  phaseIs,
  podsRunning,
  snapshotCount,
} from '../support/guide-world.ts';

t.setTimeout(420_000);
const w = await e2eWorld(t, 'guide-backends');

function deployment(ns: string, name: string, claim: string, args: string[]): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { labels: { app: name }, name, namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, name: 'busybox' },
        spec: {
          containers: [
            {
              args,
              command: args[0] === 'sleep' ? undefined : ['/bin/sh', '-c'],
              image: 'busybox',
              imagePullPolicy: 'IfNotPresent',
              name: 'busybox',
              volumeMounts: [{ mountPath: '/source/data', name: 'source-data' }],
            },
          ],
          restartPolicy: 'Always',
          volumes: [{ name: 'source-data', persistentVolumeClaim: { claimName: claim } }],
        },
      },
    },
  };
}

/** The Deployment guide's story against `repo`: backup, pause, restore into stash-recovered, byte for byte. */
async function deploymentStory(t: Test, ns: string, repo: string, backups: number): Promise<void> {
  const pvc = (name: string): KubeObject => ({
    kind: 'PersistentVolumeClaim',
    apiVersion: 'v1',
    metadata: { name },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  });
  const source = await claimWithFiles(w, ns, pvc('stash-sample-data'), { 'data.txt': 'sample_data\n' });
  await w.kube.create(
    deployment(ns, 'stash-demo', 'stash-sample-data', ['echo sample_data > /source/data/data.txt && sleep 3000']),
  );
  await w.kube.create({
    apiVersion: BC,
    kind: 'BackupConfiguration',
    metadata: { name: 'deployment-backup', namespace: ns },
    spec: {
      repository: { name: repo },
      schedule: '*/5 * * * *',
      target: {
        ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'stash-demo' },
        volumeMounts: [{ name: 'source-data', mountPath: '/source/data' }],
        paths: ['/source/data'],
      },
      retentionPolicy: { name: 'keep-last-5', keepLast: 5, prune: true },
    },
  });
  await phaseIs(w, BC, 'BackupConfiguration', ns, 'deployment-backup', 'Ready');
  await podsRunning(w, ns, 'stash-demo', 1, { sidecar: true });
  for (let i = 1; i <= backups; i++) {
    // Each slot backs up a volume that changed since the last one.
    writeFileSync(join(source, 'data.txt'), `sample_data ${i}\n`);
    const s = await nextScheduledBackup(w, ns, 'deployment-backup');
    t.equal(s.status?.phase, 'Succeeded', `backup ${i} Succeeded`, { status: s.status });
  }
  t.equal(
    await snapshotCount(w, ns, repo, Math.min(backups, 5)),
    Math.min(backups, 5),
    `SNAPSHOT-COUNT ${Math.min(backups, 5)} (keep-last-5)`,
  );
  await w.kube.patch(BC, 'BackupConfiguration', ns, 'deployment-backup', { spec: { paused: true } });
  await claimWithFiles(w, ns, pvc('demo-pvc'), {});
  await w.kube.create(deployment(ns, 'stash-recovered', 'demo-pvc', ['sleep', '3600']));
  await w.kube.create({
    apiVersion: RS,
    kind: 'RestoreSession',
    metadata: { name: 'deployment-restore', namespace: ns },
    spec: {
      repository: { name: repo },
      target: {
        ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'stash-recovered' },
        volumeMounts: [{ name: 'source-data', mountPath: '/source/data' }],
        rules: [{ paths: ['/source/data/'] }],
      },
    },
  });
  const r = await finished<KubeObject & { status?: { phase?: string } }>(
    w,
    RS,
    'RestoreSession',
    ns,
    'deployment-restore',
    150_000,
  );
  t.equal(r.status?.phase, 'Succeeded', 'the RestoreSession Succeeded', { status: r.status });
  await podsRunning(w, ns, 'stash-recovered', 1);
  t.equal(
    readFileSync(join(pvcDir(w.dir, ns, 'demo-pvc'), 'data.txt'), 'utf8'),
    `sample_data ${backups}\n`,
    'the latest backup is restored',
  );
  await noSessionLeftRunning(t, w, ns);
}

t.test('backends/rest: REST server with basic auth; keep-last-5 keeps five of six', async (t) => {
  const ns = 'demo-rest';
  await namespace(w, ns);
  const rest = await startRestServer({
    auth: { username: 'stash', password: 'rest-pass-for-guide' },
    password: 'changeit',
  });
  t.teardown(() => rest.stop());
  // RESTIC_PASSWORD `changeit`, REST_SERVER_USERNAME / REST_SERVER_PASSWORD as the guide's Secret.
  await w.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'rest-secret', namespace: ns },
    stringData: {
      RESTIC_PASSWORD: 'changeit',
      REST_SERVER_USERNAME: 'stash',
      REST_SERVER_PASSWORD: 'rest-pass-for-guide',
    },
  });
  await w.kube.create({
    apiVersion: REPO,
    kind: 'Repository',
    metadata: { name: 'rest-repo', namespace: ns },
    spec: { backend: { rest: { url: `${rest.baseUrl}stash-backup-demo` }, storageSecretName: 'rest-secret' } },
  });
  await deploymentStory(t, ns, 'rest-repo', 6);
});

t.test('backends/s3: a MinIO bucket with a prefix', async (t) => {
  const ns = 'demo-s3';
  await namespace(w, ns);
  const s3 = await startS3Server({ bucket: 'stash-demo', password: 'changeit' });
  t.teardown(() => s3.stop());
  await w.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's3-secret', namespace: ns },
    stringData: { RESTIC_PASSWORD: 'changeit', AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey },
  });
  await w.kube.create({
    apiVersion: REPO,
    kind: 'Repository',
    metadata: { name: 'minio-repo', namespace: ns },
    spec: {
      backend: {
        s3: { endpoint: s3.endpoint, bucket: 'stash-demo', prefix: '/backup/demo/deployment/stash-demo' },
        storageSecretName: 's3-secret',
      },
    },
  });
  await deploymentStory(t, ns, 'minio-repo', 1);
});
