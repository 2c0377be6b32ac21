// Pure pieces of the control loops: invoker phase (docs/api.md §14.8), trigger CronJob (§14.2), hook helpers (§2.10),
// label selectors and the work queue's ordering guarantees.
import t from 'tap';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../shared/log.ts';
import { cond, executionModel, selectorMatches, workloadSelector } from './common.ts';
import { membersOf } from '../../shared/api/target.ts';
import type { BackupBatch, BackupConfiguration, Invoker } from '../../shared/api/types.ts';
import { executeHook, postHookAllowed } from './hooks.ts';
import { templateWasm } from '../../test/backends/bins.ts';
import { backupInvokerPhase, buildTriggerCronJob, cronJobName } from './invoker.ts';
import { WorkQueue } from './queue.ts';
import { until } from '../../test/support/until.ts';

// Hook templates render on the real engine (hack/build-bins.sh template).
process.env.STASH_TEMPLATE_WASM = templateWasm();

t.test('backupInvokerPhase follows docs/api.md §14.8', async (t) => {
  const T = (type: Parameters<typeof cond>[0]) => cond(type, 'True', '');
  const F = (type: Parameters<typeof cond>[0]) => cond(type, 'False', '');
  const U = (type: Parameters<typeof cond>[0]) => cond(type, 'Unknown', '');
  const all = [T('RepositoryFound'), T('BackendSecretFound'), T('ValidationPassed'), T('CronJobCreated')];
  const rows: Array<[string, ReturnType<typeof cond>[], string, string?]> = [
    ['everything True', all, 'Ready'],
    ['no conditions yet', [], 'NotReady'],
    ['repository missing', [F('RepositoryFound'), T('ValidationPassed'), T('CronJobCreated')], 'NotReady'],
    [
      'secret unknown',
      [T('RepositoryFound'), U('BackendSecretFound'), T('ValidationPassed'), T('CronJobCreated')],
      'NotReady',
    ],
    [
      'validation failed',
      [T('RepositoryFound'), T('BackendSecretFound'), F('ValidationPassed'), T('CronJobCreated')],
      'Invalid',
    ],
    [
      'CronJob failed',
      [T('RepositoryFound'), T('BackendSecretFound'), T('ValidationPassed'), F('CronJobCreated')],
      'NotReady',
    ],
    ['Restic without repository conditions', [T('ValidationPassed'), T('CronJobCreated')], 'NotReady'],
    [
      'VolumeSnapshotter needs no repository',
      [T('ValidationPassed'), T('CronJobCreated')],
      'Ready',
      'VolumeSnapshotter',
    ],
  ];
  for (const [name, conds, want, driver] of rows) t.equal(backupInvokerPhase(conds, driver), want, name);
});

t.test('cond picks the docs/api.md §10 reason for the status', async (t) => {
  t.equal(cond('RepositoryFound', 'True', '').reason, 'RepositoryAvailable');
  t.equal(cond('RepositoryFound', 'False', '').reason, 'RepositoryNotAvailable');
  t.equal(cond('RepositoryFound', 'Unknown', '').reason, 'UnableToCheckRepositoryAvailability');
  t.equal(cond('BackupExecutorEnsured', 'False', 'x').severity, 'Error');
  t.equal(cond('DeadlineExceeded', 'True', '').reason, 'FailedToCompleteWithinDeadline');
});

const batch: BackupBatch = {
  apiVersion: 'stash.appscode.com/v1beta1',
  kind: 'BackupBatch',
  metadata: { name: 'wp.prod', namespace: 'shop', uid: 'u-1', labels: { team: 'a' } },
  spec: {
    schedule: '*/5 * * * *',
    paused: true,
    retentionPolicy: { name: 'keep-last', keepLast: 5, prune: true },
    runtimeSettings: {
      pod: { nodeSelector: { disk: 'ssd' } },
      container: { resources: { limits: { cpu: '100m' } }, nice: { adjustment: 5 } },
    },
    members: [
      { target: { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wp' } } },
      {
        task: { name: 'pvc-backup' },
        target: { ref: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'data' } },
      },
      { target: { ref: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', namespace: 'other' } } },
    ],
  },
};

t.test('trigger CronJob per docs/api.md §14.2', async (t) => {
  const cj = buildTriggerCronJob(batch, 'reg/agent:1') as any;
  t.equal(cj.metadata.name, 'stash-trigger-wp-prod', 'dots become dashes');
  t.same(cj.metadata.ownerReferences, [
    {
      apiVersion: 'stash.appscode.com/v1beta1',
      kind: 'BackupBatch',
      name: 'wp.prod',
      uid: 'u-1',
      controller: true,
      blockOwnerDeletion: true,
    },
  ]);
  t.equal(cj.metadata.labels['app.kubernetes.io/component'], 'stash-backup');
  t.equal(cj.metadata.labels.team, 'a', 'invoker labels carried');
  t.equal(cj.spec.suspend, true, 'paused suspends');
  t.equal(cj.spec.jobTemplate.metadata.labels['stash.appscode.com/delete-job-on-completion'], 'true');
  const pod = cj.spec.jobTemplate.spec.template.spec;
  t.equal(pod.restartPolicy, 'Never');
  t.equal(pod.serviceAccountName, 'stash-trigger-wp-prod', 'own service account by default');
  t.same(pod.nodeSelector, { disk: 'ssd' }, 'pod runtime settings applied');
  t.same(
    pod.containers[0],
    {
      name: 'stash-trigger',
      image: 'reg/agent:1',
      imagePullPolicy: 'IfNotPresent',
      args: ['create-backupsession', '--invoker-name=wp.prod', '--invoker-kind=BackupBatch'],
      resources: { limits: { cpu: '100m' } },
      securityContext: {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      },
    },
    'only resources/env/envFrom/securityContext of the container settings; restricted by default (docs/api.md §13.5)',
  );
  t.equal(
    cronJobName({ ...batch, metadata: { ...batch.metadata, name: 'x'.repeat(80) } }).length,
    52,
    'at most 52 characters',
  );
  const bc = {
    kind: 'BackupConfiguration',
    metadata: { name: 'm', namespace: 'a' },
    spec: { target: { ref: { kind: 'AppBinding', name: 'db', namespace: 'b' } } },
  } as BackupConfiguration;
  t.equal(cronJobName(bc), 'stash-trigger-b-m', 'target in another namespace is part of the name');
});

t.test('members and execution model (docs/api.md §12)', async (t) => {
  const ms = membersOf(batch);
  t.same(
    ms.map((m) => m.ref.namespace),
    ['shop', 'shop', 'other'],
    'namespace defaults to the invoker',
  );
  t.same(
    ms.map((m) => executionModel(batch, m).model),
    ['workload', 'job', 'workload'],
  );
  const vs = executionModel({ ...batch, spec: { ...batch.spec, driver: 'VolumeSnapshotter' } }, ms[0]!);
  t.match(vs, { model: 'unsupported', reason: /VolumeSnapshotter/ });
  const db: Invoker = {
    kind: 'RestoreBatch',
    metadata: { name: 'r', namespace: 'shop' },
    spec: {
      members: [
        { target: { ref: { apiVersion: 'appcatalog.appscode.com/v1alpha1', kind: 'AppBinding', name: 'mysql' } } },
        { target: { volumeClaimTemplates: [{ metadata: { name: 'data-${POD_ORDINAL}' }, spec: {} }] } },
        { target: { ref: { kind: 'Service', name: 'x' } } },
      ],
    },
  };
  t.same(
    membersOf(db).map((m) => executionModel(db, m).model),
    ['job', 'job', 'unsupported'],
    'databases and volumeClaimTemplates run in Jobs',
  );
});

t.test('label selectors', async (t) => {
  const labels = { app: 'x', tier: 'db' };
  t.ok(selectorMatches({ matchLabels: { app: 'x' } }, labels));
  t.notOk(selectorMatches({ matchLabels: { app: 'y' } }, labels));
  t.ok(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['db', 'cache'] }] }, labels));
  t.notOk(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] }, labels));
  t.notOk(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, labels));
  t.ok(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, labels));
  t.notOk(selectorMatches(undefined, labels), 'no selector matches nothing');
  // OpenShift's DeploymentConfig names its pods by a plain label map.
  const dc = { apiVersion: 'apps.openshift.io/v1', kind: 'DeploymentConfig', spec: { selector: { app: 'y' } } };
  t.same(workloadSelector(dc as never), { matchLabels: { app: 'y' } });
  t.notOk(selectorMatches(workloadSelector(dc as never), labels), "a DeploymentConfig's map selects only its pods");
  t.ok(selectorMatches(workloadSelector({ ...dc, spec: { selector: { app: 'x' } } } as never), labels));
  const d = { kind: 'Deployment', spec: { selector: { matchLabels: { app: 'x' } } } };
  t.same(workloadSelector(d as never), { matchLabels: { app: 'x' } }, 'other kinds: their LabelSelector');
});

t.test('hook helpers', async (t) => {
  t.ok(postHookAllowed(undefined, 'Failed'), 'Always by default');
  t.ok(postHookAllowed('OnSuccess', 'Succeeded'));
  t.notOk(postHookAllowed('OnSuccess', 'Failed'));
  t.ok(postHookAllowed('OnFailure', 'Failed'));
  t.notOk(postHookAllowed('OnFinalRetryFailure', 'Failed', 1), 'retries left');
  t.ok(postHookAllowed('OnFinalRetryFailure', 'Failed', 0));
});

t.test('httpPost, httpGet and tcpSocket hooks against a loopback server', async (t) => {
  const seen: Array<{ method?: string; url?: string; body: string; type?: string }> = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, body, type: req.headers['content-type'] });
      if (req.url === '/slow') return; // never answers
      res.writeHead(req.url === '/bad' ? 500 : 204).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    srv.closeAllConnections();
    srv.close();
  });
  const port = (srv.address() as { port: number }).port;
  const ctx = {
    kube: undefined as never,
    timeoutMs: 500,
    summary: {
      Name: 'n',
      Namespace: 'ns',
      Invoker: { APIGroup: 'g', Kind: 'K', Name: 'i' },
      Status: { Phase: 'Succeeded' },
    },
  };
  t.match(await executeHook({ httpGet: { port, path: 'ok' } }, ctx), /returned 204/);
  await executeHook(
    {
      httpPost: {
        port,
        path: '/p',
        body: '{"p":"{{ .Status.Phase }}"}',
        httpHeaders: [{ name: 'content-type', value: 'application/json' }],
      },
    },
    ctx,
  );
  await executeHook({ httpPost: { port: String(port), path: '/f', form: [{ key: 'a', values: ['1', '2'] }] } }, ctx);
  t.same(
    seen.slice(1).map((s) => [s.url, s.body, s.type]),
    [
      ['/p', '{"p":"Succeeded"}', 'application/json'],
      ['/f', 'a=1&a=2', 'application/x-www-form-urlencoded'],
    ],
  );
  await t.rejects(executeHook({ httpGet: { port, path: '/bad' } }, ctx), /returned 500/);
  await t.rejects(executeHook({ httpGet: { port, path: '/slow' } }, ctx), /timed out after 500 ms/);
  t.match(await executeHook({ tcpSocket: { port } }, ctx), /is open/);
  await t.rejects(executeHook({}, ctx), /none of exec/);
});

t.test('work queue: one run per key at a time, coalescing, timers', async (t) => {
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const log = createLogger({ level: 'silent' });
  const runs: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const q = new WorkQueue(
    async (key) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      runs.push(key);
      await sleep(30);
      inFlight--;
    },
    { name: 'test', log, signal: ac.signal, concurrency: 4 },
  );
  q.add('a');
  q.add('a'); // already queued: dropped
  await sleep(5);
  q.add('a'); // running: one rerun afterwards
  q.add('a');
  q.add('b');
  await sleep(300);
  t.same(runs.filter((k) => k === 'a').length, 2, 'coalesced to one rerun');
  t.equal(runs.filter((k) => k === 'b').length, 1);
  runs.length = 0;
  const t0 = Date.now();
  q.addAfter('c', 80);
  q.addAfter('c', 500); // later timer does not replace an earlier one
  while (!runs.includes('c')) await sleep(5);
  t.ok(Date.now() - t0 >= 75 && Date.now() - t0 < 450, 'ran at the earlier time, not the later one');
  let fails = 0;
  const q2 = new WorkQueue(
    async () => {
      if (fails++ < 2) throw new Error('boom');
    },
    { name: 'retry', log, signal: ac.signal, backoffInitialMs: 10 },
  );
  q2.add('x');
  await until('three failed runs', () => fails >= 3, { timeoutMs: 2_000, everyMs: 10 });
  t.equal(fails, 3, 'a failing key is retried with backoff until it succeeds');
  t.ok(maxInFlight <= 2, 'distinct keys may run together, a key never twice');
});
