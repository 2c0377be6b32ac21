// Story on real pods: a StatefulSet of 3 replicas gets the `stash` sidecar in every pod; one BackupSession backs up
// each pod's own volume as its own host (host-0..host-2, as Stash names StatefulSet hosts), each snapshot holding
// that pod's files only.
import t from 'tap';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import { Kube, type KubeObject } from '../../shared/kube/client.ts';
import { execFileSync } from 'node:child_process';
import { REPO_ROOT, binary } from '../world/bins.ts';
import { APP_IMAGE } from '../world/images/build.ts';
import { installProduct } from '../world/node/install.ts';
import { startNodeWorld } from '../world/node/world.ts';
import { until } from '../support/e2e-world.ts';

t.setTimeout(600_000);
const DIR = process.env.STASH_TS_KUBELET_WORLD ?? join(REPO_ROOT, '.cluster', 'kubelet-test');
const NS = `story-sts-${Date.now().toString(36)}`;
const REPLICAS = 3;
const PASSWORD = `story-${Date.now()}`;

type Pod = KubeObject & { status?: { phase?: string; containerStatuses?: Array<{ name: string; ready?: boolean }> } };
type Session = KubeObject & { status?: { phase?: string; targets?: Array<{ phase?: string; totalHosts?: number; stats?: Array<{ hostname?: string; phase?: string; error?: string; snapshots?: Array<{ name?: string; fileStats?: { totalFiles?: number } }> }> }> } };

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

t.test('a 3-replica StatefulSet: one host per pod, each backing up its own volume', async (t) => {
  await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  await kube.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'repo-secret', namespace: NS }, stringData: { RESTIC_PASSWORD: PASSWORD } });
  await kube.create({
    apiVersion: apiVersionOf('Repository'), kind: 'Repository', metadata: { name: 'repo', namespace: NS },
    spec: { backend: { storageSecretName: 'repo-secret', local: { mountPath: '/stash-repo', hostPath: { path: repoDir } } } },
  });
  // Every replica writes files named after itself, so each host's snapshot shows whose volume it holds.
  await kube.create({
    apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: NS },
    spec: {
      replicas: REPLICAS, serviceName: 'db', podManagementPolicy: 'Parallel', selector: { matchLabels: { app: 'db' } },
      template: {
        metadata: { labels: { app: 'db' } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [{
            name: 'app', image: APP_IMAGE, imagePullPolicy: 'IfNotPresent',
            command: ['sh', '-c', 'mkdir -p /data/own; for i in 1 2 3; do echo "$(hostname) $i" > /data/own/$(hostname)-$i.txt; done; httpd -f -p 8080 -h /data'],
            volumeMounts: [{ name: 'data', mountPath: '/data' }],
          }],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    },
  });
  await kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'), kind: 'BackupConfiguration', metadata: { name: 'db-backup', namespace: NS },
    spec: {
      repository: { name: 'repo' }, schedule: '0 0 1 1 *',
      target: { ref: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' }, paths: ['/data'], volumeMounts: [{ name: 'data', mountPath: '/data' }] },
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
    },
  });
  const pods = await until(`${REPLICAS} pods with a ready stash sidecar`, async () => {
    const l = (await kube.list<Pod>('v1', 'Pod', NS, { labelSelector: 'app=db' })).items.filter((p) => !p.metadata?.deletionTimestamp);
    const ready = l.filter((p) => p.status?.phase === 'Running' && p.status.containerStatuses?.length === 2 && p.status.containerStatuses.every((c) => c.ready));
    return ready.length === REPLICAS ? ready : undefined;
  }, 240_000);
  t.same(pods.map((p) => p.metadata?.name).sort(), ['db-0', 'db-1', 'db-2'], 'three StatefulSet pods, each with the sidecar');

  await kube.create({
    apiVersion: apiVersionOf('BackupSession'), kind: 'BackupSession',
    metadata: { name: 'db-backup-1', namespace: NS, labels: { 'stash.appscode.com/invoker-type': 'BackupConfiguration', 'stash.appscode.com/invoker-name': 'db-backup' } },
    spec: { invoker: { apiGroup: 'stash.appscode.com', kind: 'BackupConfiguration', name: 'db-backup' } },
  });
  const session = await until('BackupSession to finish', async () => {
    const o = await kube.get<Session>(apiVersionOf('BackupSession'), 'BackupSession', NS, 'db-backup-1');
    return o.status?.phase === 'Succeeded' || o.status?.phase === 'Failed' ? o : undefined;
  }, 240_000);
  t.equal(session.status?.phase, 'Succeeded', 'the session succeeded', { status: session.status });
  const target = session.status?.targets?.[0];
  t.equal(target?.totalHosts, REPLICAS, 'one host per replica');
  t.same((target?.stats ?? []).map((h) => h.hostname).sort(), ['host-0', 'host-1', 'host-2'], 'hosts named host-<ordinal>');
  for (const h of target?.stats ?? []) t.equal(h.phase, 'Succeeded', `${h.hostname} succeeded`, { error: h.error });

  // Each host's snapshot holds that pod's own files: the repository is on this machine's disk, read with restic here.
  for (let i = 0; i < REPLICAS; i++) {
    const listing = execFileSync(binary('restic'), ['-r', repoDir, '--no-cache', 'ls', '--host', `host-${i}`, 'latest'], { encoding: 'utf8', env: { ...process.env, RESTIC_PASSWORD: PASSWORD } });
    t.match(listing, new RegExp(`db-${i}-1\\.txt`), `host-${i}'s snapshot holds db-${i}'s files`);
    t.notMatch(listing, new RegExp(`db-${(i + 1) % REPLICAS}-1\\.txt`), "and not another replica's");
  }
});
