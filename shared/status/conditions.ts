// Condition helpers shared by every status writer. Conditions are keyed by type (docs/api.md §2.11); the transition time
// only moves when the status really changes, so watchers comparing timestamps see real transitions only.
import type { Condition } from '../api/index.ts';

export type ConditionInput = Omit<Condition, 'lastTransitionTime'> & { lastTransitionTime?: string };

export function findCondition(conds: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conds?.find((c) => c.type === type);
}

export function isTrue(conds: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conds, type)?.status === 'True';
}

export function isFalse(conds: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conds, type)?.status === 'False';
}

export function hasCondition(conds: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conds, type) !== undefined;
}

/**
 * Returns a new list with `cond` set by type. An existing entry keeps its lastTransitionTime when the status is
 * unchanged (reason and message may still be refreshed).
 */
export function upsertCondition(
  conds: readonly Condition[] | undefined,
  cond: ConditionInput,
  now: Date = new Date(),
): Condition[] {
  const list = [...(conds ?? [])];
  const i = list.findIndex((c) => c.type === cond.type);
  const prev = i >= 0 ? list[i] : undefined;
  const lastTransitionTime =
    prev && prev.status === cond.status ? prev.lastTransitionTime : (cond.lastTransitionTime ?? rfc3339(now));
  const next: Condition = { ...cond, lastTransitionTime };
  if (next.status !== 'False') delete next.severity;
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

/** Merges several conditions into a list (each by type, as upsertCondition). */
export function mergeConditions(
  base: readonly Condition[] | undefined,
  incoming: readonly Condition[] | undefined,
  now: Date = new Date(),
): Condition[] | undefined {
  if (!incoming?.length) return base ? [...base] : undefined;
  let list = [...(base ?? [])];
  for (const c of incoming) list = upsertCondition(list, c, now);
  return list;
}

/** Kubernetes metav1.Time: RFC 3339 with second precision. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Union of two string lists, order kept, no duplicates (action lists merge by value). */
export function mergeValues(a: readonly string[] | undefined, b: readonly string[] | undefined): string[] | undefined {
  if (!a && !b) return undefined;
  const out: string[] = [];
  for (const v of [...(a ?? []), ...(b ?? [])]) if (!out.includes(v)) out.push(v);
  return out;
}
