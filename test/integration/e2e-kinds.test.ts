// The new member kinds in one batch (pod-runner world; the pod runner is a stand-in for a kubelet that runs only
// the agent image): a Sequential BackupBatch of a Deployment (sidecar), a real Redis behind an AppBinding and
// the application's manifests (kubedump, by label), then ONE Sequential RestoreBatch in a fresh namespace:
// kubedump re-creates the Deployment, its PVC, the AppBinding and its Secret there, the Deployment's volume
// is restored by stash-init into the new claim, and the Redis member restores the wiped server through the
// restored AppBinding.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { apiVersionOf, APPBINDING_API_VERSION } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { redisAvailable, startRedis } from '../backends/redis.ts';
import { pvcDir } from '../world/pod-runner/volumes.ts';
import {
  DATA_PATH,
  REPO_MOUNT,
  backupSession,
  createApp,
  e2eWorld,
  finished,
  namespaceWithRepo,
  readTree,
  sidecarsRunning,
  until,
  type RestoreBatchObj,
  type SessionObj,
} from '../support/e2e-world.ts';

const BB = apiVersionOf('BackupBatch');
const BS = apiVersionOf('BackupSession');
const RB = apiVersionOf('RestoreBatch');
const PART_OF = { 'app.kubernetes.io/part-of': 'shop' };

t.setTimeout(300_000);
if (!redisAvailable()) throw new Error('Redis is not installed: run hack/install-system-packages.sh');
const w = await e2eWorld(t, 'e2e-kinds');
const redis = await startRedis({ password: `redis-${randomBytes(6).toString('hex')}` });
t.teardown(() => redis.stop());

t.test(
  'Sequential BackupBatch of a Deployment, a Redis and kubedump; one RestoreBatch into a fresh namespace',
  async (t) => {
    const ns = 'kinds-src';
    const repoDir = await namespaceWithRepo(w, ns);
    const files = { 'index.html': '<h1>shop</h1>', 'img/logo.bin': randomBytes(64 * 1024) };
    const src = await createApp(w, ns, 'web', files, PART_OF);
    const app: KubeObject[] = [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'cache-auth', namespace: ns, labels: PART_OF },
        stringData: { password: redis.password },
      } as KubeObject,
      {
        apiVersion: APPBINDING_API_VERSION,
        kind: 'AppBinding',
        metadata: { name: 'cache', namespace: ns, labels: PART_OF },
        spec: {
          type: 'kubedb.com/redis',
          clientConfig: { url: `redis://127.0.0.1:${redis.port}` },
          secret: { name: 'cache-auth' },
        },
      } as KubeObject,
    ];
    for (const o of app) await w.kube.create(o);
    const c = await redis.client();
    await c.pipeline([
      ['SET', 'cart:1', randomBytes(500)],
      ['HSET', 'user:7', 'name', 'Ada', 'plan', 'pro'],
      ['SET', 'session:9', 'x', 'PXAT', Date.now() + 3_600_000],
    ]);
    const cart = await c.call(['GET', 'cart:1']);
    const sessionExpiry = await c.call(['PEXPIRETIME', 'session:9']);

    await w.kube.create({
      apiVersion: BB,
      kind: 'BackupBatch',
      metadata: { name: 'shop', namespace: ns },
      spec: {
        repository: { name: 'repo' },
        schedule: '0 0 1 1 *',
        retentionPolicy: { name: 'keep-5', keepLast: 5, prune: true },
        executionOrder: 'Sequential',
        members: [
          {
            target: {
              alias: 'web',
              ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
              paths: [DATA_PATH],
              volumeMounts: [{ name: 'data', mountPath: DATA_PATH }],
            },
          },
          {
            task: { name: 'redis-backup-7.0.5' },
            target: { alias: 'cache', ref: { apiVersion: APPBINDING_API_VERSION, kind: 'AppBinding', name: 'cache' } },
          },
          {
            task: {
              name: 'kubedump-backup-0.1.0',
              params: [{ name: 'labelSelector', value: 'app.kubernetes.io/part-of=shop' }],
            },
            target: { alias: 'manifests', ref: { apiVersion: 'v1', kind: 'Namespace', name: ns } },
          },
        ],
      },
    } as KubeObject);
    await until(
      'BackupBatch Ready',
      async () =>
        (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, 'shop')).status
          ?.phase === 'Ready',
      60_000,
    );
    await sidecarsRunning(w, ns, ['web']);
    await w.kube.create(backupSession(ns, 'shop-1', 'shop'));
    const s = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'shop-1', 180_000);
    t.equal(s.status?.phase, 'Succeeded', 'the session succeeded', { status: s.status });
    t.same(
      s.status?.targets?.map((x) => [x.ref?.kind, x.phase, x.stats?.[0]?.hostname, x.stats?.[0]?.snapshots?.[0]?.path]),
      [
        ['Deployment', 'Succeeded', 'web', DATA_PATH],
        ['AppBinding', 'Succeeded', 'cache', '/dumpfile.resp'],
        ['Namespace', 'Succeeded', 'manifests', s.status?.targets?.[2]?.stats?.[0]?.snapshots?.[0]?.path],
      ],
      'each member backed up under its alias',
    );
    t.match(
      s.status?.targets?.[2]?.stats?.[0]?.snapshots?.[0]?.path,
      /\/resources$/,
      'the manifests are a directory tree',
    );
    const jobs = (await w.kube.list('batch/v1', 'Job', ns)).items;
    const created = (n: string) =>
      Date.parse(jobs.find((j) => j.metadata?.name === n)?.metadata?.creationTimestamp ?? '');
    t.ok(
      created('stash-backup-shop-1-2') >= created('stash-backup-shop-1-1'),
      'Sequential: the kubedump Job after the Redis Job',
    );

    // Lose the cache; restore everything into a namespace that has only the Repository.
    await c.call(['FLUSHALL']);
    const fresh = 'kinds-fresh';
    const password = (
      await w.kube.get<KubeObject & { data?: Record<string, string> }>('v1', 'Secret', ns, 'repo-secret')
    ).data!;
    await w.kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: fresh } });
    await w.kube.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'repo-secret', namespace: fresh },
      data: password,
    } as KubeObject);
    await w.kube.create({
      apiVersion: apiVersionOf('Repository'),
      kind: 'Repository',
      metadata: { name: 'repo', namespace: fresh },
      spec: {
        backend: { storageSecretName: 'repo-secret', local: { mountPath: REPO_MOUNT, hostPath: { path: repoDir } } },
      },
    } as KubeObject);
    await w.kube.create({
      apiVersion: RB,
      kind: 'RestoreBatch',
      metadata: { name: 'shop', namespace: fresh },
      spec: {
        repository: { name: 'repo' },
        executionOrder: 'Sequential',
        members: [
          {
            task: { name: 'kubedump-restore-0.1.0', params: [{ name: 'targetNamespace', value: fresh }] },
            target: {
              alias: 'manifests',
              ref: { apiVersion: 'v1', kind: 'Namespace', name: ns },
              rules: [{ snapshots: ['latest'] }],
            },
          },
          {
            target: {
              alias: 'web',
              ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
              volumeMounts: [{ name: 'data', mountPath: DATA_PATH }],
              rules: [{ paths: [DATA_PATH] }],
            },
          },
          {
            task: { name: 'redis-restore-7.0.5' },
            target: {
              alias: 'cache',
              ref: { apiVersion: APPBINDING_API_VERSION, kind: 'AppBinding', name: 'cache' },
              rules: [{ snapshots: ['latest'] }],
            },
          },
        ],
      },
    } as KubeObject);
    const rb = await finished<RestoreBatchObj>(w, RB, 'RestoreBatch', fresh, 'shop', 180_000);
    t.equal(rb.status?.phase, 'Succeeded', 'the RestoreBatch succeeded', { status: rb.status });
    t.same(
      rb.status?.members?.map((m) => m.phase),
      ['Succeeded', 'Succeeded', 'Succeeded'],
    );
    t.ok(
      await w.kube.getOrNull(APPBINDING_API_VERSION, 'AppBinding', fresh, 'cache'),
      'the AppBinding re-created in the fresh namespace',
    );
    t.same(
      readTree(pvcDir(w.dir, fresh, 'web-data')),
      readTree(src),
      'the Deployment volume restored into the new claim, identical',
    );
    t.same(await c.call(['GET', 'cart:1']), cart, 'Redis values back');
    t.same(
      [await c.call(['HGET', 'user:7', 'name']), await c.call(['HLEN', 'user:7'])],
      [Buffer.from('Ada'), 2],
      'hash back',
    );
    t.equal(await c.call(['PEXPIRETIME', 'session:9']), sessionExpiry, 'TTL identical');
  },
);
