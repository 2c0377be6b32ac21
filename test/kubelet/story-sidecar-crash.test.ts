// Story on real pods: the `stash` sidecar is killed (SIGKILL from the node, as an OOM kill would) in the middle of
// a backup. The kubelet restarts it (restartCount), and the session reaches a final phase — it never stays Running.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { readdirSync, readFileSync, chmodSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import { Kube, type KubeObject } from '../../shared/kube/client.ts';
import { REPO_ROOT } from '../world/bins.ts';
import { APP_IMAGE } from '../world/images/build.ts';
import { installProduct } from '../world/node/install.ts';
import { startNodeWorld } from '../world/node/world.ts';
import { until } from '../support/e2e-world.ts';

t.setTimeout(600_000);
const DIR = process.env.STASH_TS_KUBELET_WORLD ?? join(REPO_ROOT, '.cluster', 'kubelet-test');
const NS = `story-crash-${Date.now().toString(36)}`;

type Pod = KubeObject & { status?: { phase?: string; containerStatuses?: Array<{ name: string; ready?: boolean; restartCount?: number; containerID?: string }> } };
type Session = KubeObject & { status?: { phase?: string; targets?: Array<{ phase?: string; stats?: Array<{ hostname?: string; phase?: string; error?: string }> }> } };

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

/** Host pids of a container: the processes whose cgroup path names its containerd id. */
function containerPids(containerId: string): number[] {
  const id = containerId.replace(/^containerd:\/\//, '');
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try { if (readFileSync(`/proc/${e}/cgroup`, 'utf8').includes(id)) pids.push(Number(e)); } catch { /* gone */ }
  }
  return pids;
}

function comm(pid: number): string {
  try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return ''; }
}

t.test('a sidecar killed mid-backup is restarted and the session ends in a final phase', async (t) => {
  await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  await kube.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'repo-secret', namespace: NS }, stringData: { RESTIC_PASSWORD: `story-${Date.now()}` } });
  await kube.create({
    apiVersion: apiVersionOf('Repository'), kind: 'Repository', metadata: { name: 'repo', namespace: NS },
    spec: { backend: { storageSecretName: 'repo-secret', local: { mountPath: '/stash-repo', hostPath: { path: repoDir } } } },
  });
  // Enough incompressible data that the backup is still running when the sidecar is killed.
  await kube.create({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'big', namespace: NS, labels: { app: 'big' } },
    spec: {
      replicas: 1, selector: { matchLabels: { app: 'big' } },
      template: {
        metadata: { labels: { app: 'big' } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [{ name: 'app', image: APP_IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', '[ -f /data/b4 ] || for i in 1 2 3 4; do head -c 100000000 /dev/urandom > /data/b$i; done; httpd -f -p 8080 -h /data'], volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    },
  });
  await kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'), kind: 'BackupConfiguration', metadata: { name: 'big-backup', namespace: NS },
    spec: {
      repository: { name: 'repo' }, schedule: '0 0 1 1 *',
      target: { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'big' }, paths: ['/data'], volumeMounts: [{ name: 'data', mountPath: '/data' }] },
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
    },
  });
  const pod = await until('a rolled pod with a ready stash sidecar', async () => {
    const l = (await kube.list<Pod>('v1', 'Pod', NS, { labelSelector: 'app=big' })).items.filter((p) => !p.metadata?.deletionTimestamp);
    return l.find((p) => p.status?.phase === 'Running' && p.status.containerStatuses?.length === 2 && p.status.containerStatuses.every((c) => c.ready));
  }, 180_000);
  const sidecar = pod.status!.containerStatuses!.find((c) => c.name === 'stash')!;

  await kube.create({
    apiVersion: apiVersionOf('BackupSession'), kind: 'BackupSession',
    metadata: { name: 'big-backup-1', namespace: NS, labels: { 'stash.appscode.com/invoker-type': 'BackupConfiguration', 'stash.appscode.com/invoker-name': 'big-backup' } },
    spec: { invoker: { apiGroup: 'stash.appscode.com', kind: 'BackupConfiguration', name: 'big-backup' } },
  });
  const path = () => kube.get<Session>(apiVersionOf('BackupSession'), 'BackupSession', NS, 'big-backup-1');
  // Killed while restic reads the volume: polled on the node, where the sidecar's processes are visible.
  const end = Date.now() + 120_000;
  let pids: number[] = [];
  while (Date.now() < end && !(pids = containerPids(sidecar.containerID!)).some((p) => comm(p) === 'restic')) await sleep(100);
  t.ok(pids.some((p) => comm(p) === 'restic'), `restic running in the sidecar (${pids.map((p) => `${p}:${comm(p)}`).join(',')})`);
  for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ } }
  t.equal((await path()).status?.phase, 'Running', 'killed while the session is Running');

  const restarted = await until('the kubelet restarts the sidecar', async () => {
    const p = await kube.get<Pod>('v1', 'Pod', NS, pod.metadata!.name!);
    const c = p.status?.containerStatuses?.find((x) => x.name === 'stash');
    return (c?.restartCount ?? 0) >= 1 && c?.ready ? c : undefined;
  }, 120_000);
  t.ok((restarted.restartCount ?? 0) >= 1, `sidecar restartCount ${restarted.restartCount}`);
  const final = await until('the session in a final phase', async () => {
    const o = await path();
    return o.status?.phase === 'Succeeded' || o.status?.phase === 'Failed' ? o : undefined;
  }, 300_000);
  t.ok(['Succeeded', 'Failed'].includes(final.status!.phase!), `the session ended ${final.status?.phase}, not Running`, { status: final.status });
  if (final.status?.phase === 'Succeeded') t.ok(readdirSync(join(repoDir, 'snapshots')).length >= 1, 'a Succeeded session left its snapshot in the repository');
  if (final.status?.phase === 'Failed') t.ok(final.status.targets?.[0]?.stats?.some((h) => (h.error ?? '') !== ''), 'and the failed host says why', { status: final.status });
});
