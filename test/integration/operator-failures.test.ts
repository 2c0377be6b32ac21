// How backup sessions end when things go wrong, against a real kube-apiserver + kube-controller-manager:
// a failing global pre-hook, a failing member next to finishing ones (plus a job-model member, not supported
// yet), a host whose pod disappears, the timeOut deadline, retries, and the skip rule.
// No agent runs here (no kubelet): where a sidecar would write host stats, the test writes them exactly as
// docs/api.md §15 describes (agentReportsBackup) and says so.
import t from 'tap';
import net from 'node:net';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { findCondition, findTarget } from '../../shared/status/index.ts';
import { useCluster } from '../world/harness.ts';
import {
  Watcher,
  agentReportsBackup,
  backupBatch,
  backupSession,
  createDeployment,
  createRepository,
  deploymentRef,
  startOperator,
  until,
  type SessionObj,
} from '../support/operator-testkit.ts';

const BB = apiVersionOf('BackupBatch');
const BC = apiVersionOf('BackupConfiguration');
const BS = apiVersionOf('BackupSession');
type Inv = KubeObject & { status?: { phase?: string } };

const cluster = await useCluster(t);
const { kube, namespace: ns } = cluster;
await createRepository(kube, ns);
const { metrics } = await startOperator(t, kube, ns, { hostGoneGraceMs: 1500 });
const batches = await new Watcher<Inv>(kube, BB, 'BackupBatch', ns).start(t);
const configs = await new Watcher<Inv>(kube, BC, 'BackupConfiguration', ns).start(t);
const sessions = await new Watcher<SessionObj>(kube, BS, 'BackupSession', ns).start(t);

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function backupConfiguration(name: string, app: string, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: BC,
    kind: 'BackupConfiguration',
    metadata: { name, namespace: ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 * * * *',
      retentionPolicy: { name: 'k', keepLast: 1, prune: true },
      target: { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: app }, paths: ['/data'] },
      ...extra,
    },
  };
}

t.test('a failing global pre-hook fails the session and no member is initiated', async (t) => {
  const port = await closedPort();
  for (const m of ['hook-a', 'hook-b']) await createDeployment(kube, ns, m);
  await kube.create(
    backupBatch(ns, 'hook', ['hook-a', 'hook-b'], {
      hooks: { preBackup: { httpGet: { host: '127.0.0.1', port, path: '/pre' } } },
    }),
  );
  await batches.until('hook', 'Ready', (o) => o.status?.phase === 'Ready');
  await kube.create(backupSession(ns, 'hook-1', 'BackupBatch', 'hook'));
  const s = await sessions.until('hook-1', 'Failed', (o) => o.status?.phase === 'Failed');
  const c = findCondition(s.status?.conditions, 'GlobalPreBackupHookSucceeded');
  t.equal(c?.status, 'False');
  t.equal(c?.reason, 'GlobalPreBackupHookExecutionFailed');
  t.match(c?.message, new RegExp(`127\\.0\\.0\\.1:${port}`), 'the message names the endpoint that failed');
  t.equal(s.status?.targets?.length ?? 0, 0, 'no target was initiated');
  t.equal(findCondition(s.status?.conditions, 'MetricsPushed')?.status, 'True');
  t.ok(
    await until(
      'hook failure exported',
      async () =>
        /stash_hook_failed_sessions\{[^}]*invoker_name="hook",hook="preBackup"\} 1/.test(await metrics.text()),
      5_000,
    ).catch(() => false),
    'hook failure exported',
  );
});

t.test(
  'a failing member fails the session while the others finish; a job-model member gets its backup Job',
  async (t) => {
    for (const m of ['mix-a', 'mix-b']) await createDeployment(kube, ns, m);
    await kube.create({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'mix-pvc', namespace: ns },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    });
    const bb = backupBatch(ns, 'mix', ['mix-a', 'mix-b'], { retryConfig: { maxRetry: 1, delay: '1s' } });
    (bb.spec as { members: unknown[] }).members.push({
      task: { name: 'pvc-backup' },
      target: { alias: 'vol', ref: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'mix-pvc' } },
    });
    await kube.create(bb);
    await batches.until('mix', 'Ready', (o) => o.status?.phase === 'Ready');
    await kube.create({
      ...backupSession(ns, 'mix-1', 'BackupBatch', 'mix'),
      spec: { invoker: { apiGroup: 'stash.appscode.com', kind: 'BackupBatch', name: 'mix' }, retryLeft: 1 },
    });
    const pvcRef = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'mix-pvc', namespace: ns };
    let s = await sessions.until('mix-1', 'initiated', (o) => (o.status?.targets?.length ?? 0) === 3);
    const pvc = findTarget(s.status, pvcRef, ns);
    t.equal(pvc?.phase, 'Running', 'the job-model member runs');
    t.match(findCondition(pvc?.conditions, 'BackupExecutorEnsured')?.message, /Backup Job stash-backup-mix-1-2 /);
    const job = await kube.get<
      KubeObject & {
        spec?: {
          backoffLimit?: number;
          template?: { spec?: { containers?: Array<{ args?: string[] }>; volumes?: Array<{ name: string }> } };
        };
      }
    >('batch/v1', 'Job', ns, 'stash-backup-mix-1-2');
    t.equal(job.spec?.backoffLimit, 0);
    t.ok(
      job.spec?.template?.spec?.containers?.[0]?.args?.includes('--backupsession=mix-1'),
      'the Job runs the agent for this session',
    );
    t.equal(job.metadata?.ownerReferences?.[0]?.name, 'mix-1', 'owned by the session');
    t.equal(s.status?.phase, 'Running', 'the others keep running');
    // Plays the Job's agent (no kubelet runs its pod here).
    await agentReportsBackup(kube, ns, 'mix-1', pvcRef, 'vol', 'Succeeded');
    // Plays the two sidecars: one host fails, one succeeds.
    await agentReportsBackup(
      kube,
      ns,
      'mix-1',
      deploymentRef(ns, 'mix-a'),
      'mix-a',
      'Failed',
      'restic exited with code 1: read-only file system',
    );
    s = await sessions.until(
      'mix-1',
      'still running',
      (o) => findTarget(o.status, deploymentRef(ns, 'mix-a'), ns)?.phase === 'Failed',
    );
    t.equal(s.status?.phase, 'Running', 'one failed member does not end the session early');
    await agentReportsBackup(kube, ns, 'mix-1', deploymentRef(ns, 'mix-b'), 'mix-b', 'Succeeded');
    s = await sessions.until('mix-1', 'Failed', (o) => o.status?.phase === 'Failed');
    t.equal(findTarget(s.status, deploymentRef(ns, 'mix-b'), ns)?.phase, 'Succeeded', 'the other member finished');
    // docs/api.md §14.6: retryLeft 1 and delay 1s give one successor session.
    const retried = await sessions.until('mix-1', 'retried', (o) => o.status?.retried === true, 15_000);
    t.ok(retried.status?.nextRetry, 'nextRetry recorded');
    const successor = sessions.inf
      .list()
      .find(
        (o) =>
          o.metadata?.name !== 'mix-1' &&
          (o.spec as { invoker?: { name?: string } } | undefined)?.invoker?.name === 'mix',
      );
    t.ok(successor, 'a retry session was created');
    t.equal((successor?.spec as { retryLeft?: number } | undefined)?.retryLeft, 0, 'with one retry fewer');
    t.equal(successor?.metadata?.ownerReferences?.[0]?.name, 'mix', 'owned by the batch');
  },
);

t.test('a host whose pod is gone ends the session Failed with a reason', async (t) => {
  await createDeployment(kube, ns, 'crash-app');
  await kube.create(backupConfiguration('crash', 'crash-app'));
  await configs.until('crash', 'Ready', (o) => o.status?.phase === 'Ready');
  await until(
    'a pod of crash-app',
    async () => (await kube.list('v1', 'Pod', ns, { labelSelector: 'app=crash-app' })).items.length > 0,
  );
  await kube.create(backupSession(ns, 'crash-1', 'BackupConfiguration', 'crash'));
  await sessions.until('crash-1', 'Running', (o) => o.status?.phase === 'Running');
  // The pod that would run the sidecar goes away and nothing replaces it; no host stats are ever written.
  await kube.patch('apps/v1', 'Deployment', ns, 'crash-app', { spec: { replicas: 0 } });
  const s = await sessions.until('crash-1', 'Failed', (o) => o.status?.phase === 'Failed', 20_000);
  const target = findTarget(s.status, deploymentRef(ns, 'crash-app'), ns);
  t.equal(findCondition(target?.conditions, 'BackupDisrupted')?.reason, 'FailedToCompleteDueToDisruption');
  t.equal(target?.stats?.[0]?.hostname, 'host-0', 'host named as docs/api.md §12 (no alias)');
  t.equal(target?.stats?.[0]?.phase, 'Failed');
  t.match(target?.stats?.[0]?.error, /no live pod of Deployment/, 'the error says why');
});

t.test('timeOut: a session nobody finishes fails at its deadline', async (t) => {
  await createDeployment(kube, ns, 'slow-app');
  await kube.create(backupConfiguration('slow', 'slow-app', { timeOut: '3s' }));
  await configs.until('slow', 'Ready', (o) => o.status?.phase === 'Ready');
  await kube.create(backupSession(ns, 'slow-1', 'BackupConfiguration', 'slow'));
  const running = await sessions.until('slow-1', 'Running', (o) => o.status?.phase === 'Running');
  const created = Date.parse(running.metadata?.creationTimestamp ?? '');
  t.equal(Date.parse(running.status?.sessionDeadline ?? ''), created + 3000, 'sessionDeadline = creation + timeOut');
  const s = await sessions.until('slow-1', 'Failed', (o) => o.status?.phase === 'Failed', 15_000);
  const c = findCondition(s.status?.conditions, 'DeadlineExceeded');
  t.equal(c?.status, 'True');
  t.equal(c?.reason, 'FailedToCompleteWithinDeadline');
  t.equal(c?.message, 'Failed to complete backup within 3s.');
});

t.test('a session of an invoker that is not Ready is skipped', async (t) => {
  await createDeployment(kube, ns, 'norepo-app');
  await kube.create(backupConfiguration('norepo', 'norepo-app', { repository: { name: 'missing' } }));
  await configs.until('norepo', 'NotReady', (o) => o.status?.phase === 'NotReady');
  await kube.create(backupSession(ns, 'norepo-1', 'BackupConfiguration', 'norepo'));
  const s = await sessions.until('norepo-1', 'Skipped', (o) => o.status?.phase === 'Skipped');
  t.equal(findCondition(s.status?.conditions, 'BackupSkipped')?.reason, 'SkippedTakingNewBackup');
  t.match(findCondition(s.status?.conditions, 'BackupSkipped')?.message, /not Ready/);
});

t.test(
  'StatefulSet: one host per replica; the host whose pod went away is failed, the others keep theirs',
  async (t) => {
    await kube.create({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: ns },
      spec: {
        replicas: 2,
        serviceName: 'db',
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: { app: 'db' } },
        template: {
          metadata: { labels: { app: 'db' } },
          spec: { containers: [{ name: 'db', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
        },
      },
    });
    await kube.create({
      apiVersion: BC,
      kind: 'BackupConfiguration',
      metadata: { name: 'db', namespace: ns },
      spec: {
        repository: { name: 'repo' },
        schedule: '0 * * * *',
        retentionPolicy: { name: 'k', keepLast: 1, prune: true },
        target: {
          alias: 'db',
          ref: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
          paths: ['/var/lib/db'],
        },
      },
    });
    await configs.until('db', 'Ready', (o) => o.status?.phase === 'Ready');
    await until(
      'pods db-0 and db-1',
      async () => (await kube.list('v1', 'Pod', ns, { labelSelector: 'app=db' })).items.length === 2,
    );
    await kube.create(backupSession(ns, 'db-1', 'BackupConfiguration', 'db'));
    const ref = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', namespace: ns };
    const running = await sessions.until('db-1', 'Running', (o) => o.status?.phase === 'Running');
    t.equal(findTarget(running.status, ref, ns)?.totalHosts, 2, 'totalHosts = spec.replicas');
    // Plays the sidecar of db-0; db-1's pod is then removed by scaling down before it reports.
    await agentReportsBackup(kube, ns, 'db-1', ref, 'db-0', 'Succeeded');
    await kube.patch('apps/v1', 'StatefulSet', ns, 'db', { spec: { replicas: 1 } });
    const s = await sessions.until('db-1', 'Failed', (o) => o.status?.phase === 'Failed', 20_000);
    const stats = findTarget(s.status, ref, ns)?.stats ?? [];
    t.same(stats.map((x) => [x.hostname, x.phase]).sort(), [
      ['db-0', 'Succeeded'],
      ['db-1', 'Failed'],
    ]);
    t.match(stats.find((x) => x.hostname === 'db-1')?.error, /pod db-1 of StatefulSet .* is gone/);
  },
);
