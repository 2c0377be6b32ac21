// patchJson must give exactly the text of JSON.stringify(fast-json-patch compare()), and mutateWorkloadShared exactly
// the patch mutateWorkload gives, for every case the admission handler can meet: the handler relies on both to keep
// its answers byte-for-byte what they were.
import t from 'tap';
import fastJsonPatch from 'fast-json-patch';
import {
  backupBatch, backupConfiguration, daemonSet, deployment, localRepository, repository, restoreBatch, statefulSet,
} from '../../test/fixtures/reviews/fixtures.ts';
import { mutateWorkload, mutateWorkloadShared, type Invokers } from './mutate.ts';
import { compileCovers, covers, type InjectOptions } from './inject.ts';
import { immutableValue, patchJson } from './patch.ts';
import type { BackupInvoker, Obj, Repository, RestoreInvoker } from './types.ts';

const OPTS: InjectOptions = { image: 'stash-ts/agent:0.1.0', pushgatewayUrl: 'http://pgw:56789', useKubeapiserverFqdnForAks: false };

let seed = 0x0badcafe;
function rand(): number {
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
  return (seed >>> 0) / 0x100000000;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const KEYS = ['a', 'b', 'c', 'a/b', 'x~y', '~1', '0', '1', '__proto__', 'metadata', 'spec', ''];
// The long strings take patch.ts's remembered-text path for strings.
const ATOMS: unknown[] = [null, true, false, 0, -0, 1, 2.5, '', 'x', 'é😀', '"quoted"\n', 'a/b~c', '{"k": "v\\"}, '.repeat(12), 'é😀\u2028'.repeat(30)];

function value(depth: number): unknown {
  if (depth <= 0 || rand() < 0.35) return pick(ATOMS);
  if (rand() < 0.4) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth - 1));
  return object(depth - 1);
}

function object(depth: number): Obj {
  const o: Obj = {};
  for (let i = Math.floor(rand() * 5); i > 0; i--) Object.defineProperty(o, pick(KEYS), { value: value(depth), enumerable: true, writable: true, configurable: true });
  return o;
}

/** A variant of `doc`: some nodes replaced, removed, added or retyped; the rest shared or copied at random. */
function variant(doc: unknown, depth = 0): unknown {
  if (doc === null || typeof doc !== 'object') return rand() < 0.15 ? value(2) : doc;
  if (rand() < 0.3) return doc; // shared by reference, as mutateWorkloadShared leaves unchanged subtrees
  if (Array.isArray(doc)) {
    const out = doc.map((v) => variant(v, depth + 1));
    if (rand() < 0.2) out.push(value(2));
    if (rand() < 0.2 && out.length > 0) out.splice(Math.floor(rand() * out.length), 1);
    return rand() < 0.05 ? { ...out } : out;
  }
  const out: Obj = {};
  for (const [k, v] of Object.entries(doc as Obj)) {
    if (rand() < 0.15) continue;
    Object.defineProperty(out, k, { value: variant(v, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  if (rand() < 0.25) Object.defineProperty(out, pick(KEYS), { value: value(2), enumerable: true, writable: true, configurable: true });
  return out;
}

t.test('patchJson is JSON.stringify(compare()) on random document pairs', async (t) => {
  let mismatches = 0;
  let nonEmpty = 0;
  for (let i = 0; i < 3000; i++) {
    const a = object(4);
    const b = variant(a) as Obj;
    if (Array.isArray(b) || b === null || typeof b !== 'object') continue;
    const want = JSON.stringify(fastJsonPatch.compare(a, b));
    const got = patchJson(a, b);
    if (got.json !== want || got.count !== (JSON.parse(want) as unknown[]).length) {
      mismatches++;
      if (mismatches <= 3) t.equal(got.json, want, `pair ${i}: ${JSON.stringify(a)} -> ${JSON.stringify(b)}`);
    }
    if (got.count > 0) nonEmpty++;
  }
  t.equal(mismatches, 0, 'no pair differs');
  t.ok(nonEmpty > 1000, `most pairs differ somewhere (${nonEmpty})`);
});

t.test('identical and shared documents give an empty patch', async (t) => {
  const a = object(4);
  t.same(patchJson(a, a), { json: '[]', count: 0 });
  t.same(patchJson(a, structuredClone(a)), { json: '[]', count: 0 });
});

t.test('frozen plan values are written with their remembered text', async (t) => {
  const v = immutableValue({ name: 'stash', args: ['a/b', '~'], env: [{ name: 'X', value: '"1"' }] });
  t.ok(Object.isFrozen(v) && Object.isFrozen(v.args) && Object.isFrozen(v.env[0]), 'deeply frozen');
  const from = { list: [] as unknown[] };
  const to = { list: [v] };
  t.equal(patchJson(from, to).json, JSON.stringify(fastJsonPatch.compare(from, to)));
});

function invokers(backup: Obj[] = [], restore: Obj[] = [], repos: Obj[] = [repository(), localRepository()]): Invokers {
  return {
    backup: backup as unknown as BackupInvoker[],
    restore: restore as unknown as RestoreInvoker[],
    repository: (ns, name) => repos.find((r) => (r.metadata as Obj).namespace === ns && (r.metadata as Obj).name === name) as Repository | undefined,
  };
}

t.test('mutateWorkloadShared: same decision and same patch as mutateWorkload, input untouched', async (t) => {
  const local = backupConfiguration();
  ((local.spec as Obj).repository as Obj).name = String((localRepository().metadata as Obj).name);
  const sets: Invokers[] = [
    invokers(), invokers([backupBatch()]), invokers([], [restoreBatch()]), invokers([backupBatch()], [restoreBatch()]),
    invokers([backupConfiguration()]), invokers([local]),
  ];
  const workloads = [deployment(), statefulSet(), daemonSet(), deployment('other')];
  let patched = 0;
  for (const inv of sets) {
    for (const w0 of workloads) {
      // Fresh, once-injected and injected-then-retargeted versions of each workload.
      const versions: Obj[] = [w0];
      for (const next of sets) {
        const r = mutateWorkload(versions[0]!, next, OPTS);
        if (!('skip' in r)) versions.push(r.mutated);
      }
      for (const w of versions) {
        const before = JSON.stringify(w);
        const deep = mutateWorkload(w, inv, OPTS);
        const shared = mutateWorkloadShared(w, inv, OPTS);
        t.equal(JSON.stringify(w), before, 'input not modified');
        if ('skip' in deep) {
          t.same(shared, deep);
          continue;
        }
        if ('skip' in shared) {
          t.fail(`shared skipped: ${shared.skip}`);
          continue;
        }
        t.same(shared.actions, deep.actions);
        t.equal(patchJson(w, shared.mutated).json, JSON.stringify(fastJsonPatch.compare(w, deep.mutated)));
        t.same(shared.mutated, deep.mutated, 'same resulting object');
        patched++;
      }
    }
  }
  t.ok(patched > 20, `many cases produce a patch (${patched})`);
});

t.test('covers: the check built once for a frozen value agrees with the walk', async (t) => {
  let disagree = 0;
  let covered = 0;
  for (let i = 0; i < 3000; i++) {
    const want = object(4);
    const have = rand() < 0.3 ? structuredClone(want) : variant(want);
    const walked = covers(have, want);
    const frozen = immutableValue(structuredClone(want));
    if (compileCovers(want)(have) !== walked || covers(have, frozen) !== walked) disagree++;
    if (walked) covered++;
  }
  t.equal(disagree, 0);
  t.ok(covered > 500 && covered < 2900, `both outcomes met (${covered} covered)`);
});
