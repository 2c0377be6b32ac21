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

const cm = (rv: string, data: Record<string, string> = {}): KubeObject & { data: Record<string, string> } =>
  ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'ns', resourceVersion: rv }, data });
const conflict = () => { throw new KubeError('conflict', 409); };
const echo = (o: RequestOptions) => o.body;
const mark = (cur: ReturnType<typeof cm>) => ({ ...cur, data: { ...cur.data, seen: cur.metadata?.resourceVersion ?? '' } });

t.test('update with a current object writes it without reading first', async (t) => {
  const kube = new ScriptedKube([echo]);
  t.teardown(() => kube.close());
  const known = cm('5');
  const out = await kube.update('v1', 'ConfigMap', 'ns', 'c', mark, { subresource: 'status', current: known });
  t.same(kube.calls.map((c) => `${c.method} ${c.path}`), ['PUT /api/v1/namespaces/ns/configmaps/c/status']);
  t.same(out?.data, { seen: '5' });
  t.same(known.data, {}, 'the caller\'s object is not mutated');
});

t.test('a 409 on the unread write falls back to reads, which alone count against attempts', async (t) => {
  const kube = new ScriptedKube([conflict, () => cm('6'), conflict, () => cm('7'), conflict]);
  t.teardown(() => kube.close());
  await t.rejects(kube.update('v1', 'ConfigMap', 'ns', 'c', mark, { attempts: 2, current: cm('5') }), /conflict/);
  t.same(kube.calls.map((c) => c.method), ['PUT', 'GET', 'PUT', 'GET', 'PUT']);
});

t.test('a current object without resourceVersion, or of another name, is read first', async (t) => {
  for (const current of [{ ...cm('5'), metadata: { name: 'c', namespace: 'ns' } }, { ...cm('5'), metadata: { name: 'd', namespace: 'ns', resourceVersion: '5' } }]) {
    const kube = new ScriptedKube([() => cm('8'), echo]);
    t.teardown(() => kube.close());
    const out = await kube.update('v1', 'ConfigMap', 'ns', 'c', mark, { current });
    t.same(kube.calls.map((c) => c.method), ['GET', 'PUT']);
    t.same(out?.data, { seen: '8' });
  }
});

t.test('without a current object every attempt reads', async (t) => {
  const kube = new ScriptedKube([() => cm('6'), conflict, () => cm('7'), conflict]);
  t.teardown(() => kube.close());
  await t.rejects(kube.update('v1', 'ConfigMap', 'ns', 'c', mark, { attempts: 2 }), /conflict/);
  t.same(kube.calls.map((c) => c.method), ['GET', 'PUT', 'GET', 'PUT']);
});
