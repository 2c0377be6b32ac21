// RestoreSession / RestoreBatch status: phase derivation (docs/api.md §16.4) and merge helpers.
//
// One deliberate reading of docs/api.md §16.4: a batch (or session) becomes final only once MetricsPushed is set, for
// Failed and Unknown as well as Succeeded. The operator stops reconciling at a final phase (docs/api.md §16.1 step 1), so
// a phase that went final before the metrics step would never get its global post hook or metrics.
import { CONDITION } from '../api/constants.ts';
import type {
  Condition,
  HostRestoreStats,
  RestoreBatchStatus,
  RestoreMemberStatus,
  RestorePhase,
  RestoreSessionStatus,
  RestoreTargetPhase,
  TargetRef,
} from '../api/index.ts';
import { findCondition, isFalse, isTrue, mergeConditions } from './conditions.ts';
import { sameRef } from './backup.ts';
import { formatRoundedSeconds } from './duration.ts';

export const FINAL_RESTORE_PHASES: readonly string[] = ['Succeeded', 'Failed', 'Unknown', 'Invalid'];
const FINAL_MEMBER: readonly string[] = ['Succeeded', 'Failed', 'Unknown'];

export function isFinalRestorePhase(phase: string | undefined): boolean {
  return phase !== undefined && FINAL_RESTORE_PHASES.includes(phase);
}

export function isFinalMemberPhase(phase: string | undefined): boolean {
  return phase !== undefined && FINAL_MEMBER.includes(phase);
}

interface MemberLike {
  conditions?: Condition[];
  totalHosts?: number;
  stats?: HostRestoreStats[];
}

/** docs/api.md §16.4 member phase (also the target part of a RestoreSession). */
export function restoreMemberPhase(m: MemberLike): RestoreTargetPhase {
  const c = m.conditions;
  if (
    isFalse(c, CONDITION.RestoreExecutorEnsured) ||
    isFalse(c, CONDITION.PreRestoreHookExecutionSucceeded) ||
    isFalse(c, CONDITION.PostRestoreHookExecutionSucceeded)
  )
    return 'Failed';
  if (m.totalHosts === undefined || m.totalHosts === null || !c?.length || isFalse(c, CONDITION.RestoreTargetFound))
    return 'Pending';
  const stats = m.stats ?? [];
  const reported = stats.filter((s) => s.phase === 'Succeeded' || s.phase === 'Failed' || s.phase === 'Unknown');
  if (reported.length >= m.totalHosts) {
    if (reported.some((s) => s.phase === 'Unknown')) return 'Unknown';
    if (reported.some((s) => s.phase === 'Failed')) return 'Failed';
    return 'Succeeded';
  }
  return 'Running';
}

function invokerPhase(conds: Condition[] | undefined, memberPhases: RestoreTargetPhase[]): RestorePhase {
  if (isFalse(conds, CONDITION.MetricsPushed)) return 'Failed';
  const metricsPushed = isTrue(conds, CONDITION.MetricsPushed);
  if (
    metricsPushed &&
    (isFalse(conds, CONDITION.GlobalPreRestoreHookSucceeded) ||
      isFalse(conds, CONDITION.GlobalPostRestoreHookSucceeded) ||
      isTrue(conds, CONDITION.DeadlineExceeded))
  )
    return 'Failed';
  if (isFalse(conds, CONDITION.ValidationPassed)) return 'Invalid';
  if (!conds?.length || memberPhases.length === 0 || memberPhases.every((p) => p === 'Pending')) return 'Pending';
  if (isFalse(conds, CONDITION.RepositoryFound) || isFalse(conds, CONDITION.BackendSecretFound)) return 'Pending';
  if (memberPhases.every((p) => FINAL_MEMBER.includes(p)) && metricsPushed) {
    if (memberPhases.includes('Unknown')) return 'Unknown';
    if (memberPhases.includes('Failed')) return 'Failed';
    return 'Succeeded';
  }
  return 'Running';
}

/** docs/api.md §16.4 RestoreBatch phase, from its conditions and (already derived) member phases. */
export function restoreBatchPhase(status: RestoreBatchStatus): RestorePhase {
  return invokerPhase(
    status.conditions,
    (status.members ?? []).map((m) => m.phase ?? restoreMemberPhase(m)),
  );
}

/** docs/api.md §16.4 RestoreSession phase: one member whose conditions and stats live at the top level. */
export function restoreSessionPhase(status: RestoreSessionStatus): RestorePhase {
  const c = status.conditions;
  // Before the operator has looked at the target there is no member yet.
  const member =
    findCondition(c, CONDITION.RestoreTargetFound) || status.totalHosts !== undefined
      ? [restoreMemberPhase(status)]
      : [];
  return invokerPhase(c, member);
}

function fillDuration(
  s: { phase?: string; sessionDuration?: string },
  creationTimestamp: string | undefined,
  now: Date,
): void {
  if (isFinalRestorePhase(s.phase) && !s.sessionDuration && creationTimestamp) {
    s.sessionDuration = formatRoundedSeconds(Math.max(0, now.getTime() - Date.parse(creationTimestamp)));
  }
}

export function recomputeRestoreBatch(
  status: RestoreBatchStatus,
  creationTimestamp?: string,
  now: Date = new Date(),
): RestoreBatchStatus {
  for (const m of status.members ?? []) m.phase = restoreMemberPhase(m);
  status.phase = restoreBatchPhase(status);
  fillDuration(status, creationTimestamp, now);
  return status;
}

export function recomputeRestoreSession(
  status: RestoreSessionStatus,
  creationTimestamp?: string,
  now: Date = new Date(),
): RestoreSessionStatus {
  status.phase = restoreSessionPhase(status);
  fillDuration(status, creationTimestamp, now);
  return status;
}

export function upsertRestoreHostStats(
  stats: readonly HostRestoreStats[] | undefined,
  entry: HostRestoreStats,
): HostRestoreStats[] {
  const list = [...(stats ?? [])];
  const i = list.findIndex((s) => s.hostname === entry.hostname);
  if (i >= 0) list[i] = entry;
  else list.push(entry);
  return list;
}

export interface MemberPatch {
  ref: TargetRef;
  totalHosts?: number;
  stats?: HostRestoreStats[];
  conditions?: Condition[];
}

export function upsertMember(
  status: RestoreBatchStatus,
  patch: MemberPatch,
  defaultNamespace = '',
  now: Date = new Date(),
): RestoreMemberStatus {
  const members = (status.members ??= []);
  let m = members.find((x) => sameRef(x.ref, patch.ref, defaultNamespace));
  if (!m) {
    m = { ref: { ...patch.ref } };
    members.push(m);
  }
  if (patch.totalHosts !== undefined) m.totalHosts = patch.totalHosts;
  for (const s of patch.stats ?? []) m.stats = upsertRestoreHostStats(m.stats, s);
  const conds = mergeConditions(m.conditions, patch.conditions, now);
  if (conds) m.conditions = conds;
  return m;
}

export interface RestoreBatchPatch {
  conditions?: Condition[];
  members?: MemberPatch[];
}

export function mergeRestoreBatchStatus(
  status: RestoreBatchStatus | undefined,
  patch: RestoreBatchPatch,
  opts: { namespace?: string; creationTimestamp?: string; now?: Date } = {},
): RestoreBatchStatus {
  const now = opts.now ?? new Date();
  const next: RestoreBatchStatus = structuredClone(status ?? {});
  const conds = mergeConditions(next.conditions, patch.conditions, now);
  if (conds) next.conditions = conds;
  for (const m of patch.members ?? []) upsertMember(next, m, opts.namespace ?? '', now);
  return recomputeRestoreBatch(next, opts.creationTimestamp, now);
}

export interface RestoreSessionPatch {
  totalHosts?: number;
  stats?: HostRestoreStats[];
  conditions?: Condition[];
}

export function mergeRestoreSessionStatus(
  status: RestoreSessionStatus | undefined,
  patch: RestoreSessionPatch,
  opts: { creationTimestamp?: string; now?: Date } = {},
): RestoreSessionStatus {
  const now = opts.now ?? new Date();
  const next: RestoreSessionStatus = structuredClone(status ?? {});
  if (patch.totalHosts !== undefined) next.totalHosts = patch.totalHosts;
  for (const s of patch.stats ?? []) next.stats = upsertRestoreHostStats(next.stats, s);
  const conds = mergeConditions(next.conditions, patch.conditions, now);
  if (conds) next.conditions = conds;
  return recomputeRestoreSession(next, opts.creationTimestamp, now);
}
