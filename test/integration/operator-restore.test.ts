// The operator's restore loop against a real kube-apiserver + kube-controller-manager: a RestoreBatch of three
// members in Sequential order with global pre/post hooks served by a loopback HTTP server, and a job-model
// RestoreSession served by a restore Job.
// No agent runs here (no kubelet): where the stash-init container would write host stats, the test writes them
// exactly as docs/api.md §16.2 step 7 describes (agentReportsRestore) and says so.
import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { findCondition, mergeRestoreSessionStatus, sameRef } from '../../shared/status/index.ts';
import { useCluster } from '../world/harness.ts';
import {
  Watcher,
  agentReportsRestore,
  createDeployment,
  createRepository,
  deploymentRef,
  podTemplateContainers,
  startOperator,
  until,
  type RestoreBatchObj,
} from '../support/operator-testkit.ts';

const RB = apiVersionOf('RestoreBatch');
const RS = apiVersionOf('RestoreSession');

const cluster = await useCluster(t);
const { kube, namespace: ns } = cluster;
await createRepository(kube, ns);
await startOperator(t, kube, ns);
const batches = await new Watcher<RestoreBatchObj>(kube, RB, 'RestoreBatch', ns).start(t);
const sessions = await new Watcher<KubeObject & { status?: { phase?: string; conditions?: never } }>(
  kube,
  RS,
  'RestoreSession',
  ns,
).start(t);

// Global hooks land here; each call records what the RestoreBatch looked like at that moment.
const calls: Array<{
  path: string;
  body: string;
  members: Array<{ name?: string; ensured?: string; phase?: string }>;
}> = [];
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => {
    body += c.toString('utf8');
  });
  req.on('end', () => {
    void kube.get<RestoreBatchObj>(RB, 'RestoreBatch', ns, 'app').then((rb) => {
      calls.push({
        path: req.url ?? '',
        body,
        members: (rb.status?.members ?? []).map((m) => ({
          name: m.ref.name,
          ensured: findCondition(m.conditions, 'RestoreExecutorEnsured')?.status,
          phase: m.phase,
        })),
      });
      res.writeHead(200).end('ok');
    });
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
t.teardown(() => new Promise<void>((r) => server.close(() => r())));
const port = (server.address() as AddressInfo).port;

t.test('RestoreBatch: global pre hook, three members in Sequential order, global post hook', async (t) => {
  const members = ['app-db', 'app-web', 'app-cache'];
  for (const m of members) await createDeployment(kube, ns, m);
  await kube.create({
    apiVersion: RB,
    kind: 'RestoreBatch',
    metadata: { name: 'app', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      executionOrder: 'Sequential',
      hooks: {
        preRestore: {
          httpPost: {
            host: '127.0.0.1',
            port,
            path: '/pre',
            body: '{"name":"{{ .Name }}","phase":"{{ .Status.Phase }}"}',
          },
        },
        postRestore: { httpGet: { host: '127.0.0.1', port, path: '/post' }, executionPolicy: 'Always' },
      },
      members: members.map((m) => ({
        target: {
          alias: m,
          ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: m },
          rules: [{ paths: ['/data'] }],
        },
      })),
    },
  });
  const ensured = (o: RestoreBatchObj, m: string) =>
    findCondition(
      o.status?.members?.find((x) => sameRef(x.ref, deploymentRef(ns, m), ns))?.conditions,
      'RestoreExecutorEnsured',
    )?.status === 'True';
  let rb = await batches.until('app', 'first member initiated', (o) => ensured(o, 'app-db'));
  t.equal(calls[0]?.path, '/pre', 'the global pre hook ran first');
  t.same(calls[0]?.members, [], 'no member had been touched when the pre hook ran');
  t.same(JSON.parse(calls[0]?.body ?? '{}'), { name: 'app', phase: 'Running' }, 'the hook body template was rendered');
  t.equal(
    findCondition(rb.status?.conditions, 'GlobalPreRestoreHookSucceeded')?.reason,
    'GlobalPreRestoreHookExecutedSuccessfully',
  );
  t.same(
    rb.status?.members?.map((m) => m.phase),
    ['Running', 'Pending', 'Pending'],
    'later members wait their turn',
  );
  const db = await kube.get('apps/v1', 'Deployment', ns, 'app-db');
  t.equal(
    podTemplateContainers(db, 'initContainers')[0],
    'stash-init',
    'stash-init is the first init container of the member',
  );
  t.equal(
    findCondition(rb.status?.members?.[0]?.conditions, 'StashInitContainerInjected')?.reason,
    'InitContainerInjectionSucceeded',
  );
  t.equal(rb.status?.members?.[0]?.totalHosts, 1);

  for (const [i, m] of members.entries()) {
    // Plays the stash-init container of member m.
    await agentReportsRestore(kube, ns, 'app', deploymentRef(ns, m), m, 'Succeeded');
    const next = members[i + 1];
    if (next) {
      rb = await batches.until('app', `${next} initiated`, (o) => ensured(o, next));
      t.ok(
        members.slice(i + 2).every((later) => !ensured(rb, later)),
        `members after ${next} still wait`,
      );
    }
  }
  rb = await batches.until('app', 'Succeeded', (o) => o.status?.phase === 'Succeeded');
  t.same(
    calls.map((c) => c.path),
    ['/pre', '/post'],
    'each global hook ran once',
  );
  t.same(
    calls[1]?.members.map((m) => m.phase),
    ['Succeeded', 'Succeeded', 'Succeeded'],
    'the post hook ran after every member finished',
  );
  t.equal(findCondition(rb.status?.conditions, 'GlobalPostRestoreHookSucceeded')?.status, 'True');
  t.equal(findCondition(rb.status?.conditions, 'MetricsPushed')?.status, 'True');
  t.ok(rb.status?.sessionDuration, 'sessionDuration filled');

  // Deleting the batch takes the init-container out of every member.
  await kube.delete(RB, 'RestoreBatch', ns, 'app');
  for (const m of members) {
    const removed = await until(
      `${m} without stash-init`,
      async () =>
        !podTemplateContainers(await kube.get('apps/v1', 'Deployment', ns, m), 'initContainers').includes('stash-init'),
      10_000,
    );
    t.ok(removed, `${m}: stash-init removed after the RestoreBatch is deleted`);
  }
});

t.test('RestoreSession of a PVC (job model) gets a restore Job and finishes on its report', async (t) => {
  await kube.create({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'data', namespace: ns },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  });
  await kube.create({
    apiVersion: RS,
    kind: 'RestoreSession',
    metadata: { name: 'pvc-restore', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      task: { name: 'pvc-restore' },
      target: {
        ref: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'data' },
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
        rules: [{ snapshots: ['latest'] }],
      },
    },
  });
  const rs = await sessions.until(
    'pvc-restore',
    'executor ensured',
    (o) => findCondition(o.status?.conditions, 'RestoreExecutorEnsured')?.status === 'True',
  );
  t.equal(rs.status?.phase, 'Running');
  t.equal((rs.status as { totalHosts?: number }).totalHosts, 1);
  type JobObj = KubeObject & {
    spec?: {
      template?: {
        spec?: {
          containers?: Array<{ args?: string[] }>;
          volumes?: Array<{ name: string; persistentVolumeClaim?: { claimName: string } }>;
        };
      };
    };
  };
  const job = await kube.get<JobObj>('batch/v1', 'Job', ns, 'stash-restore-pvc-restore-0');
  t.ok(
    job.spec?.template?.spec?.containers?.[0]?.args?.includes('--restore-model=job'),
    'the Job runs the restore agent',
  );
  t.same(
    job.spec?.template?.spec?.volumes?.find((v) => v.name === 'data')?.persistentVolumeClaim,
    { claimName: 'data' },
    'with the target claim mounted',
  );
  // Plays the Job's agent (no kubelet runs its pod here), as docs/api.md §16.2 step 7 describes.
  await kube.update<KubeObject & { status?: Record<string, unknown> }>(
    RS,
    'RestoreSession',
    ns,
    'pvc-restore',
    (cur) => {
      cur.status = mergeRestoreSessionStatus(
        cur.status as never,
        { stats: [{ hostname: 'host-0', phase: 'Succeeded', duration: '1s' }] },
        { creationTimestamp: cur.metadata?.creationTimestamp },
      ) as never;
      return cur;
    },
    { subresource: 'status' },
  );
  const done = await sessions.until('pvc-restore', 'Succeeded', (o) => o.status?.phase === 'Succeeded');
  t.equal(findCondition(done.status?.conditions, 'MetricsPushed')?.status, 'True', 'final only after MetricsPushed');
});
