// Stash's metric families (names, labels and meaning as upstream Stash publishes them through its pushgateway),
// computed at scrape time from object status in the operator's caches, so every replica serves the same values
// and a failover or restart loses nothing (docs/decisions/0012-metrics-from-status.md).
//
// Upstream pushes once per finished session and the pushgateway keeps the last value of each series: a success
// gauge reflects the newest finished session, while durations, sizes and last-success times keep the values of
// the newest session in which that session, target or host succeeded. That is what is computed here.
import { parseGoDuration } from '../shared/status/duration.ts';

export interface Obj {
  kind?: string;
  metadata?: { name?: string; namespace?: string; creationTimestamp?: string };
  spec?: unknown;
  status?: unknown;
}

/** What the families are computed from: the operator's informer caches. */
export interface MetricsSource {
  backupInvokers(): Iterable<Obj>;
  backupSessions(): Iterable<Obj>;
  restoreInvokers(): Iterable<Obj>;
  repositories(): Iterable<Obj>;
}

export type Labels = Record<string, string>;
export interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'untyped';
  samples: Array<{ labels: Labels; value: number }>;
}

/**
 * The families, each with its legacy `stash_` name and the `stash_appscode_com_` name upstream publishes beside
 * it (none for the repository families, which upstream publishes under `stash_` only). Gauges whose upstream
 * name ends in `_total` or `_count` are exposed untyped: they are neither counters nor histograms, and a gauge so
 * named fails the exposition lint (`promtool check metrics`).
 */
export const FAMILIES = {
  backupSessionSuccess: [
    'stash_backup_session_success',
    'stash_appscode_com_backupsession_success',
    'Whether the newest finished backup session of this invoker succeeded (1) or failed (0).',
  ],
  backupSessionDuration: [
    'stash_backup_session_duration_seconds',
    'stash_appscode_com_backupsession_duration_seconds',
    'Time the newest successful backup session of this invoker took.',
  ],
  backupTargetCount: [
    'stash_backup_target_count_total',
    'stash_appscode_com_backupsession_target_count_total',
    'Targets backed up in the newest successful backup session of this invoker.',
  ],
  backupLastSuccess: [
    'stash_backup_last_success_time_seconds',
    'stash_appscode_com_backupsession_last_success_time_seconds',
    'Unix time the newest successful backup session of this invoker finished.',
  ],
  backupTargetSuccess: [
    'stash_backup_target_success',
    'stash_appscode_com_backupsession_target_success',
    'Whether this target succeeded (1) or failed (0) in the newest finished session that backed it up.',
  ],
  backupTargetHostCount: [
    'stash_backup_target_host_count_total',
    'stash_appscode_com_backupsession_target_host_count_total',
    'Hosts of this target in the newest session in which it succeeded.',
  ],
  backupTargetLastSuccess: [
    'stash_backup_target_last_success_time_seconds',
    'stash_appscode_com_backupsession_target_last_success_time_seconds',
    'Unix time the newest session in which this target succeeded finished.',
  ],
  hostSuccess: [
    'stash_backup_host_backup_success',
    'stash_appscode_com_backupsession_host_backup_success',
    'Whether this host succeeded (1) or failed (0) in the newest finished session that backed it up.',
  ],
  hostDuration: [
    'stash_backup_host_backup_duration_seconds',
    'stash_appscode_com_backupsession_host_backup_duration_seconds',
    'Time the newest successful backup of this host took.',
  ],
  hostDataSize: [
    'stash_backup_host_data_size_bytes',
    'stash_appscode_com_backupsession_host_data_size_bytes',
    'Data processed by the newest successful backup of this host.',
  ],
  hostDataUploaded: [
    'stash_backup_host_data_uploaded_bytes',
    'stash_appscode_com_backupsession_host_data_uploaded_bytes',
    'Data uploaded to the repository by the newest successful backup of this host.',
  ],
  hostProcessingTime: [
    'stash_backup_host_data_processing_time_seconds',
    'stash_appscode_com_backupsession_host_data_processing_time_seconds',
    'Time restic took to process the data of the newest successful backup of this host.',
  ],
  hostFilesTotal: [
    'stash_backup_host_files_total',
    'stash_appscode_com_backupsession_host_files_total',
    'Files processed by the newest successful backup of this host.',
  ],
  hostFilesNew: [
    'stash_backup_host_files_new',
    'stash_appscode_com_backupsession_host_files_new',
    'Files new since the parent snapshot in the newest successful backup of this host.',
  ],
  hostFilesModified: [
    'stash_backup_host_files_modified',
    'stash_appscode_com_backupsession_host_files_modified',
    'Files modified since the parent snapshot in the newest successful backup of this host.',
  ],
  hostFilesUnmodified: [
    'stash_backup_host_files_unmodified',
    'stash_appscode_com_backupsession_host_files_unmodified',
    'Files unchanged since the parent snapshot in the newest successful backup of this host.',
  ],
  repoIntegrity: [
    'stash_repository_integrity',
    undefined,
    'Result of the repository integrity check after the last backup (1 passed, 0 failed).',
  ],
  repoSize: ['stash_repository_size_bytes', undefined, 'Size of the repository after the last backup.'],
  repoSnapshotCount: [
    'stash_repository_snapshot_count',
    undefined,
    'Snapshots in the repository after the last retention run.',
  ],
  repoSnapshotCleaned: ['stash_repository_snapshot_cleaned', undefined, 'Snapshots removed by the last retention run.'],
  restoreSessionSuccess: [
    'stash_restore_session_success',
    'stash_appscode_com_restoresession_success',
    'Whether this finished restore succeeded (1) or failed (0).',
  ],
  restoreSessionDuration: [
    'stash_restore_session_duration_seconds',
    'stash_appscode_com_restoresession_duration_seconds',
    'Time this successful restore took.',
  ],
  restoreTargetCount: [
    'stash_restore_target_count_total',
    'stash_appscode_com_restoresession_target_count_total',
    'Targets restored by this successful restore.',
  ],
  restoreTargetSuccess: [
    'stash_restore_target_success',
    'stash_appscode_com_restoresession_target_success',
    'Whether the restore of this target succeeded (1) or failed (0).',
  ],
  restoreTargetHostCount: [
    'stash_restore_target_host_count_total',
    'stash_appscode_com_restoresession_target_host_count_total',
    'Hosts restored for this target.',
  ],
  restoreHostSuccess: [
    'stash_restore_host_restore_success',
    'stash_appscode_com_restoresession_host_restore_success',
    'Whether the restore of this host succeeded (1) or failed (0).',
  ],
  restoreHostDuration: [
    'stash_restore_host_restore_duration_seconds',
    'stash_appscode_com_restoresession_host_restore_duration_seconds',
    'Time the restore of this host took.',
  ],
} as const satisfies Record<string, readonly [string, string | undefined, string]>;

export type FamilyKey = keyof typeof FAMILIES;

type Phase = { phase?: string };
interface HostStats extends Phase {
  hostname?: string;
  duration?: string;
  error?: string;
  snapshots?: Array<{
    totalSize?: string;
    uploaded?: string;
    processingTime?: string;
    fileStats?: { totalFiles?: number; newFiles?: number; modifiedFiles?: number; unmodifiedFiles?: number };
  }>;
}
interface TargetRef {
  apiVersion?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}
interface TargetStatus extends Phase {
  ref?: TargetRef;
  totalHosts?: number;
  stats?: HostStats[];
}
interface SessionStatus extends Phase {
  sessionDuration?: string;
  targets?: TargetStatus[];
}
interface InvokerSpec {
  driver?: string;
  repository?: { name?: string; namespace?: string };
  target?: { ref?: TargetRef };
  members?: Array<{ target?: { ref?: TargetRef } }>;
}

const UNITS: Record<string, number> = { B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 };

/** "12.345 MiB" (the restic summary format in status) to bytes; undefined when unreadable. */
export function parseSize(s: string | undefined): number | undefined {
  const m = s?.trim().match(/^([\d.]+)\s*(B|KiB|MiB|GiB|TiB)$/);
  return m ? Math.round(Number(m[1]) * UNITS[m[2]!]!) : undefined;
}

/** "M:SS" / "H:MM:SS" (restic's processing time) to seconds. */
export function parseClock(s: string | undefined): number | undefined {
  if (!s || !/^\d+(:\d+){0,2}$/.test(s)) return undefined;
  return s.split(':').reduce((acc, p) => acc * 60 + Number(p), 0);
}

function seconds(d: string | undefined): number | undefined {
  const ms = d ? parseGoDuration(d) : undefined;
  return ms === undefined ? undefined : ms / 1000;
}

function created(o: Obj): number {
  return Date.parse(o.metadata?.creationTimestamp ?? '') || 0;
}

/** Upstream stamps the push time; a session's is its creation plus its duration, the same on every replica. */
function finishedAt(o: Obj): number | undefined {
  const d = seconds((o.status as { sessionDuration?: string } | undefined)?.sessionDuration);
  const c = created(o);
  return c && d !== undefined ? c / 1000 + d : undefined;
}

function groupOf(apiVersion: string | undefined): string {
  return apiVersion?.includes('/') ? apiVersion.split('/')[0]! : '';
}

/** invoker_kind, invoker_name, namespace, driver, repository: upstream's labels of every session family. */
export function invokerLabels(inv: Obj): Labels {
  const spec = (inv.spec ?? {}) as InvokerSpec;
  const base = {
    invoker_kind: inv.kind ?? '',
    invoker_name: inv.metadata?.name ?? '',
    namespace: inv.metadata?.namespace ?? '',
  };
  if (spec.driver === 'VolumeSnapshotter')
    return { ...base, driver: 'VolumeSnapshotter', kind: 'PersistentVolumeClaim', group: '' };
  return { ...base, driver: 'Restic', repository: spec.repository?.name ?? '' };
}

/** kind, group, name of the target, as upstream labels target and host families. */
function targetLabels(ref: TargetRef | undefined): Labels {
  return { kind: ref?.kind ?? '', group: groupOf(ref?.apiVersion), name: ref?.name ?? '' };
}

function refKey(ref: TargetRef | undefined): string {
  return `${ref?.kind}/${ref?.namespace ?? ''}/${ref?.name}`;
}

class Collector {
  readonly samples = new Map<FamilyKey, Array<{ labels: Labels; value: number }>>();
  add(key: FamilyKey, labels: Labels, value: number | undefined): void {
    if (value === undefined || !Number.isFinite(value)) return;
    let l = this.samples.get(key);
    if (!l) this.samples.set(key, (l = []));
    l.push({ labels, value });
  }
}

function invokerKey(kind: string | undefined, ns: string | undefined, name: string | undefined): string {
  return `${kind}/${ns ?? ''}/${name}`;
}

function backupFamilies(src: MetricsSource, c: Collector): void {
  const invokers = new Map<string, Obj>();
  for (const inv of src.backupInvokers())
    invokers.set(invokerKey(inv.kind, inv.metadata?.namespace, inv.metadata?.name), inv);
  const byInvoker = new Map<string, Obj[]>();
  for (const s of src.backupSessions()) {
    const phase = (s.status as Phase | undefined)?.phase;
    if (phase !== 'Succeeded' && phase !== 'Failed') continue; // upstream pushes nothing for Skipped sessions
    const ref = (s.spec as { invoker?: { kind?: string; name?: string } } | undefined)?.invoker;
    const k = invokerKey(ref?.kind, s.metadata?.namespace, ref?.name);
    if (!invokers.has(k)) continue;
    let l = byInvoker.get(k);
    if (!l) byInvoker.set(k, (l = []));
    l.push(s);
  }
  for (const [k, sessions] of byInvoker) {
    const inv = invokers.get(k)!;
    const labels = invokerLabels(inv);
    // Newest first: the first match of any question below is the answer the pushgateway would hold.
    sessions.sort((a, b) => created(b) - created(a) || (b.metadata?.name ?? '').localeCompare(a.metadata?.name ?? ''));
    const status = (s: Obj) => (s.status ?? {}) as SessionStatus;
    c.add('backupSessionSuccess', labels, status(sessions[0]!).phase === 'Succeeded' ? 1 : 0);
    const ok = sessions.find((s) => status(s).phase === 'Succeeded');
    if (ok) {
      c.add('backupSessionDuration', labels, seconds(status(ok).sessionDuration));
      c.add('backupTargetCount', labels, status(ok).targets?.length ?? 0);
      c.add('backupLastSuccess', labels, finishedAt(ok));
    }
    const targetsDone = new Set<string>();
    const hostsDone = new Set<string>();
    const targetOk = new Set<string>();
    const hostOk = new Set<string>();
    for (const s of sessions) {
      for (const t of status(s).targets ?? []) {
        const tk = refKey(t.ref);
        const tl = { ...labels, ...targetLabels(t.ref) };
        if (!targetsDone.has(tk) && (t.phase === 'Succeeded' || t.phase === 'Failed')) {
          targetsDone.add(tk);
          c.add('backupTargetSuccess', tl, t.phase === 'Succeeded' ? 1 : 0);
        }
        if (!targetOk.has(tk) && t.phase === 'Succeeded') {
          targetOk.add(tk);
          c.add('backupTargetHostCount', tl, t.totalHosts ?? t.stats?.length ?? 0);
          c.add('backupTargetLastSuccess', tl, finishedAt(s));
        }
        for (const h of t.stats ?? []) {
          const hk = `${tk}|${h.hostname}`;
          const hl = { ...tl, hostname: h.hostname ?? '' };
          const succeeded = h.phase === 'Succeeded' && !h.error;
          if (!hostsDone.has(hk) && (succeeded || h.phase === 'Failed' || !!h.error)) {
            hostsDone.add(hk);
            c.add('hostSuccess', hl, succeeded ? 1 : 0);
          }
          if (!hostOk.has(hk) && succeeded) {
            hostOk.add(hk);
            hostValues(c, hl, h);
          }
        }
      }
    }
  }
}

function hostValues(c: Collector, hl: Labels, h: HostStats): void {
  const snaps = h.snapshots ?? [];
  const sum = (f: (x: (typeof snaps)[number]) => number | undefined) => snaps.reduce((acc, x) => acc + (f(x) ?? 0), 0);
  c.add('hostDuration', hl, seconds(h.duration));
  c.add(
    'hostDataSize',
    hl,
    sum((x) => parseSize(x.totalSize)),
  );
  c.add(
    'hostDataUploaded',
    hl,
    sum((x) => parseSize(x.uploaded)),
  );
  c.add(
    'hostProcessingTime',
    hl,
    sum((x) => parseClock(x.processingTime)),
  );
  c.add(
    'hostFilesTotal',
    hl,
    sum((x) => x.fileStats?.totalFiles),
  );
  c.add(
    'hostFilesNew',
    hl,
    sum((x) => x.fileStats?.newFiles),
  );
  c.add(
    'hostFilesModified',
    hl,
    sum((x) => x.fileStats?.modifiedFiles),
  );
  c.add(
    'hostFilesUnmodified',
    hl,
    sum((x) => x.fileStats?.unmodifiedFiles),
  );
}

/** Upstream's backend label (the provider block's name) and its bucket/container and prefix labels. */
export function backendLabels(spec: unknown): Labels {
  const b = ((spec as { backend?: Record<string, unknown> } | undefined)?.backend ?? {}) as Record<
    string,
    | { bucket?: string; container?: string; prefix?: string; mountPath?: string; subPath?: string; url?: string }
    | undefined
  >;
  for (const provider of ['local', 's3', 'gcs', 'azure', 'swift', 'b2', 'rest']) {
    const p = b[provider];
    if (!p) continue;
    const out: Labels = { backend: provider };
    const bucket = p.bucket ?? p.container ?? (provider === 'local' ? p.mountPath : undefined);
    const prefix = p.prefix ?? (provider === 'local' ? p.subPath : undefined);
    if (bucket) out.bucket = bucket;
    if (prefix) out.prefix = prefix;
    return out;
  }
  return { backend: '' };
}

function repositoryFamilies(src: MetricsSource, c: Collector): void {
  const users = new Map<string, Obj[]>();
  for (const inv of src.backupInvokers()) {
    const spec = (inv.spec ?? {}) as InvokerSpec;
    if (!spec.repository?.name) continue;
    const k = `${spec.repository.namespace || inv.metadata?.namespace}/${spec.repository.name}`;
    let l = users.get(k);
    if (!l) users.set(k, (l = []));
    l.push(inv);
  }
  for (const repo of src.repositories()) {
    const st = (repo.status ?? {}) as {
      integrity?: boolean;
      totalSize?: string;
      snapshotCount?: number;
      snapshotsRemovedOnLastCleanup?: number;
      lastBackupTime?: string;
    };
    // Upstream pushes these after a backup's post-backup actions: nothing before the first one.
    if (st.integrity === undefined && st.snapshotCount === undefined && !st.lastBackupTime) continue;
    const ns = repo.metadata?.namespace ?? '';
    const repoLabels = { name: repo.metadata?.name ?? '', namespace: ns, ...backendLabels(repo.spec) };
    const invs = users.get(`${ns}/${repo.metadata?.name}`) ?? [];
    const sets = invs.length > 0 ? invs.map((i) => ({ ...invokerLabels(i), ...repoLabels })) : [repoLabels];
    for (const l of sets) {
      c.add('repoIntegrity', l, st.integrity === undefined ? undefined : st.integrity ? 1 : 0);
      c.add('repoSize', l, parseSize(st.totalSize));
      c.add('repoSnapshotCount', l, st.snapshotCount);
      c.add('repoSnapshotCleaned', l, st.snapshotsRemovedOnLastCleanup ?? 0);
    }
  }
}

function restoreFamilies(src: MetricsSource, c: Collector): void {
  for (const inv of src.restoreInvokers()) {
    const st = (inv.status ?? {}) as Phase & {
      sessionDuration?: string;
      totalHosts?: number;
      stats?: HostStats[];
      members?: TargetStatus[];
    };
    if (st.phase !== 'Succeeded' && st.phase !== 'Failed') continue; // upstream pushes when the restore ends
    const labels = invokerLabels(inv);
    const spec = (inv.spec ?? {}) as InvokerSpec;
    const targets: TargetStatus[] =
      inv.kind === 'RestoreBatch'
        ? (st.members ?? [])
        : [{ ref: spec.target?.ref, phase: st.phase, totalHosts: st.totalHosts, stats: st.stats }];
    c.add('restoreSessionSuccess', labels, st.phase === 'Succeeded' ? 1 : 0);
    if (st.phase === 'Succeeded') {
      c.add('restoreSessionDuration', labels, seconds(st.sessionDuration));
      c.add('restoreTargetCount', labels, targets.length);
    }
    for (const t of targets) {
      const tl = { ...labels, ...targetLabels(t.ref) };
      c.add('restoreTargetSuccess', tl, t.phase === 'Succeeded' ? 1 : 0);
      if (t.phase === 'Succeeded') c.add('restoreTargetHostCount', tl, t.totalHosts ?? t.stats?.length ?? 0);
      for (const h of t.stats ?? []) {
        const hl = { ...tl, hostname: h.hostname ?? '' };
        const ok = h.phase === 'Succeeded';
        c.add('restoreHostSuccess', hl, ok ? 1 : 0);
        if (ok) c.add('restoreHostDuration', hl, seconds(h.duration));
      }
    }
  }
}

/** Every Stash family with its samples, under both names where upstream has both. */
export function stashFamilies(src: MetricsSource): Family[] {
  const c = new Collector();
  backupFamilies(src, c);
  repositoryFamilies(src, c);
  restoreFamilies(src, c);
  const out: Family[] = [];
  for (const [key, [legacy, modern, help]] of Object.entries(FAMILIES) as Array<
    [FamilyKey, readonly [string, string | undefined, string]]
  >) {
    const samples = c.samples.get(key) ?? [];
    for (const name of [legacy, modern]) {
      if (name) out.push({ name, help, type: /_(total|count)$/.test(name) ? 'untyped' : 'gauge', samples });
    }
  }
  return out;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** Prometheus text exposition format 0.0.4; families without samples still state HELP and TYPE. */
export function renderFamilies(families: Family[]): string {
  let out = '';
  for (const f of families) {
    out += `# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) {
      const l = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
        .join(',');
      out += `${f.name}${l ? `{${l}}` : ''} ${s.value}\n`;
    }
  }
  return out;
}
