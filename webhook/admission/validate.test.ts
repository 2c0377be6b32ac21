import t from 'tap';
import { loadYaml } from '../../test/fixtures/reviews/fixtures.ts';
import { cronProblem, isGoDuration, validateStash, type ValidationContext } from './validate.ts';
import { templateEngine } from '../../shared/template/engine.ts';
import { templateWasm } from '../../test/backends/bins.ts';
import type { Obj, Repository } from './types.ts';

const repos: Repository[] = [
  {
    kind: 'Repository',
    metadata: { name: 'shared', namespace: 'backups' },
    spec: { backend: { gcs: { bucket: 'b' } }, usagePolicy: { allowedNamespaces: { from: 'All' } } },
  },
  {
    kind: 'Repository',
    metadata: { name: 'private', namespace: 'backups' },
    spec: { backend: { gcs: { bucket: 'b' } } },
  },
];
const ctx: ValidationContext = {
  repository: (ns, name) => repos.find((r) => r.metadata?.namespace === ns && r.metadata?.name === name),
};

function check(obj: Obj, operation = 'CREATE', oldObject?: Obj) {
  return validateStash(
    { kind: String(obj.kind), operation, namespace: String((obj.metadata as Obj).namespace), object: obj, oldObject },
    ctx,
  );
}

t.test('manifests written against the documented API pass', async (t) => {
  const docs = loadYaml('valid-batch.yaml');
  t.ok(docs.length >= 10);
  for (const doc of docs) t.same(check(doc), [], `${String(doc.kind)} ${String((doc.metadata as Obj).name)}`);
});

t.test('each invalid manifest is rejected naming the field', async (t) => {
  const docs = loadYaml('invalid.yaml');
  t.ok(docs.length >= 14);
  for (const doc of docs) {
    const meta = doc.metadata as Obj;
    const expect = String((meta.annotations as Obj)['x-expect']);
    const problems = check(doc);
    t.ok(
      problems.some((p) => p.field === expect),
      `${String(meta.name)}: ${expect} in ${JSON.stringify(problems)}`,
    );
  }
});

t.test('duplicate member message names both members', async (t) => {
  const doc = loadYaml('invalid.yaml').find((d) => (d.metadata as Obj).name === 'duplicate-target')!;
  const [p] = check(doc);
  t.equal(p?.field, 'spec.members[1].target.ref');
  t.match(p?.message, /Deployment demo\/wp already targeted by spec\.members\[0\]/);
});

t.test('immutability', async (t) => {
  const bs = {
    apiVersion: 'stash.appscode.com/v1beta1',
    kind: 'BackupSession',
    metadata: { name: 's', namespace: 'demo' },
    spec: { invoker: { apiGroup: 'stash.appscode.com', kind: 'BackupBatch', name: 'b' }, retryLeft: 1 },
  };
  const changed = structuredClone(bs);
  changed.spec.retryLeft = 0;
  t.match(check(changed, 'UPDATE', bs), [{ field: 'spec', message: /immutable/ }]);
  const relabelled = structuredClone(bs) as Obj;
  (relabelled.metadata as Obj).labels = { a: 'b' };
  t.same(check(relabelled, 'UPDATE', bs), [], 'metadata may change');
  // Key order is not a change.
  const reordered = {
    ...bs,
    spec: { retryLeft: 1, invoker: { name: 'b', kind: 'BackupBatch', apiGroup: 'stash.appscode.com' } },
  };
  t.same(check(reordered, 'UPDATE', bs), []);

  for (const kind of ['RestoreSession', 'RestoreBatch']) {
    const rs = loadYaml('valid-batch.yaml').find((d) => d.kind === kind)!;
    const edited = structuredClone(rs);
    (edited.spec as Obj).timeOut = '5m';
    t.match(check(edited, 'UPDATE', rs), [{ field: 'spec' }], `${kind} spec immutable`);
  }

  const bc = loadYaml('valid-batch.yaml').find((d) => d.kind === 'BackupConfiguration')!;
  const ready = { ...structuredClone(bc), status: { phase: 'Ready' } };
  const retarget = structuredClone(bc);
  (((retarget.spec as Obj).target as Obj).ref as Obj).name = 'other';
  t.same(check(retarget, 'UPDATE', ready), [], 'target may change while Ready (the invoker loop moves the sidecar)');
  t.same(check(retarget, 'UPDATE', bc), [], 'target may change while not Ready');
  const repaused = structuredClone(bc);
  (repaused.spec as Obj).paused = false;
  t.same(check(repaused, 'UPDATE', ready), [], 'other fields may change while Ready');

  const bb = loadYaml('valid-batch.yaml').find((d) => d.kind === 'BackupBatch')!;
  const bbReady = { ...structuredClone(bb), status: { phase: 'Ready' } };
  const bbRetarget = structuredClone(bb);
  ((((bbRetarget.spec as Obj).members as Obj[])[1]!.target as Obj).ref as Obj).name = 'x';
  t.same(check(bbRetarget, 'UPDATE', bbReady), [], 'a member target may change while Ready');
});

t.test('repository usage policy across namespaces', async (t) => {
  const bb = loadYaml('valid-batch.yaml').find((d) => d.kind === 'BackupBatch')!;
  const shared = structuredClone(bb);
  (shared.spec as Obj).repository = { name: 'shared', namespace: 'backups' };
  t.same(check(shared), []);
  const priv = structuredClone(bb);
  (priv.spec as Obj).repository = { name: 'private', namespace: 'backups' };
  t.match(check(priv), [{ field: 'spec.repository.namespace', message: /only from its own namespace/ }]);
  const unknown = structuredClone(bb);
  (unknown.spec as Obj).repository = { name: 'nope', namespace: 'backups' };
  t.same(check(unknown), [], "an unknown Repository is the operator's to report");
});

t.test('all problems are reported at once', async (t) => {
  const bad = {
    kind: 'BackupBatch',
    metadata: { name: 'x', namespace: 'demo' },
    spec: {
      schedule: 'nope',
      members: [{ target: { ref: { kind: 'Deployment' } } }],
      retentionPolicy: { keepLast: -1 },
      timeOut: '1d',
      executionOrder: 'Random',
    },
  };
  const fields = check(bad)
    .map((p) => p.field)
    .sort();
  t.same(fields, [
    'spec.executionOrder',
    'spec.members[0].target.ref.name',
    'spec.repository',
    'spec.retentionPolicy',
    'spec.retentionPolicy.keepLast',
    'spec.retentionPolicy.name',
    // From the schema alone: Stash's RetentionPolicy.prune has no omitempty.
    'spec.retentionPolicy.prune',
    'spec.schedule',
    'spec.timeOut',
  ]);
});

t.test('the schema is checked too: wrong types and unknown fields are named', async (t) => {
  const bc = loadYaml('valid-batch.yaml').find((d) => d.kind === 'BackupConfiguration')!;
  const bad = structuredClone(bc);
  const target = (bad.spec as Obj).target as Obj;
  target.paths = ['/data', 7];
  target.unknownKnob = true;
  (bad.spec as Obj).paused = 'yes';
  const problems = check(bad);
  t.match(problems, [
    { field: 'spec.paused', message: 'must be true or false' }, // the rule's message wins over the schema's
  ]);
  t.ok(
    problems.some((p) => p.field === 'spec.target.paths[1]'),
    JSON.stringify(problems),
  );
  t.ok(
    problems.some((p) => p.field === 'spec.target.unknownKnob' && /unknown field/.test(p.message)),
    JSON.stringify(problems),
  );
  t.equal(new Set(problems.map((p) => p.field)).size, problems.length, 'each field named once');
});

t.test('garbage never throws', async (t) => {
  const samples: unknown[] = [
    null,
    1,
    'x',
    [],
    { spec: 5 },
    { spec: { members: 'x' } },
    { spec: { members: [null, 1, { target: [] }] } },
    { spec: { retentionPolicy: [], hooks: { preBackup: 'x' }, target: { rules: [null, { targetHosts: 'a' }] } } },
  ];
  for (const kind of [
    'Repository',
    'BackupConfiguration',
    'BackupBatch',
    'BackupSession',
    'RestoreSession',
    'RestoreBatch',
  ]) {
    for (const object of samples) {
      t.doesNotThrow(() => validateStash({ kind, operation: 'CREATE', object }, ctx));
      t.doesNotThrow(() => validateStash({ kind, operation: 'UPDATE', object, oldObject: object }, ctx));
    }
  }
  t.same(validateStash({ kind: 'Repository', operation: 'DELETE', object: null }, ctx), [], 'DELETE is not checked');
  t.match(validateStash({ kind: 'Repository', operation: 'CREATE', object: { metadata: {} } }, ctx), [
    { field: 'spec' },
  ]);
});

t.test('cron schedules as CronJobs accept them', async (t) => {
  for (const ok of ['*/5 * * * *', '0 0 * * 0', '@daily', '@midnight', '@every 1h30m', '15 2 1-7 * MON'])
    t.equal(cronProblem(ok), undefined, ok);
  for (const bad of ['', '* * * *', '0 0 0 * * *', '61 * * * *', 'TZ=UTC 0 0 * * *', '@every 1d', '@sometimes'])
    t.type(cronProblem(bad), 'string', bad);
});

t.test('Go durations', async (t) => {
  for (const ok of ['30s', '10m', '1h30m', '1.5h', '0', '300ms']) t.ok(isGoDuration(ok), ok);
  for (const bad of ['1d', '', 'h', '10']) t.notOk(isGoDuration(bad), bad);
});

t.test('a hook template that Go cannot parse is rejected naming the hook and the field', async (t) => {
  const engine = await templateEngine(templateWasm());
  const withTemplates: ValidationContext = { ...ctx, templateError: (text) => engine.parseError(text) };
  const bc = (hooks: Obj): Obj => ({
    apiVersion: 'stash.appscode.com/v1beta1',
    kind: 'BackupConfiguration',
    metadata: { name: 'b', namespace: 'backups' },
    spec: {
      repository: { name: 'private' },
      schedule: '@daily',
      target: { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'd' }, paths: ['/data'] },
      retentionPolicy: { name: 'keep', keepLast: 3, prune: true },
      hooks,
    },
  });
  const problems = (hooks: Obj) =>
    validateStash({ kind: 'BackupConfiguration', operation: 'CREATE', object: bc(hooks) }, withTemplates);
  t.same(
    problems({
      postBackup: {
        httpPost: { port: 80, body: '{{- $msg := dict "text" .Name -}}{{ toJson $msg }}' },
        executionPolicy: 'Always',
      },
    }),
    [],
    'a sprig template parses',
  );
  t.match(problems({ postBackup: { httpPost: { port: 80, body: '{"text": "{{ .Name"}' } } }), [
    {
      field: 'spec.hooks.postBackup.httpPost.body',
      message: /is not a valid Go template: template: hook-template:1: bad character/,
    },
  ]);
  t.match(problems({ preBackup: { exec: { command: ['sh', '-c', 'echo {{ nosuch .Name }}'] } } }), [
    { field: 'spec.hooks.preBackup.exec.command[2]', message: /function "nosuch" not defined/ },
  ]);
});

t.test('target refs follow the one rule of docs/api.md §2.1', async (t) => {
  const batch = (refs: Obj[]) => ({
    kind: 'BackupBatch',
    metadata: { name: 'x', namespace: 'demo' },
    spec: {
      repository: { name: 'r' },
      retentionPolicy: { name: 'k', keepLast: 1, prune: true },
      members: refs.map((ref) => ({ target: { ref } })),
    },
  });
  const wp = (apiVersion: string) => ({ apiVersion, kind: 'Deployment', name: 'wp' });
  t.same(check(batch([wp('extensions/v1beta1')])), [], 'an older group of the kind is accepted');
  t.match(check(batch([wp('batch/v1')])), [
    { field: 'spec.members[0].target.ref.apiVersion', message: /served by apps or extensions, not by batch\/v1/ },
  ]);
  t.match(
    check(batch([wp('apps/v1'), wp('extensions/v1beta1')])),
    [{ field: 'spec.members[1].target.ref', message: /already targeted by spec\.members\[0\]/ }],
    'two spellings of one Deployment are one target',
  );
  t.match(check(batch([wp('apps/v1'), { kind: 'Deployment', name: 'wp' }])), [{ field: 'spec.members[1].target.ref' }]);
});

t.test('spec.wipeOut: accepted on s3 and rest, rejected elsewhere naming the field and the backend', async (t) => {
  const repo = (backend: Obj, wipeOut = true): Obj => ({
    apiVersion: 'stash.appscode.com/v1alpha1',
    kind: 'Repository',
    metadata: { name: 'r', namespace: 'demo' },
    spec: { wipeOut, backend: { ...backend, storageSecretName: 's' } },
  });
  t.same(check(repo({ s3: { endpoint: 'http://minio:9000', bucket: 'b', prefix: 'p' } })), [], 's3');
  t.same(check(repo({ rest: { url: 'http://rest:8000/repo' } })), [], 'rest');
  for (const [name, backend, why] of [
    ['local', { local: { mountPath: '/repo', hostPath: { path: '/data' } } }, /only a pod that mounts it/],
    ['b2', { b2: { bucket: 'b' } }, /as in Stash/],
    ['gcs', { gcs: { bucket: 'b' } }, /cannot delete data from a gcs backend/],
    ['azure', { azure: { container: 'c' } }, /azure/],
    ['swift', { swift: { container: 'c' } }, /swift/],
  ] as const) {
    const problems = check(repo(backend as Obj));
    t.equal(problems.length, 1, name);
    t.equal(problems[0]?.field, 'spec.wipeOut', `${name}: the field`);
    t.match(problems[0]?.message, new RegExp(`not supported for the ${name} backend`), `${name}: the backend`);
    t.match(problems[0]?.message, why, `${name}: why`);
    t.same(check(repo(backend as Obj, false)), [], `${name}: false is fine`);
  }
  // An update that leaves the spec alone (the operator adding or removing its finalizer) is admitted even when
  // the spec would be refused today: the object was created while the webhook was down or before the rule.
  const old = repo({ local: { mountPath: '/repo', hostPath: { path: '/data' } } });
  const next = { ...old, metadata: { name: 'r', namespace: 'demo', finalizers: ['stash'] } };
  t.same(check(next, 'UPDATE', old), [], 'finalizer update admitted');
  const changed = { ...next, spec: { ...(old.spec as Obj), usagePolicy: {} } };
  t.equal(check(changed, 'UPDATE', old)[0]?.field, 'spec.wipeOut', 'a spec change is checked again');
});
