// Sends more than 10,000 malformed or random bodies to every admission route: the server must never crash, every
// answer must be well-formed (a review echoing the uid, or a 4xx with a JSON body), and every answer must equal the
// decision taken here from the whole body decoded with JSON.parse (the decision functions called directly, not the
// handlers), for targeted and untargeted workloads alike.
import t from 'tap';
import fastJsonPatch from 'fast-json-patch';
import { GROUP } from '../shared/api/constants.ts';
import {
  backupBatch,
  daemonSet,
  deployment,
  loadYaml,
  repository,
  restoreBatch,
  review,
  statefulSet,
} from '../test/fixtures/reviews/fixtures.ts';
import { buildApp, ROUTES } from './app.ts';
import { migrateRestoreRules, mutateWorkload } from './admission/mutate.ts';
import { sameTarget, workloadGroup } from '../shared/api/target.ts';
import type { Invoker } from '../shared/api/types.ts';
import { decodePatch, parseReview, type AdmissionRequest, type AdmissionReviewOut } from './admission/review.ts';
import type { BackupInvoker, InvokerIndex, Obj, Repository, RestoreInvoker, WorkloadRef } from './admission/types.ts';
import { validateStash } from './admission/validate.ts';
import { templateEngine } from '../shared/template/engine.ts';
import { templateWasm } from '../test/backends/bins.ts';
import { targetRefsOf } from './invoker-index.ts';
import { isRecord } from '../shared/is-record.ts';

// Deterministic, so a failure reproduces.
let seed = 0x5eed1234;
function rand(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 0x100000000;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

const ATOMS: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  2 ** 53,
  '',
  'x',
  'CREATE',
  'UPDATE',
  'Deployment',
  'apps',
  '__proto__',
  '😀',
  [],
  {},
  'a/b~c',
];

function randomValue(depth: number): unknown {
  if (depth <= 0 || rand() < 0.4) return pick(ATOMS);
  if (rand() < 0.5) return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(depth - 1));
  const o: Obj = {};
  for (let i = Math.floor(rand() * 5); i > 0; i--)
    o[pick(['kind', 'spec', 'metadata', 'name', 'containers', 'template', 'uid', 'members', 'target', 'ref', 'x'])] =
      randomValue(depth - 1);
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

const INJECT = { image: 'agent:1', pushgatewayUrl: 'http://p', useKubeapiserverFqdnForAks: false };

// Like the informer index: an invoker is returned for the workloads its refs name, so most workloads are untargeted.
const names = (inv: Obj, w: WorkloadRef) => targetRefsOf(inv as Invoker).some((r) => sameTarget(r, w));
const backups = [backupBatch()];
const restores = [restoreBatch()];
// Hook templates are checked by the real engine, in the app (through STASH_TEMPLATE_WASM) and in the reference.
process.env.STASH_TEMPLATE_WASM = templateWasm();
const engine = await templateEngine();

const index: InvokerIndex = {
  backupInvokersFor: (w) => backups.filter((b) => names(b, w)) as unknown as BackupInvoker[],
  restoreInvokersFor: (w) => restores.filter((r) => names(r, w)) as unknown as RestoreInvoker[],
  repository: (ns, name) =>
    ns === 'demo' && name === 'gcs-repo' ? (repository() as unknown as Repository) : undefined,
};

/** Workload reviews decided with no invoker naming the workload. */
let decidedUntargeted = 0;

/** An answer's response reduced to what a decision determines: allowed, the patch, a denial's code. */
interface Decided {
  uid: string;
  allowed: boolean;
  patch: fastJsonPatch.Operation[] | undefined;
  code: number | undefined;
}

/** What the answer must be, decided from JSON.parse of the whole body: an HTTP status, or the review's response. */
function expected(url: string, payload: string): { status: 400 } | { status: 200; response: Decided } {
  let body: unknown;
  try {
    body = JSON.parse(payload);
  } catch {
    return { status: 400 };
  }
  const parsed = parseReview(body);
  if (!parsed.ok)
    return parsed.uid === undefined
      ? { status: 400 }
      : { status: 200, response: { uid: parsed.uid, allowed: false, patch: undefined, code: 400 } };
  const r: AdmissionRequest = parsed.request;
  const allow = (ops?: fastJsonPatch.Operation[]) => ({
    status: 200 as const,
    response: { uid: r.uid, allowed: true, patch: ops && ops.length > 0 ? ops : undefined, code: undefined },
  });
  const write = r.operation === 'CREATE' || r.operation === 'UPDATE';
  if (url === ROUTES.mutateWorkload) {
    if (!write || workloadGroup(r.kind.kind) !== r.kind.group || !isRecord(r.object)) return allow();
    const meta = isRecord(r.object.metadata) ? r.object.metadata : {};
    const w: WorkloadRef = {
      apiVersion: typeof r.object.apiVersion === 'string' ? r.object.apiVersion : `${r.kind.group}/${r.kind.version}`,
      kind: r.kind.kind,
      name: typeof meta.name === 'string' ? meta.name : (r.name ?? ''),
      namespace: typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : (r.namespace ?? ''),
    };
    const backup = index.backupInvokersFor(w);
    const restore = index.restoreInvokersFor(w);
    if (backup.length === 0 && restore.length === 0) decidedUntargeted++;
    const result = mutateWorkload(r.object, { backup, restore, repository: index.repository }, INJECT, {
      namespace: w.namespace,
    });
    return 'skip' in result ? allow() : allow(fastJsonPatch.compare(r.object, result.mutated));
  }
  if (r.kind.group !== GROUP) return allow();
  if (url === ROUTES.mutateStash) {
    const migrated =
      write && isRecord(r.object) && r.kind.kind === 'RestoreSession' ? migrateRestoreRules(r.object) : undefined;
    return allow(migrated && fastJsonPatch.compare(r.object!, migrated));
  }
  const problems = validateStash(
    { kind: r.kind.kind, operation: r.operation, namespace: r.namespace, object: r.object, oldObject: r.oldObject },
    { repository: (ns, name) => index.repository(ns, name), templateError: (text) => engine.parseError(text) },
  );
  return problems.length === 0
    ? allow()
    : { status: 200, response: { uid: r.uid, allowed: false, patch: undefined, code: 422 } };
}

t.test('10,000+ random and malformed bodies: every answer well-formed', async (t) => {
  const app = buildApp({ invokers: index, inject: INJECT });
  // Targeted workloads (CREATE, UPDATE with oldObject, restore targets), untargeted ones, and a workload that still
  // carries our sidecar though nothing targets it any more.
  const injected = fastJsonPatch.applyPatch(
    deployment(),
    fastJsonPatch.compare(
      deployment(),
      (
        mutateWorkload(
          deployment(),
          { backup: backups as unknown as BackupInvoker[], restore: [], repository: index.repository },
          INJECT,
        ) as { mutated: Obj }
      ).mutated,
    ),
    false,
    false,
  ).newDocument;
  const leftover = { ...structuredClone(injected), metadata: { ...(injected.metadata as Obj), name: 'blog' } };
  const workloads: unknown[] = [
    review('s1', deployment()),
    review('s2', statefulSet()),
    review('s3', deployment(), { operation: 'UPDATE', oldObject: deployment() }),
    review('s4', injected, { operation: 'UPDATE', oldObject: injected }),
    review('u1', deployment('web')),
    review('u2', statefulSet('redis')),
    review('u3', daemonSet('agent')),
    review('u4', deployment('web', 'other'), { operation: 'UPDATE', oldObject: deployment('web', 'other') }),
    review('u5', leftover, { operation: 'UPDATE', oldObject: leftover }),
  ];
  const seeds: unknown[] = [...workloads, ...loadYaml('valid-batch.yaml').map((d, i) => review(`v${i}`, d))];
  const routes = [ROUTES.mutateWorkload, ROUTES.validateStash, ROUTES.mutateStash];
  const N = 10_500;
  const statuses = new Map<number, number>();
  let reviews = 0;
  let patches = 0;
  const problems: string[] = [];
  const differ: string[] = [];
  for (let i = 0; i < N; i++) {
    const r = rand();
    let payload: string;
    let sent: unknown;
    if (r < 0.15) payload = randomText();
    else if (r < 0.3) payload = JSON.stringify((sent = randomValue(5)));
    else payload = JSON.stringify((sent = corrupt(rand() < 0.5 ? pick(workloads) : pick(seeds))));
    if (rand() < 0.03) payload = payload.slice(0, Math.floor(rand() * payload.length));
    const url = pick(routes);
    const res = await app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': pick(['application/json', 'text/plain', 'application/octet-stream']) },
      payload,
    });
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    const want = expected(url, payload);
    if (want.status !== res.statusCode) differ.push(`#${i} ${url}: status ${res.statusCode}, decided ${want.status}`);
    if (want.status === 200 && res.statusCode === 200) {
      const got = (JSON.parse(res.body) as AdmissionReviewOut).response;
      const answer: Decided = {
        uid: got.uid,
        allowed: got.allowed,
        patch: got.patch === undefined ? undefined : decodePatch(got),
        code: got.allowed ? undefined : got.status?.code,
      };
      if (JSON.stringify(answer) !== JSON.stringify(want.response)) {
        differ.push(
          `#${i} ${url}: answered ${JSON.stringify(answer).slice(0, 300)}, decided ${JSON.stringify(want.response).slice(0, 300)}`,
        );
      }
    }
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
      if (
        out.apiVersion !== 'admission.k8s.io/v1' ||
        out.kind !== 'AdmissionReview' ||
        typeof out.response?.allowed !== 'boolean'
      ) {
        problems.push(`#${i} ${url}: not a review: ${res.body.slice(0, 200)}`);
      } else if (out.response.uid !== reqUid) {
        problems.push(`#${i} ${url}: uid ${String(out.response.uid)} != ${String(reqUid)}`);
      } else if (
        !out.response.allowed &&
        !(out.response.status && typeof out.response.status.message === 'string' && out.response.status.message)
      ) {
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
  t.same(differ.slice(0, 20), [], 'every answer equals the decision from the whole body');
  t.equal(
    [...statuses.values()].reduce((a, b) => a + b, 0),
    N,
  );
  t.ok(reviews > N / 3, `${reviews} reviews answered`);
  t.ok(patches > 300, `${patches} patches applied cleanly`);
  t.notOk(statuses.has(500), 'never a 500');
  t.ok(decidedUntargeted > 300, `${decidedUntargeted} reviews of workloads no invoker targets`);
  t.comment(
    `statuses: ${JSON.stringify(Object.fromEntries(statuses))}, reviews ${reviews}, patches ${patches}, untargeted workload reviews ${decidedUntargeted}`,
  );
  await app.close();
});
