// The JSONPatch of an admission answer, written straight to JSON text. fast-json-patch's compare() builds operation
// objects whose values are deep copies (a JSON round trip each), which the handler then serialises again; on the
// injection path that was most of the cost of a CREATE review. This walks the two documents the same way compare()
// does, in the same order, and emits the same operations, so the text is exactly JSON.stringify(compare(a, b)) for
// JSON documents (what an AdmissionReview carries); patch.test.ts holds the two side by side on generated pairs.
//
// Unchanged subtrees shared by reference between the two documents are skipped without a walk, which is what makes
// mutateWorkloadShared's copy-on-write result cheap to diff.

const hasOwn = Object.prototype.hasOwnProperty;

function keysOf(v: object): string[] {
  if (Array.isArray(v)) {
    const keys = new Array<string>(v.length);
    for (let i = 0; i < keys.length; i++) keys[i] = String(i);
    return keys;
  }
  return Object.keys(v);
}

function escapeToken(key: string): string {
  return key.indexOf('/') === -1 && key.indexOf('~') === -1 ? key : key.replace(/~/g, '~0').replace(/\//g, '~1');
}

// JSON text of values that can never change (mutate.ts's cached, deep-frozen plan containers and volumes), so the
// sidecar an injection adds is serialised once per plan rather than once per review.
const frozenText = new WeakMap<object, string>();

function deepFreeze(v: unknown): void {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return;
  Object.freeze(v);
  for (const child of Object.values(v)) deepFreeze(child);
}

/** Freezes `v` deeply and remembers its JSON text for patches that add it. Returns `v`. */
export function immutableValue<T extends object>(v: T): T {
  deepFreeze(v);
  frozenText.set(v, JSON.stringify(v));
  return v;
}

// JSON text of long strings a patch adds or replaces: above all the last-applied invoker annotation, a few KiB
// with a quote to escape every few characters, which is the same string (from mutate.ts's cached plan) on every
// injection for that invoker. Bounded, since it is keyed by content; past the bound it starts over.
const LONG_STRING = 64;
const stringText = new Map<string, string>();

function stringJson(s: string): string {
  if (s.length < LONG_STRING) return JSON.stringify(s);
  let text = stringText.get(s);
  if (text === undefined) {
    if (stringText.size >= 256) stringText.clear();
    text = JSON.stringify(s);
    stringText.set(s, text);
  }
  return text;
}

// compare() deep-copies values with a JSON round trip, turning a bare undefined into null; the text is the same.
function valueText(v: unknown): string {
  if (v === undefined) return 'null';
  if (typeof v === 'string') return stringJson(v);
  if (typeof v === 'object' && v !== null) {
    const known = frozenText.get(v);
    if (known !== undefined) return known;
  }
  return JSON.stringify(v) ?? 'null';
}

interface Out {
  ops: string[];
}

function walk(mirror: Record<string, unknown>, obj: Record<string, unknown>, out: Out, path: string): void {
  if (obj === mirror) return;
  const newKeys = keysOf(obj);
  const oldKeys = keysOf(mirror);
  const objIsArray = Array.isArray(obj);
  const mirrorIsArray = Array.isArray(mirror);
  let deleted = false;
  for (let t = oldKeys.length - 1; t >= 0; t--) {
    const key = oldKeys[t]!;
    const oldVal = mirror[key];
    if (hasOwn.call(obj, key) && !(obj[key] === undefined && oldVal !== undefined && !objIsArray)) {
      const newVal = obj[key];
      if (typeof oldVal === 'object' && oldVal !== null && typeof newVal === 'object' && newVal !== null
        && Array.isArray(oldVal) === Array.isArray(newVal)) {
        walk(oldVal as Record<string, unknown>, newVal as Record<string, unknown>, out, `${path}/${escapeToken(key)}`);
      } else if (oldVal !== newVal) {
        out.ops.push(`{"op":"replace","path":${JSON.stringify(`${path}/${escapeToken(key)}`)},"value":${valueText(newVal)}}`);
      }
    } else if (mirrorIsArray === objIsArray) {
      out.ops.push(`{"op":"remove","path":${JSON.stringify(`${path}/${escapeToken(key)}`)}}`);
      deleted = true;
    } else {
      out.ops.push(`{"op":"replace","path":${JSON.stringify(path)},"value":${valueText(obj)}}`);
    }
  }
  if (!deleted && newKeys.length === oldKeys.length) return;
  for (let t = 0; t < newKeys.length; t++) {
    const key = newKeys[t]!;
    if (!hasOwn.call(mirror, key) && obj[key] !== undefined) {
      out.ops.push(`{"op":"add","path":${JSON.stringify(`${path}/${escapeToken(key)}`)},"value":${valueText(obj[key])}}`);
    }
  }
}

/**
 * The JSONPatch turning `from` into `to`, as JSON text, and how many operations it has. Both must be JSON objects
 * (plain data, no toJSON, no cycles).
 */
export function patchJson(from: Record<string, unknown>, to: Record<string, unknown>): { json: string; count: number } {
  const out: Out = { ops: [] };
  walk(from, to, out, '');
  return { json: `[${out.ops.join(',')}]`, count: out.ops.length };
}
