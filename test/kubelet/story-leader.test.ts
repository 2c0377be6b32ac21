// Story on real pods: the operator runs as 2 replicas with leader election (manifests/webhook/operator.yaml). The
// leader's pod is deleted — `kubectl delete pod`, as an admin or a node drain would — while a Sequential
// BackupBatch's first member is still running (its preBackup hook holds it a few seconds); the other replica
// takes the Lease, hands the session on to the second member and finishes it.
import t from 'tap';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { OPERATOR_NAMESPACE } from '../world/operator.ts';
import { until } from '../support/e2e-world.ts';
import {
  appWorkload,
  backupNow,
  finalPhase,
  invokerReady,
  openStory,
  podsWithSidecar,
  type Session,
} from './story-kit.ts';

t.setTimeout(600_000);
const st = await openStory(t, 'leader');
type Event = KubeObject & {
  reason?: string;
  message?: string;
  reportingComponent?: string;
  reportingInstance?: string;
};

const leaseHolder = async () =>
  (
    await st.kube.getOrNull<KubeObject & { spec?: { holderIdentity?: string | null } }>(
      'coordination.k8s.io/v1',
      'Lease',
      OPERATOR_NAMESPACE,
      'stash-operator',
    )
  )?.spec?.holderIdentity ?? undefined;

/** The operator's Events in the story's namespace: which replica said what. */
const operatorEvents = async () =>
  (await st.kube.list<Event>('v1', 'Event', st.ns)).items
    .filter((e) => e.reportingComponent === 'stash-operator')
    .map((e) => ({ reason: e.reason ?? '', message: e.message ?? '', by: e.reportingInstance ?? '' }));

t.test('the leader pod deleted mid-session: the other replica takes over and finishes the session', async (t) => {
  for (const app of ['first', 'second'])
    await st.kube.create(appWorkload('Deployment', st.ns, app, `echo ${app} > /data/name; httpd -f -p 8080 -h /data`));
  const member = (name: string, hooks?: Record<string, unknown>) => ({
    target: {
      alias: name,
      ref: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      paths: ['/data'],
      volumeMounts: [{ name: 'data', mountPath: '/data' }],
    },
    ...(hooks ? { hooks } : {}),
  });
  await st.kube.create({
    apiVersion: apiVersionOf('BackupBatch'),
    kind: 'BackupBatch',
    metadata: { name: 'pair', namespace: st.ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      executionOrder: 'Sequential',
      members: [
        // The first member's hook keeps it running while the leader goes.
        member('first', { preBackup: { containerName: 'app', exec: { command: ['sleep', '12'] } } }),
        member('second'),
      ],
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
    },
  });
  await invokerReady(st, 'BackupBatch', 'pair');
  await podsWithSidecar(st, 'first');
  await podsWithSidecar(st, 'second');

  await backupNow(st, 'pair-1', { kind: 'BackupBatch', name: 'pair' });
  await until(
    'the first member initiated',
    async () => (await operatorEvents()).some((e) => /Initiated backup of Deployment first/.test(e.message)),
    60_000,
  );
  const leader = await leaseHolder();
  t.ok(leader, `the leader is ${leader}`);
  st.kubectl('-n', OPERATOR_NAMESPACE, 'delete', 'pod', leader!, '--wait=false');
  const deletedAt = Date.now();
  const s0 = await st.kube.get<Session>(apiVersionOf('BackupSession'), 'BackupSession', st.ns, 'pair-1');
  t.equal(s0.status?.phase, 'Running', 'the leader went in the middle of the session');
  t.equal(
    s0.status?.targets?.find((x) => x.ref?.name === 'second')?.phase,
    'Pending',
    'the second member was not initiated yet',
    { status: s0.status },
  );

  const next = await until(
    'another replica holds the Lease',
    async () => {
      const h = await leaseHolder();
      return h && h !== leader ? h : undefined;
    },
    60_000,
  );
  t.comment(`${next} took the Lease ${((Date.now() - deletedAt) / 1000).toFixed(1)} s after the delete`);
  const s = await finalPhase<Session>(st, 'BackupSession', 'pair-1');
  t.equal(s.status?.phase, 'Succeeded', 'the session completes', { status: s.status });
  t.same(
    s.status?.targets?.map((x) => [x.ref?.name, x.phase]),
    [
      ['first', 'Succeeded'],
      ['second', 'Succeeded'],
    ],
  );
  const events = await until(
    "the new leader's closing Event",
    async () => {
      const ev = await operatorEvents();
      return ev.some((e) => e.reason === 'BackupSessionSucceeded') ? ev : undefined;
    },
    30_000,
  );
  const by = (re: RegExp) => events.filter((e) => re.test(e.message) || re.test(e.reason)).map((e) => e.by);
  t.same(by(/Initiated backup of Deployment first/), [leader], 'the old leader initiated the first member');
  t.same(by(/Initiated backup of Deployment second/), [next], 'the new leader handed on to the second member');
  t.same(by(/^BackupSessionSucceeded$/), [next], 'and finished the session');
});
