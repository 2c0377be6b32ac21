// BackupSession status: phase derivation (docs/api.md §14.7) and the merge helpers every writer uses (§15 last paragraph).
// Writers never set a phase themselves: they merge their piece and call recomputeBackupSession in the same
// write, so the phase can never disagree with the data it is derived from.
import { CONDITION } from '../api/constants.ts';
import { targetKey } from '../api/target.ts';
import type {
  BackupSessionPhase,
  BackupTargetPhase,
  BackupSessionStatus,
  BackupTargetStatus,
  Condition,
  HostBackupStats,
  TargetRef,
} from '../api/index.ts';
import { isFalse, isTrue, mergeConditions, mergeValues } from './conditions.ts';
import { formatRoundedSeconds } from './duration.ts';

const FINAL_TARGET: readonly string[] = ['Succeeded', 'Failed'];
export const FINAL_SESSION_PHASES: readonly BackupSessionPhase[] = ['Succeeded', 'Failed', 'Skipped', 'Unknown'];

/** Status entries of one target merge on its identity (docs/api.md §2.1); members without a ref share one. */
export function sameRef(a: TargetRef | undefined, b: TargetRef | undefined, defaultNamespace = ''): boolean {
  return targetKey(a, defaultNamespace) === targetKey(b, defaultNamespace);
}

/** docs/api.md §14.7 target phase. */
export function backupTargetPhase(t: BackupTargetStatus): BackupTargetPhase {
  const c = t.conditions;
  if (
    isFalse(c, CONDITION.BackupExecutorEnsured) ||
    isFalse(c, CONDITION.PreBackupHookExecutionSucceeded) ||
    isFalse(c, CONDITION.PostBackupHookExecutionSucceeded) ||
    isTrue(c, CONDITION.BackupDisrupted)
  )
    return 'Failed';
  if (t.totalHosts === undefined || t.totalHosts === null) return 'Pending';
  const stats = t.stats ?? [];
  const failed = stats.filter((s) => s.phase === 'Failed').length;
  const succeeded = stats.filter((s) => s.phase === 'Succeeded').length;
  if (failed + succeeded === t.totalHosts) return failed > 0 ? 'Failed' : 'Succeeded';
  return 'Running';
}

/** docs/api.md §14.7 session phase, from conditions and (already derived) target phases. */
export function backupSessionPhase(status: BackupSessionStatus): BackupSessionPhase {
  const c = status.conditions;
  if (isFalse(c, CONDITION.MetricsPushed)) return 'Failed';
  if (isTrue(c, CONDITION.BackupSkipped)) return 'Skipped';
  const metricsPushed = isTrue(c, CONDITION.MetricsPushed);
  if (
    metricsPushed &&
    (isTrue(c, CONDITION.DeadlineExceeded) ||
      isFalse(c, CONDITION.BackupHistoryCleaned) ||
      isFalse(c, CONDITION.GlobalPreBackupHookSucceeded) ||
      isFalse(c, CONDITION.GlobalPostBackupHookSucceeded))
  )
    return 'Failed';
  const phases = (status.targets ?? []).map((t) => t.phase ?? backupTargetPhase(t));
  if (phases.length === 0 || phases.every((p) => p === 'Pending')) return 'Pending';
  if (phases.every((p) => FINAL_TARGET.includes(p)) && metricsPushed) {
    if (
      phases.includes('Failed') ||
      isFalse(c, CONDITION.RetentionPolicyApplied) ||
      isFalse(c, CONDITION.RepositoryMetricsPushed) ||
      isFalse(c, CONDITION.RepositoryIntegrityVerified)
    )
      return 'Failed';
    return 'Succeeded';
  }
  return 'Running';
}

export function isFinalSessionPhase(phase: string | undefined): boolean {
  return phase !== undefined && (FINAL_SESSION_PHASES as readonly string[]).includes(phase);
}

/**
 * Recomputes every target phase and the session phase in place; fills sessionDuration the first time the
 * phase is final (time since creation, rounded to seconds).
 */
export function recomputeBackupSession(
  status: BackupSessionStatus,
  creationTimestamp?: string,
  now: Date = new Date(),
): BackupSessionStatus {
  for (const t of status.targets ?? []) {
    t.phase = backupTargetPhase(t);
    dropFinishedProgress(t);
  }
  status.phase = backupSessionPhase(status);
  if (isFinalSessionPhase(status.phase) && !status.sessionDuration && creationTimestamp) {
    status.sessionDuration = formatRoundedSeconds(Math.max(0, now.getTime() - Date.parse(creationTimestamp)));
  }
  return status;
}

/** Sets host stats by hostname (replacing an earlier entry of that host). */
export function upsertHostStats(
  stats: readonly HostBackupStats[] | undefined,
  entry: HostBackupStats,
): HostBackupStats[] {
  const list = [...(stats ?? [])];
  const i = list.findIndex((s) => s.hostname === entry.hostname);
  if (i >= 0) list[i] = entry;
  else list.push(entry);
  return list;
}

export type HostProgress = NonNullable<BackupTargetStatus['progress']>[number];

/**
 * Progress is for hosts still at work: an entry goes when its host has stats (final) or the target is final,
 * whatever wrote that — so a late progress write can never bring it back.
 */
function dropFinishedProgress(t: BackupTargetStatus): void {
  if (!t.progress) return;
  const final = FINAL_TARGET.includes(t.phase ?? '');
  const left = final ? [] : t.progress.filter((p) => !(t.stats ?? []).some((s) => s.hostname === p.hostname));
  if (left.length > 0) t.progress = left;
  else delete t.progress;
}

/** A piece of one target's status, to be merged into the session status. */
export interface TargetPatch {
  ref: TargetRef;
  totalHosts?: number;
  stats?: HostBackupStats[];
  /** Upserted by hostname. */
  progress?: HostProgress[];
  preBackupActions?: string[];
  postBackupActions?: string[];
  conditions?: Condition[];
}

/** Merges one target patch into the target list: by ref, stats by hostname, conditions by type, actions by value. */
export function upsertTarget(
  status: BackupSessionStatus,
  patch: TargetPatch,
  defaultNamespace = '',
  now: Date = new Date(),
): BackupTargetStatus {
  const targets = (status.targets ??= []);
  let t = targets.find((x) => sameRef(x.ref, patch.ref, defaultNamespace));
  if (!t) {
    t = { ref: { ...patch.ref } };
    targets.push(t);
  }
  if (patch.totalHosts !== undefined) t.totalHosts = patch.totalHosts;
  for (const s of patch.stats ?? []) t.stats = upsertHostStats(t.stats, s);
  for (const p of patch.progress ?? []) {
    const list = (t.progress ??= []);
    const i = list.findIndex((x) => x.hostname === p.hostname);
    if (i >= 0) list[i] = p;
    else list.push(p);
  }
  const pre = mergeValues(t.preBackupActions, patch.preBackupActions);
  if (pre) t.preBackupActions = pre;
  const post = mergeValues(t.postBackupActions, patch.postBackupActions);
  if (post) t.postBackupActions = post;
  const conds = mergeConditions(t.conditions, patch.conditions, now);
  if (conds) t.conditions = conds;
  return t;
}

/** A piece of a session status: session conditions and target patches. */
export interface BackupSessionPatch {
  conditions?: Condition[];
  targets?: TargetPatch[];
}

/** Merges a patch into a session status and recomputes phases, all in one step (the body of a status write). */
export function mergeBackupSessionStatus(
  status: BackupSessionStatus | undefined,
  patch: BackupSessionPatch,
  opts: { namespace?: string; creationTimestamp?: string; now?: Date } = {},
): BackupSessionStatus {
  const now = opts.now ?? new Date();
  const next: BackupSessionStatus = structuredClone(status ?? {});
  const conds = mergeConditions(next.conditions, patch.conditions, now);
  if (conds) next.conditions = conds;
  for (const t of patch.targets ?? []) upsertTarget(next, t, opts.namespace ?? '', now);
  return recomputeBackupSession(next, opts.creationTimestamp, now);
}

export function findTarget(
  status: BackupSessionStatus | undefined,
  ref: TargetRef,
  defaultNamespace = '',
): BackupTargetStatus | undefined {
  return status?.targets?.find((t) => sameRef(t.ref, ref, defaultNamespace));
}
