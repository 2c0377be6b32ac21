// The operator's backup loops against a real kube-apiserver + kube-controller-manager: invoker reconcile
// (conditions, CronJob, injection, Repository references, deletion), Sequential hand-off latency, Parallel
// initiation, and a workload that appears after its invoker (the webhook-outage heal path).
// No agent runs here (no kubelet): where a sidecar would write host stats, the test writes them exactly as
// docs/api.md §15 describes (agentReportsBackup) and says so.
import t from 'tap';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { findCondition, findTarget } from '../../shared/status/index.ts';
import { useCluster } from '../world/harness.ts';
import {
  AGENT_IMAGE,
  Watcher,
  agentReportsBackup,
  backupBatch,
  backupSession,
  createDeployment,
  createRepository,
  deploymentRef,
  podTemplateContainers,
  startOperator,
  until,
  type SessionObj,
} from '../support/operator-testkit.ts';

const BB = apiVersionOf('BackupBatch');
const BS = apiVersionOf('BackupSession');
type Inv = KubeObject & {
  status?: {
    phase?: string;
    conditions?: Array<{ type: string; status: string; reason?: string }>;
    memberConditions?: Array<{
      target: { name: string };
      conditions: Array<{ type: string; status: string; reason?: string }>;
    }>;
  };
};

const cluster = await useCluster(t);
const { kube, namespace: ns } = cluster;
await createRepository(kube, ns);
const { metrics } = await startOperator(t, kube, ns);
const invokers = await new Watcher<Inv>(kube, BB, 'BackupBatch', ns).start(t);
const sessions = await new Watcher<SessionObj>(kube, BS, 'BackupSession', ns).start(t);

async function readyBatch(name: string, members: string[], extra: Record<string, unknown> = {}): Promise<Inv> {
  for (const m of members) await createDeployment(kube, ns, m);
  await kube.create(backupBatch(ns, name, members, extra));
  return await invokers.until(name, 'phase Ready', (o) => o.status?.phase === 'Ready');
}

t.test('BackupBatch reconcile: finalizer, conditions, CronJob, sidecars, references, events, pause', async (t) => {
  const members = ['rc-web', 'rc-db', 'rc-cache'];
  const inv = await readyBatch('rc', members);
  t.ok(inv.metadata?.finalizers?.includes('stash.appscode.com'), 'finalizer stash.appscode.com added');
  for (const type of ['RepositoryFound', 'BackendSecretFound', 'ValidationPassed', 'CronJobCreated']) {
    t.equal(findCondition(inv.status?.conditions as never, type)?.status, 'True', `${type} True`);
  }
  t.equal(findCondition(inv.status?.conditions as never, 'RepositoryFound')?.reason, 'RepositoryAvailable');
  t.equal(findCondition(inv.status?.conditions as never, 'CronJobCreated')?.reason, 'CronJobCreationSucceeded');
  t.equal(inv.status?.memberConditions?.length, 3, 'one memberConditions entry per member');
  for (const mc of inv.status?.memberConditions ?? []) {
    t.equal(
      mc.conditions.find((c) => c.type === 'BackupTargetFound')?.reason,
      'TargetAvailable',
      `${mc.target.name} found`,
    );
    t.equal(
      mc.conditions.find((c) => c.type === 'StashSidecarInjected')?.reason,
      'SidecarInjectionSucceeded',
      `${mc.target.name} injected`,
    );
  }
  for (const m of members) {
    const d = await kube.get('apps/v1', 'Deployment', ns, m);
    t.same(podTemplateContainers(d), ['app', 'stash'], `${m} pod template has the stash sidecar`);
    const sidecar = (
      d as { spec: { template: { spec: { containers: Array<{ name: string; image: string; args: string[] }> } } } }
    ).spec.template.spec.containers[1]!;
    t.equal(sidecar.image, AGENT_IMAGE);
    t.same(sidecar.args.slice(0, 3), ['run-backup', '--invoker-name=rc', '--invoker-kind=BackupBatch']);
  }
  const cj = await kube.get<KubeObject & { spec: Record<string, any> }>('batch/v1', 'CronJob', ns, 'stash-trigger-rc');
  t.equal(cj.spec.schedule, '*/30 * * * *');
  t.equal(cj.spec.suspend, false);
  const c = cj.spec.jobTemplate.spec.template.spec.containers[0];
  t.equal(c.name, 'stash-trigger');
  t.equal(c.image, AGENT_IMAGE);
  t.same(c.args, ['create-backupsession', '--invoker-name=rc', '--invoker-kind=BackupBatch']);
  t.equal(cj.spec.jobTemplate.metadata.labels['stash.appscode.com/delete-job-on-completion'], 'true');
  t.equal(cj.metadata?.labels?.['app.kubernetes.io/managed-by'], 'stash.appscode.com');
  t.equal(cj.metadata?.ownerReferences?.[0]?.uid, inv.metadata?.uid, 'CronJob is owned by the BackupBatch');
  const repo = await kube.get<KubeObject & { status?: { references?: Array<{ kind: string; name: string }> } }>(
    apiVersionOf('Repository'),
    'Repository',
    ns,
    'repo',
  );
  t.ok(
    repo.status?.references?.some((r) => r.kind === 'BackupBatch' && r.name === 'rc'),
    'Repository.status.references names the batch',
  );
  // Events follow the status write that made the batch Ready, so wait for them rather than read once.
  const cronEvent = await until('the CronJob creation Event', async () => {
    const events = await kube.list<KubeObject & { reason?: string; involvedObject?: { name?: string } }>(
      'v1',
      'Event',
      ns,
    );
    return events.items.some((e) => e.involvedObject?.name === 'rc' && e.reason === 'CronJobCreationSucceeded');
  }).catch(() => false);
  t.ok(cronEvent, 'an Event records the CronJob creation');

  // paused suspends the CronJob and does not touch the pod template
  const before = await kube.get('apps/v1', 'Deployment', ns, 'rc-web');
  await kube.patch(BB, 'BackupBatch', ns, 'rc', { spec: { paused: true } });
  await until(
    'CronJob suspended',
    async () =>
      (await kube.get<KubeObject & { spec: { suspend?: boolean } }>('batch/v1', 'CronJob', ns, 'stash-trigger-rc')).spec
        .suspend === true,
  );
  const after = await kube.get('apps/v1', 'Deployment', ns, 'rc-web');
  t.same(
    (after as any).spec.template,
    (before as any).spec.template,
    'pausing does not change the pod template (no restart)',
  );

  // deletion removes sidecars, the CronJob and the reference, then the object goes
  await kube.delete(BB, 'BackupBatch', ns, 'rc');
  await until('BackupBatch gone', async () => (await kube.getOrNull(BB, 'BackupBatch', ns, 'rc')) === null);
  for (const m of members) {
    const d = await kube.get('apps/v1', 'Deployment', ns, m);
    t.same(podTemplateContainers(d), ['app'], `${m} sidecar removed`);
    t.notOk(
      d.metadata?.annotations?.['stash.appscode.com/last-applied-backup-invoker'],
      `${m} last-applied annotation removed`,
    );
  }
  t.equal(await kube.getOrNull('batch/v1', 'CronJob', ns, 'stash-trigger-rc'), null, 'CronJob deleted');
  const repo2 = await kube.get<KubeObject & { status?: { references?: Array<{ name: string }> } }>(
    apiVersionOf('Repository'),
    'Repository',
    ns,
    'repo',
  );
  t.notOk(
    repo2.status?.references?.some((r) => r.name === 'rc'),
    'reference removed from the Repository',
  );
});

t.test(
  'Sequential batch: members start in order, each handed off by the watch on the previous final status',
  async (t) => {
    const members = ['seq-a', 'seq-b', 'seq-c'];
    await readyBatch('seq', members, { executionOrder: 'Sequential' });
    await kube.create(backupSession(ns, 'seq-1', 'BackupBatch', 'seq'));
    const ensured = (o: SessionObj, m: string) =>
      findCondition(findTarget(o.status, deploymentRef(ns, m), ns)?.conditions, 'BackupExecutorEnsured')?.status ===
      'True';
    let s = await sessions.until('seq-1', 'first member initiated', (o) => ensured(o, 'seq-a'));
    t.equal(s.status?.targets?.length, 3, 'every member has an entry');
    t.equal(findTarget(s.status, deploymentRef(ns, 'seq-a'), ns)?.totalHosts, 1, 'Deployment: one host');
    t.same(
      findTarget(s.status, deploymentRef(ns, 'seq-a'), ns)?.preBackupActions,
      ['InitializeBackendRepository'],
      'first target initialises the repository',
    );
    t.same(
      ['seq-b', 'seq-c'].map((m) => findTarget(s.status, deploymentRef(ns, m), ns)?.phase),
      ['Pending', 'Pending'],
      'later members wait',
    );
    t.equal(s.status?.phase, 'Running');

    const latencies: number[] = [];
    for (const [i, m] of members.entries()) {
      const next = members[i + 1];
      // Plays the sidecar of member m: its only host reports success.
      const t0 = performance.now();
      await agentReportsBackup(kube, ns, 'seq-1', deploymentRef(ns, m), m, 'Succeeded');
      const wrote = performance.now();
      if (next) {
        s = await sessions.until('seq-1', `${next} initiated`, (o) => ensured(o, next), 10_000);
        latencies.push(performance.now() - wrote);
        t.equal(
          findTarget(s.status, deploymentRef(ns, m), ns)?.phase,
          'Succeeded',
          `${m} Succeeded before ${next} starts`,
        );
        void t0;
      }
    }
    t.comment(
      `hand-off latencies (ms, status write to next member initiated, seen through a watch): ${latencies.map((l) => l.toFixed(1)).join(', ')}`,
    );
    // The hand-off is driven by the watch, not by the 10 min resync: seconds at most even on a machine running
    // other test files side by side. Its 250 ms bar is measured by `npm run bench:orchestration` (a timed
    // assertion here failed at 300-400 ms whenever four files shared the two cores).
    for (const l of latencies) t.ok(l <= 5_000, `hand-off ${l.toFixed(1)} ms <= 5 s (watch-driven)`);
    t.same(
      findTarget(s.status, deploymentRef(ns, 'seq-c'), ns)?.postBackupActions,
      ['ApplyRetentionPolicy', 'VerifyRepositoryIntegrity', 'SendRepositoryMetrics'],
      'last target runs the post-backup actions',
    );
    s = await sessions.until('seq-1', 'Succeeded', (o) => o.status?.phase === 'Succeeded');
    t.equal(findCondition(s.status?.conditions, 'MetricsPushed')?.status, 'True', 'MetricsPushed is set last');
    t.equal(findCondition(s.status?.conditions, 'BackupHistoryCleaned')?.status, 'True');
    t.ok(s.status?.sessionDuration, 'sessionDuration filled');
    // The metrics are computed from the informer caches at scrape time: they may trail this test's watch by a moment.
    const exported = async (re: RegExp) =>
      await until(String(re), async () => re.test(await metrics.text()), 5_000).catch(() => false);
    t.ok(
      await exported(
        /stash_backup_last_success_time_seconds\{invoker_kind="BackupBatch",invoker_name="seq",[^}]*\} \d/,
      ),
      'last success time exported',
    );
    t.ok(
      await exported(/stash_backup_host_backup_duration_seconds\{[^}]*name="seq-b"[^}]*\} 1.25/),
      'per-host duration exported',
    );
    t.ok(
      await exported(/stash_sessions\{kind="BackupSession",[^}]*invoker_name="seq",phase="Succeeded"\} 1/),
      'sessions by phase exported',
    );
  },
);

t.test('Parallel batch: every member is initiated at once', async (t) => {
  const members = ['par-a', 'par-b', 'par-c'];
  await readyBatch('par', members);
  await kube.create(backupSession(ns, 'par-1', 'BackupBatch', 'par'));
  const s = await sessions.until('par-1', 'targets initiated', (o) =>
    (o.status?.targets ?? []).some((x) => x.totalHosts !== undefined),
  );
  t.same(
    members.map((m) => findTarget(s.status, deploymentRef(ns, m), ns)?.phase),
    ['Running', 'Running', 'Running'],
    'all three Running in the first status write',
  );
  // Plays the three sidecars.
  for (const m of members) await agentReportsBackup(kube, ns, 'par-1', deploymentRef(ns, m), m, 'Succeeded');
  const done = await sessions.until('par-1', 'Succeeded', (o) => o.status?.phase === 'Succeeded');
  t.equal(done.status?.targets?.length, 3);
});

t.test('a workload created after its invoker (webhook down) gets its sidecar from the reconcile path', async (t) => {
  await kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name: 'late', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 * * * *',
      retentionPolicy: { name: 'k', keepLast: 1, prune: true },
      target: { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'late-app' }, paths: ['/data'] },
    },
  });
  const bc = await until('BackupTargetFound False', async () => {
    const o = await kube.get<Inv>(apiVersionOf('BackupConfiguration'), 'BackupConfiguration', ns, 'late');
    return findCondition(o.status?.conditions as never, 'BackupTargetFound')?.status === 'False' ? o : undefined;
  });
  t.equal(bc.status?.phase, 'Ready', 'phase counts invoker-level conditions only');
  // No mutating webhook is registered in this world: this is exactly a deploy during a webhook outage.
  await createDeployment(kube, ns, 'late-app');
  const d = await until(
    'sidecar injected by the reconcile path',
    async () => {
      const o = await kube.get('apps/v1', 'Deployment', ns, 'late-app');
      return podTemplateContainers(o).includes('stash') ? o : undefined;
    },
    20_000,
  );
  t.equal(d.metadata?.annotations?.['stash.appscode.com/last-applied-backup-invoker-kind'], 'BackupConfiguration');
  await until(
    'StashSidecarInjected True',
    async () => {
      const o = await kube.get<Inv>(apiVersionOf('BackupConfiguration'), 'BackupConfiguration', ns, 'late');
      return findCondition(o.status?.conditions as never, 'StashSidecarInjected')?.status === 'True';
    },
    20_000,
  );
  t.pass('BackupConfiguration reports the sidecar');
});

t.test('history cleanup keeps backupHistoryLimit finished sessions (docs/api.md §14.5)', async (t) => {
  await createDeployment(kube, ns, 'hist-app');
  await kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name: 'hist', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 * * * *',
      retentionPolicy: { name: 'k', keepLast: 1, prune: true },
      backupHistoryLimit: 1,
      target: { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'hist-app' }, paths: ['/data'] },
    },
  });
  await until(
    'hist Ready',
    async () =>
      (await kube.get<Inv>(apiVersionOf('BackupConfiguration'), 'BackupConfiguration', ns, 'hist')).status?.phase ===
      'Ready',
  );
  for (const name of ['hist-1', 'hist-2']) {
    await kube.create(backupSession(ns, name, 'BackupConfiguration', 'hist'));
    await sessions.until(name, 'Running', (o) => o.status?.phase === 'Running');
    // Plays the sidecar: the one host (no alias: host-0) succeeds.
    await agentReportsBackup(kube, ns, name, deploymentRef(ns, 'hist-app'), 'host-0', 'Succeeded');
    await sessions.until(name, 'Succeeded', (o) => o.status?.phase === 'Succeeded');
  }
  await until('hist-1 deleted', async () => (await kube.getOrNull(BS, 'BackupSession', ns, 'hist-1')) === null, 10_000);
  t.ok(await kube.getOrNull(BS, 'BackupSession', ns, 'hist-2'), 'the newest session is kept');
});
