import t from 'tap';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import fastJsonPatch from 'fast-json-patch';
import { createLogger } from '../shared/log.ts';
import {
  backupBatch,
  deployment,
  FIXTURE_DIR,
  loadYaml,
  repository,
  restoreBatch,
  review,
} from '../test/fixtures/reviews/fixtures.ts';
import { buildApp, ROUTES, type AppDeps } from './app.ts';
import { decodePatch, type AdmissionReviewOut } from './admission/review.ts';
import type { BackupInvoker, InvokerIndex, Obj, Repository, RestoreInvoker } from './admission/types.ts';
import { templateWasm } from '../test/backends/bins.ts';

// Hook templates in the fixtures are checked by the real engine (hack/build-bins.sh template).
process.env.STASH_TEMPLATE_WASM = templateWasm();

const INJECT = { image: 'stash-ts/agent:0.1.0', pushgatewayUrl: 'http://pgw:56789', useKubeapiserverFqdnForAks: false };

function index(
  backup: Obj[] = [],
  restore: Obj[] = [],
  repos: Obj[] = [repository()],
): InvokerIndex & { calls: number } {
  const idx = {
    calls: 0,
    backupInvokersFor(w: { name: string }) {
      idx.calls++;
      return backup.filter((b) => JSON.stringify(b.spec).includes(`"name":"${w.name}"`)) as unknown as BackupInvoker[];
    },
    restoreInvokersFor(w: { name: string }) {
      return restore.filter((b) =>
        JSON.stringify(b.spec).includes(`"name":"${w.name}"`),
      ) as unknown as RestoreInvoker[];
    },
    repository(ns: string, name: string) {
      return repos.find((r) => (r.metadata as Obj).namespace === ns && (r.metadata as Obj).name === name) as
        Repository | undefined;
    },
  };
  return idx;
}

/** A destination that keeps each line a logger writes. */
function lineSink(): { lines: string[]; sink: Writable } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, sink };
}

function app(extra: Partial<AppDeps> = {}, idx: InvokerIndex = index([backupBatch()], [restoreBatch()])) {
  return buildApp({ invokers: idx, inject: INJECT, ...extra });
}

async function post(a: ReturnType<typeof app>, url: string, body: unknown) {
  const res = await a.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });
  return { status: res.statusCode, review: res.json() as AdmissionReviewOut };
}

t.test('fixture Deployment CREATE: uid echoed, JSONPatch that yields the sidecar', async (t) => {
  const a = app();
  const fixture = JSON.parse(readFileSync(`${FIXTURE_DIR}/deployment-create.json`, 'utf8')) as {
    request: { uid: string; object: Obj };
  };
  const { status, review: out } = await post(a, ROUTES.mutateWorkload, fixture);
  t.equal(status, 200);
  t.equal(out.apiVersion, 'admission.k8s.io/v1');
  t.equal(out.kind, 'AdmissionReview');
  t.equal(out.response.uid, fixture.request.uid);
  t.equal(out.response.allowed, true);
  t.equal(out.response.patchType, 'JSONPatch');
  const patch = decodePatch(out.response);
  t.ok(patch.length > 0);
  const patched = fastJsonPatch.applyPatch(structuredClone(fixture.request.object), patch, true, false)
    .newDocument as Obj;
  const pod = ((patched.spec as Obj).template as Obj).spec as { containers: Obj[]; initContainers: Obj[] };
  t.same(
    pod.containers.map((c) => c.name),
    ['wordpress', 'stash'],
  );
  t.same(
    pod.initContainers.map((c) => c.name),
    ['stash-init'],
  );
  t.match(pod.containers[1]!.args, [
    'run-backup',
    '--invoker-name=wordpress-backup',
    '--invoker-kind=BackupBatch',
    '--target-name=wordpress',
  ]);
  await a.close();
});

t.test('admitting the patched object again gives no patch', async (t) => {
  const a = app();
  const first = await post(a, ROUTES.mutateWorkload, review('u1', deployment()));
  const patched = fastJsonPatch.applyPatch(deployment(), decodePatch(first.review.response), true, false).newDocument;
  const second = await post(
    a,
    ROUTES.mutateWorkload,
    review('u2', patched, { operation: 'UPDATE', oldObject: patched }),
  );
  t.equal(second.review.response.uid, 'u2');
  t.equal(second.review.response.allowed, true);
  t.equal(second.review.response.patch, undefined, 'patch omitted when empty');
  t.equal(second.review.response.patchType, undefined);
  await a.close();
});

t.test('untargeted workloads, other kinds and DELETE are allowed untouched', async (t) => {
  const a = app({}, index());
  for (const body of [
    review('a', deployment('unrelated')),
    review('b', deployment(), { operation: 'DELETE' }),
    review('c', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'demo' } }),
  ]) {
    const { review: out } = await post(a, ROUTES.mutateWorkload, body);
    t.same(out.response, { uid: (body.request as Obj).uid, allowed: true });
  }
  await a.close();
});

t.test('leftovers of ours on an untargeted workload are removed, however its text spells them', async (t) => {
  const { lines, sink } = lineSink();
  const idx = index([backupBatch()]);
  const a = app({ logger: createLogger({ destination: sink }) }, idx);
  const send = async (text: string) => {
    const res = await a.inject({
      method: 'POST',
      url: ROUTES.mutateWorkload,
      headers: { 'content-type': 'application/json' },
      payload: text,
    });
    return res.json() as AdmissionReviewOut;
  };
  // Injected while wordpress-backup targeted "wordpress"; renamed to "blog", nothing targets it any more.
  const injected = fastJsonPatch.applyPatch(
    deployment(),
    decodePatch((await post(a, ROUTES.mutateWorkload, review('i', deployment()))).review.response),
    true,
    false,
  ).newDocument as Obj;
  const blog = structuredClone(injected);
  (blog.metadata as Obj).name = 'blog';
  const plain = await send(
    JSON.stringify(review('plain', deployment('blog'), { operation: 'UPDATE', oldObject: deployment('blog') })),
  );
  t.same(plain.response, { uid: 'plain', allowed: true });
  const removed = await send(JSON.stringify(review('left', blog, { operation: 'UPDATE', oldObject: blog })));
  t.ok(
    decodePatch(removed.response).some((op) => op.op === 'remove'),
    'leftovers removed',
  );
  // The same, with "stash" spelled with a \u escape wherever it appears: still found and removed.
  const escaped = JSON.stringify(review('escaped', blog, { operation: 'UPDATE', oldObject: blog })).replaceAll(
    'stash',
    'st\\u0061sh',
  );
  t.notOk(escaped.includes('stash'));
  const removedEscaped = await send(escaped);
  t.same(decodePatch(removedEscaped.response), decodePatch(removed.response), 'same patch as for the plain text');
  await a.close();
  const notes = lines
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Obj)
    .filter((l) => l.msg === 'admission')
    .map((l) => [l.uid, l.note]);
  t.same(notes.slice(1), [
    ['plain', 'no invoker targets this workload'],
    ['left', 'backup:removed'],
    ['escaped', 'backup:removed'],
  ]);
});

t.test('a failing invoker index admits the workload with a warning', async (t) => {
  const broken: InvokerIndex = {
    backupInvokersFor() {
      throw new Error('cache exploded');
    },
    restoreInvokersFor: () => [],
    repository: () => undefined,
  };
  const a = app({}, broken);
  const { review: out } = await post(a, ROUTES.mutateWorkload, review('u', deployment()));
  t.equal(out.response.allowed, true);
  t.match(out.response.warnings, [/cache exploded/]);
  await a.close();
});

t.test('validation: valid manifests admitted, invalid ones denied naming the field', async (t) => {
  const a = app();
  for (const doc of loadYaml('valid-batch.yaml')) {
    const { review: out } = await post(a, ROUTES.validateStash, review(`v-${String((doc.metadata as Obj).name)}`, doc));
    t.same(
      out.response,
      { uid: `v-${String((doc.metadata as Obj).name)}`, allowed: true },
      String((doc.metadata as Obj).name),
    );
  }
  for (const doc of loadYaml('invalid.yaml')) {
    const meta = doc.metadata as Obj;
    const { review: out } = await post(a, ROUTES.validateStash, review(`i-${String(meta.name)}`, doc));
    t.equal(out.response.uid, `i-${String(meta.name)}`);
    t.equal(out.response.allowed, false);
    t.equal(out.response.status?.code, 422);
    t.ok(
      out.response.status?.message.includes(String((meta.annotations as Obj)['x-expect'])),
      out.response.status?.message ?? '',
    );
  }
  await a.close();
});

t.test('RestoreSession deprecated rules are moved by /mutate-stash', async (t) => {
  const a = app();
  const rs = {
    apiVersion: 'stash.appscode.com/v1beta1',
    kind: 'RestoreSession',
    metadata: { name: 'r', namespace: 'demo' },
    spec: {
      repository: { name: 'x' },
      target: { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wp' } },
      rules: [{ paths: ['/a'] }],
    },
  };
  const { review: out } = await post(a, ROUTES.mutateStash, review('m', rs));
  const patched = fastJsonPatch.applyPatch(structuredClone(rs), decodePatch(out.response), true, false)
    .newDocument as Obj;
  t.same((patched.spec as Obj).target, {
    ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wp' },
    rules: [{ paths: ['/a'] }],
  });
  t.notOk('rules' in (patched.spec as Obj));
  await a.close();
});

t.test('malformed bodies', async (t) => {
  const a = app();
  const notJson = await a.inject({
    method: 'POST',
    url: ROUTES.mutateWorkload,
    headers: { 'content-type': 'application/json' },
    payload: '{nope',
  });
  t.equal(notJson.statusCode, 400);
  t.match(notJson.json(), { error: 'bad request', message: /not valid JSON/ });
  const noUid = await post(a, ROUTES.validateStash, {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {},
  });
  t.equal(noUid.status, 400);
  const withUid = await post(a, ROUTES.validateStash, {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'x1', operation: 'CREATE' },
  });
  t.equal(withUid.status, 200);
  t.match(withUid.review.response, { uid: 'x1', allowed: false, status: { code: 400, message: /request.kind/ } });
  const wrongType = await a.inject({
    method: 'POST',
    url: ROUTES.mutateWorkload,
    headers: { 'content-type': 'text/plain' },
    payload: JSON.stringify(review('t', deployment())),
  });
  t.equal(wrongType.statusCode, 200, 'content type does not matter');
  const noBody = await a.inject({ method: 'POST', url: ROUTES.mutateWorkload });
  t.equal(noBody.statusCode, 400);
  t.match(noBody.json(), { error: 'bad request' });
  const large = await a.inject({ method: 'POST', url: ROUTES.mutateWorkload, payload: 'x'.repeat(2 * 1024 * 1024) });
  t.equal(
    large.statusCode,
    400,
    "bodies past fastify's 1 MiB default are still read (UPDATE reviews carry two objects)",
  );
  const tiny = buildApp({ invokers: index(), inject: INJECT, bodyLimit: 100 });
  const tooBig = await tiny.inject({ method: 'POST', url: ROUTES.mutateWorkload, payload: 'x'.repeat(200) });
  t.equal(tooBig.statusCode, 413);
  t.match(tooBig.json(), { message: String });
  const missing = await a.inject({ method: 'GET', url: '/nowhere' });
  t.equal(missing.statusCode, 404);
  t.match(missing.json(), { error: 'not found' });
  await a.close();
  await tiny.close();
});

t.test('health and readiness', async (t) => {
  let ready = false;
  const a = app({ ready: () => ready });
  t.equal((await a.inject({ method: 'GET', url: ROUTES.healthz })).statusCode, 200);
  t.equal((await a.inject({ method: 'GET', url: ROUTES.readyz })).statusCode, 503);
  ready = true;
  t.equal((await a.inject({ method: 'GET', url: ROUTES.readyz })).statusCode, 200);
  await a.close();
});

t.test('one info line per admission, without the object', async (t) => {
  const { lines, sink } = lineSink();
  const a = app({ logger: createLogger({ destination: sink }) });
  const d = deployment();
  (d.metadata as Obj).annotations = { secret: 'hunter2' };
  await post(a, ROUTES.mutateWorkload, review('log-1', d));
  await a.close();
  const admission = lines.map((l) => JSON.parse(l) as Obj).filter((l) => l.msg === 'admission');
  t.equal(admission.length, 1);
  t.match(admission[0], { uid: 'log-1', kind: 'Deployment', allowed: true, patched: true, level: 30 });
  t.notOk(lines.join('').includes('hunter2'), 'object content is not logged');
});

t.test('one access line per request, with its outcome, obeying the root level', async (t) => {
  const { lines, sink } = lineSink();
  const log = createLogger({ destination: sink, level: 'warn', name: 'stash-operator' });
  const a = app({ logger: log }, index([backupBatch()]));
  const send = (url: string, body: unknown) =>
    a.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json' },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });
  await send(ROUTES.mutateWorkload, review('quiet', deployment()));
  log.level = 'info';
  const odd = review('odd', deployment('web'));
  (odd.request as Obj).name = 'quote " and \\ é 😀 \u2028';
  // All at once, so several lines are written in one event-loop turn.
  await Promise.all([
    send(ROUTES.mutateWorkload, review('inject', deployment())),
    send(ROUTES.mutateWorkload, odd),
    send(ROUTES.validateStash, review('invalid', loadYaml('invalid.yaml')[0]!)),
    send(ROUTES.validateStash, {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'broken', operation: 'CREATE' },
    }),
    send(ROUTES.mutateWorkload, '{"password": hunter2}'),
  ]);
  await a.close();
  const access = lines
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Obj)
    .filter((l) => l.msg === 'admission');
  t.equal(access.length, 5, 'one line per request after the level was raised, none before');
  t.notOk(
    lines
      .join('')
      .split('\n')
      .some((l) => (l.match(/"name":/g) ?? []).length > 1),
    'no key written twice',
  );
  const byUid = new Map(access.map((l) => [l.uid, l]));
  t.match(byUid.get('inject'), {
    name: 'stash-operator',
    path: ROUTES.mutateWorkload,
    op: 'CREATE',
    kind: 'Deployment',
    ns: 'demo',
    object: 'wordpress',
    outcome: 'patched',
    allowed: true,
    patched: true,
    note: /^backup:BackupBatch\/wordpress-backup/,
    ms: Number,
  });
  t.match(byUid.get('odd'), {
    object: 'quote " and \\ é 😀 \u2028',
    outcome: 'allowed',
    patched: false,
    note: 'no invoker targets this workload',
  });
  t.match(byUid.get('invalid'), { path: ROUTES.validateStash, outcome: 'denied', allowed: false, note: /problem/ });
  t.match(byUid.get('broken'), { outcome: 'errored', allowed: false });
  t.match(
    access.find((l) => l.uid === undefined),
    { path: ROUTES.mutateWorkload, outcome: 'bad request', note: /not valid JSON/ },
  );
  t.notOk(lines.join('').includes('hunter2'), 'a bad body is not quoted in the log');
});

// The access line is written without the root's redaction (app.ts says why). This is the proof that it cannot
// carry a secret past it: every field is a scalar (redact paths match keys, so only top-level keys could match)
// and no key is one the redact paths name; the text of a field is never an object's content.
t.test('the access line has nothing redaction would censor', async (t) => {
  const { lines, sink } = lineSink();
  const a = app({ logger: createLogger({ destination: sink }) });
  const send = (url: string, payload: string) =>
    a.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });
  const d = deployment();
  (d.metadata as Obj).annotations = { password: 'hunter2' };
  const bad = backupBatch();
  (bad.spec as Obj).timeOut = 'hunter2';
  await send(ROUTES.mutateWorkload, JSON.stringify(review('a-1', d)));
  await send(ROUTES.validateStash, JSON.stringify(review('a-2', bad)));
  await send(ROUTES.mutateWorkload, '{"password": "hunter2"');
  await send(ROUTES.mutateWorkload, JSON.stringify({ apiVersion: 'x', request: { uid: 'a-3', password: 'hunter2' } }));
  await a.close();
  const access = lines.map((l) => JSON.parse(l) as Obj).filter((l) => l.msg === 'admission');
  t.equal(access.length, 4, 'one line per request');
  const { REDACT_PATHS } = await import('../shared/log-redact.ts');
  const named = new Set(REDACT_PATHS.filter((p) => !p.includes('*') && !p.includes('.')));
  for (const line of access) {
    for (const [key, value] of Object.entries(line)) {
      t.ok(['string', 'number', 'boolean'].includes(typeof value), `${key} is a scalar`);
      t.notOk(named.has(key), `${key} is not a redacted key`);
    }
  }
  const denied = access.find((l) => l.uid === 'a-2');
  t.match(denied, { outcome: 'denied' }, 'the invalid BackupBatch is denied');
  // A validation message may quote a field's value; Stash specs hold names of Secrets, never their data.
  t.notOk(
    access.some((l) => l.uid !== 'a-2' && JSON.stringify(l).includes('hunter2')),
    'no object or body content in the other lines',
  );
});
