// Sends more than 10,000 malformed or random bodies to every admission route: the server must never crash, and
// every answer must be well-formed (a review echoing the uid, or a 4xx with a JSON body).
import t from 'tap';
import fastJsonPatch from 'fast-json-patch';
import { backupBatch, deployment, loadYaml, repository, restoreBatch, review, statefulSet } from '../test/fixtures/reviews/fixtures.ts';
import { buildApp, ROUTES } from './app.ts';
import { decodePatch, type AdmissionReviewOut } from './admission/review.ts';
import type { BackupInvoker, Obj, Repository, RestoreInvoker } from './admission/types.ts';

// Deterministic, so a failure reproduces.
let seed = 0x5eed1234;
function rand(): number {
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
  return (seed >>> 0) / 0x100000000;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

const ATOMS: unknown[] = [null, true, false, 0, -1, 1.5, 2 ** 53, '', 'x', 'CREATE', 'UPDATE', 'Deployment', 'apps', '__proto__', '😀', [], {}, 'a/b~c'];

function randomValue(depth: number): unknown {
  if (depth <= 0 || rand() < 0.4) return pick(ATOMS);
  if (rand() < 0.5) return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(depth - 1));
  const o: Obj = {};
  for (let i = Math.floor(rand() * 5); i > 0; i--) o[pick(['kind', 'spec', 'metadata', 'name', 'containers', 'template', 'uid', 'members', 'target', 'ref', 'x'])] = randomValue(depth - 1);
  return o;
}

/** Replaces, deletes or retypes one random node of a valid document. */
function corrupt(doc: unknown): unknown {
  const copy = structuredClone(doc) as Obj;
  const steps = Math.floor(rand() * 3); // 0: the valid document itself, as a control
  for (let s = 0; s < steps; s++) {
    let node: unknown = copy;
    let parent: Obj | unknown[] | undefined;
    let key: string | number | undefined;
    for (let d = 0; d < 12 && node !== null && typeof node === 'object' && rand() < 0.85; d++) {
      const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node as Obj);
      if (keys.length === 0) break;
      parent = node as Obj;
      key = pick(keys as Array<string | number>);
      node = (node as Record<string | number, unknown>)[key];
    }
    if (parent === undefined || key === undefined) continue;
    const r = rand();
    if (r < 0.3 && !Array.isArray(parent)) delete (parent as Obj)[key as string];
    else (parent as Record<string | number, unknown>)[key] = randomValue(3);
  }
  return copy;
}

function randomText(): string {
  const alphabet = '{}[]":,0123456789abcdefnulltrue \\\n\u0000é';
  return Array.from({ length: Math.floor(rand() * 200) }, () => pick([...alphabet])).join('');
}

const index = {
  backupInvokersFor: () => [backupBatch()] as unknown as BackupInvoker[],
  restoreInvokersFor: () => [restoreBatch()] as unknown as RestoreInvoker[],
  repository: () => repository() as unknown as Repository,
};

t.test('10,000+ random and malformed bodies: every answer well-formed', async (t) => {
  const app = buildApp({ invokers: index, inject: { image: 'agent:1', pushgatewayUrl: 'http://p', useKubeapiserverFqdnForAks: false } });
  const seeds: unknown[] = [
    review('s1', deployment()), review('s2', statefulSet()),
    review('s3', deployment(), { operation: 'UPDATE', oldObject: deployment() }),
    ...loadYaml('valid-batch.yaml').map((d, i) => review(`v${i}`, d)),
  ];
  const routes = [ROUTES.mutateWorkload, ROUTES.validateStash, ROUTES.mutateStash];
  const N = 10_500;
  const statuses = new Map<number, number>();
  let reviews = 0;
  let patches = 0;
  const problems: string[] = [];
  for (let i = 0; i < N; i++) {
    const r = rand();
    let payload: string;
    let sent: unknown;
    if (r < 0.15) payload = randomText();
    else if (r < 0.3) payload = JSON.stringify(sent = randomValue(5));
    else payload = JSON.stringify(sent = corrupt(rand() < 0.5 ? pick(seeds.slice(0, 3)) : pick(seeds)));
    if (rand() < 0.03) payload = payload.slice(0, Math.floor(rand() * payload.length));
    const url = pick(routes);
    const res = await app.inject({ method: 'POST', url, headers: { 'content-type': pick(['application/json', 'text/plain', 'application/octet-stream']) }, payload });
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    let body: unknown;
    try {
      body = JSON.parse(res.body);
    } catch {
      problems.push(`#${i} ${url}: non-JSON answer ${res.statusCode}: ${res.body.slice(0, 100)}`);
      continue;
    }
    if (res.statusCode === 200) {
      const out = body as AdmissionReviewOut;
      const reqUid = (sent as { request?: { uid?: unknown } } | undefined)?.request?.uid;
      if (out.apiVersion !== 'admission.k8s.io/v1' || out.kind !== 'AdmissionReview' || typeof out.response?.allowed !== 'boolean') {
        problems.push(`#${i} ${url}: not a review: ${res.body.slice(0, 200)}`);
      } else if (out.response.uid !== reqUid) {
        problems.push(`#${i} ${url}: uid ${String(out.response.uid)} != ${String(reqUid)}`);
      } else if (!out.response.allowed && !(out.response.status && typeof out.response.status.message === 'string' && out.response.status.message)) {
        problems.push(`#${i} ${url}: denial without a message`);
      } else if (out.response.patch !== undefined) {
        patches++;
        const object = (sent as { request: { object: unknown } }).request.object;
        try {
          fastJsonPatch.applyPatch(structuredClone(object), decodePatch(out.response), true, false);
        } catch (err) {
          problems.push(`#${i} ${url}: patch does not apply: ${String(err)}`);
        }
      }
      reviews++;
    } else if (res.statusCode < 400 || res.statusCode >= 500 || typeof (body as Obj).message !== 'string') {
      problems.push(`#${i} ${url}: status ${res.statusCode} body ${res.body.slice(0, 200)}`);
    }
  }
  t.same(problems.slice(0, 20), [], 'no malformed answers');
  t.equal([...statuses.values()].reduce((a, b) => a + b, 0), N);
  t.ok(reviews > N / 3, `${reviews} reviews answered`);
  t.ok(patches > 300, `${patches} patches applied cleanly`);
  t.notOk(statuses.has(500), 'never a 500');
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}, reviews ${reviews}, patches ${patches}`);
  await app.close();
});
