// Liveness as the operator sees it (issue #14.2, #15.1), against a real kube-apiserver + kube-controller-manager:
// a host whose heartbeat Lease goes stale while its pod exists, a host that never starts, a session made by hand
// with only spec.invoker and upstream's older label, and sessions that end by deadline with every member and
// host final — for BackupSessions and RestoreBatches.
// No agent runs here (no kubelet: the workloads' pods exist but nothing runs their stash container). Where a
// working agent would renew its heartbeat Lease or write host stats, the test does it exactly as the contract in
// shared/api/heartbeat.ts and docs/api.md §15 describe, and says so. The liveness bound is shortened to 3 s by tuning.
import t from 'tap';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { BackupTargetStatus, RestoreMemberStatus } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { findCondition, findTarget } from '../../shared/status/index.ts';
import { useCluster } from '../world/harness.ts';
import {
  Watcher,
  agentHeartbeat,
  agentReportsBackup,
  backupBatch,
  backupSession,
  createDeployment,
  createRepository,
  deploymentRef,
  startOperator,
  until,
  type RestoreBatchObj,
  type SessionObj,
} from '../support/operator-testkit.ts';

const BB = apiVersionOf('BackupBatch');
const BC = apiVersionOf('BackupConfiguration');
const BS = apiVersionOf('BackupSession');
const RB = apiVersionOf('RestoreBatch');
const BOUND_MS = 3_000;
type Inv = KubeObject & { status?: { phase?: string } };

const cluster = await useCluster(t);
const { kube, namespace: ns } = cluster;
await createRepository(kube, ns);
await startOperator(t, kube, ns, { hostLivenessMs: BOUND_MS, hostStartMs: BOUND_MS, hostGoneGraceMs: 60_000 });
const batches = await new Watcher<Inv>(kube, BB, 'BackupBatch', ns).start(t);
const configs = await new Watcher<Inv>(kube, BC, 'BackupConfiguration', ns).start(t);
const sessions = await new Watcher<SessionObj>(kube, BS, 'BackupSession', ns).start(t);
const restores = await new Watcher<RestoreBatchObj>(kube, RB, 'RestoreBatch', ns).start(t);

function allFinal(targets: ReadonlyArray<BackupTargetStatus | RestoreMemberStatus> | undefined): boolean {
  return (targets ?? []).every(
    (x) =>
      (x.phase === 'Succeeded' || x.phase === 'Failed') &&
      (x.stats ?? []).every((h) => h.phase === 'Succeeded' || h.phase === 'Failed'),
  );
}

async function events(object: string): Promise<Array<{ reason: string; message: string }>> {
  const l = await kube.list<KubeObject & { reason?: string; message?: string; involvedObject?: { name?: string } }>(
    'v1',
    'Event',
    ns,
  );
  return l.items
    .filter((e) => e.involvedObject?.name === object)
    .map((e) => ({ reason: e.reason ?? '', message: e.message ?? '' }));
}

t.test(
  'Sequential batch: a stale heartbeat fails its host while the pod exists; a member nobody takes up fails after the bound',
  async (t) => {
    for (const m of ['hb-a', 'hb-b']) await createDeployment(kube, ns, m);
    await until(
      'pods of both members',
      async () => (await kube.list('v1', 'Pod', ns, { labelSelector: 'app in (hb-a,hb-b)' })).items.length === 2,
    );
    await kube.create(backupBatch(ns, 'hb', ['hb-a', 'hb-b'], { executionOrder: 'Sequential' }));
    await batches.until('hb', 'Ready', (o) => o.status?.phase === 'Ready');
    const created = await kube.create(backupSession(ns, 'hb-1', 'BackupBatch', 'hb'));
    const t0 = Date.now();
    await sessions.until(
      'hb-1',
      'member hb-a initiated',
      (o) => findTarget(o.status, deploymentRef(ns, 'hb-a'), ns)?.phase === 'Running',
    );
    // Plays hb-a's sidecar: it takes up the session and renews its Lease twice, then stops (a hung agent).
    await agentHeartbeat(kube, ns, 'BackupSession', created, 'hb-a');
    await new Promise((r) => setTimeout(r, 1_500));
    await agentHeartbeat(kube, ns, 'BackupSession', created, 'hb-a');
    const renewedAt = Date.now();
    const afterA = await sessions.until(
      'hb-1',
      'hb-a failed',
      (o) => findTarget(o.status, deploymentRef(ns, 'hb-a'), ns)?.phase === 'Failed',
      30_000,
    );
    const failedAfter = Date.now() - renewedAt;
    t.ok(failedAfter >= BOUND_MS - 1_000, `not failed before the bound (${failedAfter} ms after the last renewal)`);
    const a = findTarget(afterA.status, deploymentRef(ns, 'hb-a'), ns);
    t.match(a?.stats?.[0], { hostname: 'hb-a', phase: 'Failed' });
    t.match(
      a?.stats?.[0]?.error,
      /host hb-a of Deployment .*\/hb-a stopped working on the session: its heartbeat Lease was last renewed .* ago .*liveness bound of 3s/,
      'the reason names the host and the bound',
    );
    t.ok(
      (await kube.list('v1', 'Pod', ns, { labelSelector: 'app=hb-a' })).items.some(
        (p) => !p.metadata?.deletionTimestamp,
      ),
      'its pod still exists',
    );

    // hb-b gets its turn; no agent ever takes it up.
    const s = await sessions.until('hb-1', 'Failed', (o) => o.status?.phase === 'Failed', 30_000);
    const b = findTarget(s.status, deploymentRef(ns, 'hb-b'), ns);
    t.match(
      b?.stats?.[0]?.error,
      /no agent took up the session for host hb-b of Deployment .*\/hb-b within the liveness bound of 3s: check that the stash container is injected/,
      'the reason says what to check',
    );
    t.ok(allFinal(s.status?.targets), 'every member and host is final');
    t.comment(`session final ${Date.now() - t0} ms after creation (bound ${BOUND_MS} ms, two members)`);
    const ev = await events('hb-1');
    t.ok(
      ev.some((e) => e.reason === 'FailedToCompleteDueToDisruption' && /hb-a stopped working/.test(e.message)),
      'an Event says why hb-a failed',
    );
    t.ok(
      ev.some(
        (e) =>
          e.reason === 'FailedToCompleteDueToDisruption' &&
          /no agent took up the session for host hb-b/.test(e.message),
      ),
      'an Event says why hb-b failed',
    );
  },
);

t.test(
  'a session made by hand with only spec.invoker and the older label: labels added, no host takes it, it ends Failed with the reason',
  async (t) => {
    await createDeployment(kube, ns, 'guide-app');
    await kube.create({
      apiVersion: BC,
      kind: 'BackupConfiguration',
      metadata: { name: 'guide', namespace: ns },
      spec: {
        repository: { name: 'repo' },
        schedule: '0 * * * *',
        retentionPolicy: { name: 'k', keepLast: 1, prune: true },
        target: { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'guide-app' }, paths: ['/data'] },
      },
    });
    await configs.until('guide', 'Ready', (o) => o.status?.phase === 'Ready');
    // As upstream's instant-backup guide writes it.
    await kube.create({
      apiVersion: BS,
      kind: 'BackupSession',
      metadata: {
        name: 'guide-instant',
        namespace: ns,
        labels: { 'stash.appscode.com/backup-configuration': 'guide' },
      },
      spec: { invoker: { apiGroup: 'stash.appscode.com', kind: 'BackupConfiguration', name: 'guide' } },
    });
    const labelled = await sessions.until(
      'guide-instant',
      'labels',
      (o) => o.metadata?.labels?.['stash.appscode.com/invoker-name'] === 'guide',
    );
    t.equal(
      labelled.metadata?.labels?.['stash.appscode.com/invoker-type'],
      'BackupConfiguration',
      'invoker-type label added',
    );
    t.equal(labelled.metadata?.labels?.['stash.appscode.com/backup-configuration'], 'guide', 'the older label stays');
    const s = await sessions.until('guide-instant', 'Failed', (o) => o.status?.phase === 'Failed', 30_000);
    const host = s.status?.targets?.[0]?.stats?.[0];
    t.equal(host?.hostname, 'host-0');
    t.match(
      host?.error,
      /no agent took up the session .* within the liveness bound of 3s/,
      `the reason: ${host?.error}`,
    );
    t.ok(allFinal(s.status?.targets), 'nothing left Running or Pending');
    t.ok(
      (await events('guide-instant')).some((e) => e.reason === 'InvokerLabelsAdded'),
      'an Event records the labels added',
    );

    // The same session identified only by the older label (no spec.invoker) is run too.
    await kube
      .create({
        apiVersion: BS,
        kind: 'BackupSession',
        metadata: { name: 'guide-old', namespace: ns, labels: { 'stash.appscode.com/backup-configuration': 'guide' } },
        spec: {},
      })
      .then(async () => {
        const o = await sessions.until('guide-old', 'final', (x) => x.status?.phase === 'Failed', 30_000);
        t.equal(o.metadata?.labels?.['stash.appscode.com/invoker-name'], 'guide', 'labels from the older label alone');
      })
      .catch((err: unknown) => t.match(String(err), /spec\.invoker/, 'or admission refuses it naming spec.invoker'));
  },
);

t.test('a BackupSession that ends by deadline leaves every member and host final, and an Event says why', async (t) => {
  for (const m of ['dl-a', 'dl-b']) await createDeployment(kube, ns, m);
  await kube.create(backupBatch(ns, 'dl', ['dl-a', 'dl-b'], { executionOrder: 'Sequential', timeOut: '4s' }));
  await batches.until('dl', 'Ready', (o) => o.status?.phase === 'Ready');
  const created = await kube.create(backupSession(ns, 'dl-1', 'BackupBatch', 'dl'));
  // Plays a healthy, slow dl-a agent: it keeps renewing, never finishes.
  const renew = setInterval(
    () => void agentHeartbeat(kube, ns, 'BackupSession', created, 'dl-a').catch(() => undefined),
    1_000,
  );
  t.teardown(() => clearInterval(renew));
  const s = await sessions.until('dl-1', 'Failed', (o) => o.status?.phase === 'Failed', 30_000);
  clearInterval(renew);
  t.equal(findCondition(s.status?.conditions, 'DeadlineExceeded')?.status, 'True');
  const [a, b] = [
    findTarget(s.status, deploymentRef(ns, 'dl-a'), ns),
    findTarget(s.status, deploymentRef(ns, 'dl-b'), ns),
  ];
  t.match(
    a,
    { phase: 'Failed', stats: [{ hostname: 'dl-a', phase: 'Failed' }] },
    'the running member and its host are Failed',
  );
  t.match(a?.stats?.[0]?.error, /session deadline \(timeOut 4s\) passed before host dl-a/);
  t.equal(b?.phase, 'Failed', 'the member that never got its turn is Failed, not Pending');
  t.match(
    findCondition(b?.conditions, 'BackupExecutorEnsured')?.message,
    /Not started: the session deadline \(timeOut 4s\) passed/,
  );
  t.ok(allFinal(s.status?.targets), 'no Running or Pending member or host');
  const ev = await until('the Events', async () => {
    const e = await events('dl-1');
    return e.some((x) => x.reason === 'SessionEndedEarly') ? e : undefined;
  });
  t.ok(
    ev.some((e) => e.reason === 'DeadlineExceeded'),
    'DeadlineExceeded Event',
  );
  t.match(
    ev.find((e) => e.reason === 'SessionEndedEarly')?.message,
    /timeOut 4s.*dl-a.*dl-b/,
    'an Event lists what was ended',
  );
});

t.test(
  'a member that reported is kept; a RestoreBatch whose hosts never start ends Failed after the bound; by deadline every member is final',
  async (t) => {
    for (const m of ['rs-a', 'rs-b', 'rd-a', 'rd-b']) await createDeployment(kube, ns, m);
    const rb = (name: string, members: string[], extra: Record<string, unknown> = {}) => ({
      apiVersion: RB,
      kind: 'RestoreBatch',
      metadata: { name, namespace: ns },
      spec: {
        repository: { name: 'repo' },
        executionOrder: 'Sequential',
        members: members.map((m) => ({
          target: {
            alias: m,
            ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: m },
            rules: [{ paths: ['/data'] }],
          },
        })),
        ...extra,
      },
    });
    await kube.create(rb('never', ['rs-a', 'rs-b']));
    const never = await restores.until('never', 'Failed', (o) => o.status?.phase === 'Failed', 40_000);
    t.same(
      never.status?.members?.map((m) => [m.ref.name, m.phase]),
      [
        ['rs-a', 'Failed'],
        ['rs-b', 'Failed'],
      ],
      'both members ran out their turn',
    );
    for (const m of never.status?.members ?? [])
      t.match(
        m.stats?.[0]?.error,
        new RegExp(`no agent took up the session for host ${m.ref.name} .*3s`),
        `${m.ref.name}: the reason`,
      );

    await kube.create(rb('late', ['rd-a', 'rd-b'], { timeOut: '3s' }));
    const late = await restores.until('late', 'Failed', (o) => o.status?.phase === 'Failed', 30_000);
    t.equal(findCondition(late.status?.conditions, 'DeadlineExceeded')?.status, 'True');
    t.ok(
      allFinal(late.status?.members),
      `every member and host final: ${JSON.stringify(late.status?.members?.map((m) => [m.ref.name, m.phase, m.stats?.map((h) => h.phase)]))}`,
    );
    t.ok(
      (await events('late')).some((e) => e.reason === 'DeadlineExceeded'),
      'DeadlineExceeded Event',
    );

    // Backup: a host that reported before the deadline keeps its result.
    await createDeployment(kube, ns, 'ok-a');
    await kube.create(backupBatch(ns, 'okb', ['ok-a'], { timeOut: '3s' }));
    await batches.until('okb', 'Ready', (o) => o.status?.phase === 'Ready');
    await kube.create(backupSession(ns, 'okb-1', 'BackupBatch', 'okb'));
    await sessions.until('okb-1', 'Running', (o) => o.status?.phase === 'Running');
    await agentReportsBackup(kube, ns, 'okb-1', deploymentRef(ns, 'ok-a'), 'ok-a', 'Succeeded');
    const ok = await sessions.until('okb-1', 'Succeeded', (o) => o.status?.phase === 'Succeeded', 20_000);
    t.equal(ok.status?.targets?.[0]?.stats?.[0]?.phase, 'Succeeded', 'a host that reported in time is untouched');
  },
);
