import t from 'tap';
import { Kube, type KubeObject, type RequestOptions } from './client.ts';
import { KubeError } from '../errors.ts';

// Answers from a script instead of an API server, so the test sees exactly which reads and writes update makes.
class ScriptedKube extends Kube {
  calls: Array<{ method: string; path: string; body?: unknown }> = [];
  #answers: Array<(o: RequestOptions) => unknown>;
  constructor(answers: Array<(o: RequestOptions) => unknown>) {
    super({ server: 'http://127.0.0.1:1', source: { kind: 'in-cluster' } });
    this.#answers = answers;
  }
  override async request<T = unknown>(o: RequestOptions): Promise<T> {
    this.calls.push({ method: o.method ?? 'GET', path: o.path, body: o.body });
    const answer = this.#answers.shift();
    if (!answer) throw new Error(`unexpected ${o.method ?? 'GET'} ${o.path}`);
    return answer(o) as T;
  }
}

const cm = (rv: string, data: Record<string, string> = {}): KubeObject & { data: Record<string, string> } => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'c', namespace: 'ns', resourceVersion: rv },
  data,
});
const conflict = () => {
  throw new KubeError('conflict', 409);
};
const echo = (o: RequestOptions) => o.body;
const mark = (cur: ReturnType<typeof cm>) => ({
  ...cur,
  data: { ...cur.data, seen: cur.metadata?.resourceVersion ?? '' },
});

t.test('update with a current object writes it without reading first', async (t) => {
  const kube = new ScriptedKube([echo]);
  t.teardown(() => kube.close());
  const known = cm('5');
  const out = await kube.update('v1', 'ConfigMap', 'ns', 'c', mark, { subresource: 'status', current: known });
  t.same(
    kube.calls.map((c) => `${c.method} ${c.path}`),
    ['PUT /api/v1/namespaces/ns/configmaps/c/status'],
  );
  t.same(out?.data, { seen: '5' });
  t.same(known.data, {}, "the caller's object is not mutated");
});

t.test('a 409 on the unread write falls back to reads, which alone count against attempts', async (t) => {
  const kube = new ScriptedKube([conflict, () => cm('6'), conflict, () => cm('7'), conflict]);
  t.teardown(() => kube.close());
  await t.rejects(kube.update('v1', 'ConfigMap', 'ns', 'c', mark, { attempts: 2, current: cm('5') }), /conflict/);
  t.same(
    kube.calls.map((c) => c.method),
    ['PUT', 'GET', 'PUT', 'GET', 'PUT'],
  );
});

t.test('a current object without resourceVersion, or of another name, is read first', async (t) => {
  for (const current of [
    { ...cm('5'), metadata: { name: 'c', namespace: 'ns' } },
    { ...cm('5'), metadata: { name: 'd', namespace: 'ns', resourceVersion: '5' } },
  ]) {
    const kube = new ScriptedKube([() => cm('8'), echo]);
    t.teardown(() => kube.close());
    const out = await kube.update('v1', 'ConfigMap', 'ns', 'c', mark, { current });
    t.same(
      kube.calls.map((c) => c.method),
      ['GET', 'PUT'],
    );
    t.same(out?.data, { seen: '8' });
  }
});

t.test('without a current object every attempt reads', async (t) => {
  const kube = new ScriptedKube([() => cm('6'), conflict, () => cm('7'), conflict]);
  t.teardown(() => kube.close());
  await t.rejects(kube.update('v1', 'ConfigMap', 'ns', 'c', mark, { attempts: 2 }), /conflict/);
  t.same(
    kube.calls.map((c) => c.method),
    ['GET', 'PUT', 'GET', 'PUT'],
  );
});

// One attempt per scripted answer, below the retry loop: what request() makes of each failure.
class FlakyKube extends Kube {
  attempts = 0;
  #answers: Array<() => unknown>;
  constructor(answers: Array<() => unknown>, retry: Partial<import('./client.ts').RetryPolicy> = {}) {
    super({ server: 'http://127.0.0.1:1', source: { kind: 'in-cluster' } }, 'test', {
      retry: { initialDelayMs: 1, maxDelayMs: 4, ...retry },
    });
    this.#answers = answers;
  }
  override async requestOnce<T = unknown>(): Promise<T> {
    this.attempts++;
    const answer = this.#answers.shift();
    if (!answer) throw new Error('no more answers');
    return answer() as T;
  }
}
const status = (code: number, retryAfterMs?: number) => () => {
  throw new KubeError(`status ${code}`, code, { retryAfterMs });
};
const unreachable = () => {
  throw new KubeError('connect ECONNREFUSED', undefined);
};

t.test('connection errors, 429 and 5xx are retried until an answer', async (t) => {
  const kube = new FlakyKube([unreachable, status(503), status(429), status(500), () => 'ok']);
  t.equal(await kube.request({ path: '/x' }), 'ok');
  t.equal(kube.attempts, 5);
});

t.test('4xx other than 429 is final at once, 409 included (update handles it)', async (t) => {
  for (const code of [400, 403, 404, 409, 422]) {
    const kube = new FlakyKube([status(code), () => 'ok']);
    const err: unknown = await kube.request({ path: '/x' }).catch((e: unknown) => e);
    t.equal((err as KubeError).status, code);
    t.equal(kube.attempts, 1, `${code}: one attempt`);
  }
});

t.test('retries stop at the cap, and the last error says how many attempts it took', async (t) => {
  const kube = new FlakyKube(
    Array.from({ length: 1000 }, () => unreachable),
    { capMs: 60, initialDelayMs: 5, maxDelayMs: 10 },
  );
  const t0 = Date.now();
  await t.rejects(kube.request({ path: '/x' }), {
    message: /ECONNREFUSED \(still failing after \d+ attempts\)/,
    code: 'KUBE_UNREACHABLE',
  });
  t.ok(Date.now() - t0 < 2000, 'gave up near the cap');
  t.ok(kube.attempts >= 3 && kube.attempts < 100, `attempts: ${kube.attempts}`);
});

t.test('a deadline wins over the cap; a deadline in the past means one attempt', async (t) => {
  const past = new FlakyKube([unreachable, () => 'ok'], { capMs: 60_000, deadline: Date.now() - 1 });
  await t.rejects(past.request({ path: '/x' }), /ECONNREFUSED$/);
  t.equal(past.attempts, 1);
  const ahead = new FlakyKube([unreachable, unreachable, () => 'ok'], { capMs: 0, deadline: Date.now() + 60_000 });
  t.equal(await ahead.request({ path: '/x' }), 'ok');
  t.equal(ahead.attempts, 3);
});

t.test('Retry-After is honoured; an aborted signal stops the retries', async (t) => {
  const kube = new FlakyKube([status(429, 150), () => 'ok']);
  const t0 = Date.now();
  t.equal(await kube.request({ path: '/x' }), 'ok');
  t.ok(Date.now() - t0 >= 140, 'waited what the server asked');
  const stop = new AbortController();
  const stopped = new FlakyKube(
    Array.from({ length: 1000 }, () => unreachable),
    { initialDelayMs: 50, maxDelayMs: 50 },
  );
  setTimeout(() => stop.abort(), 120);
  await t.rejects(stopped.request({ path: '/x', signal: stop.signal }), /ECONNREFUSED/);
  t.ok(stopped.attempts < 10, `attempts: ${stopped.attempts}`);
});

t.test('withRetry makes a view with its own policy on the same pool', async (t) => {
  const base = new Kube({ server: 'http://127.0.0.1:1', source: { kind: 'in-cluster' } });
  const view = base.withRetry({ deadline: 1234 });
  t.equal(view.retry.deadline, 1234);
  t.equal(view.retry.capMs, base.retry.capMs);
  t.equal(base.retry.deadline, undefined);
  view.close();
  base.close();
});

t.test('a real refused connection is retried, then fails as unreachable', async (t) => {
  const kube = new Kube({ server: 'http://127.0.0.1:1', source: { kind: 'in-cluster' } }, 'test', {
    retry: { capMs: 100, initialDelayMs: 10, maxDelayMs: 20 },
  });
  t.teardown(() => kube.close());
  await t.rejects(kube.get('v1', 'ConfigMap', 'ns', 'c'), { code: 'KUBE_UNREACHABLE', message: /attempts/ });
});
