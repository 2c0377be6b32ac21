// Snapshot objects as data (docs/decisions/0010-snapshots-as-custom-resources.md): how a restic snapshot of a
// Repository becomes a Snapshot object (name, labels, status) and what a sync must change so the objects equal
// the backend's list.
// Pure functions only; the operator loop (webhook/controllers/snapshots.ts) does the I/O.
import type { Snapshot as ResticSnapshot } from '../restic/output.ts';
import { formatBytes } from '../restic/format.ts';
import type { Snapshot, SnapshotStatus } from './schema/snapshot.ts';
import {
  SNAPSHOT_API_VERSION,
  SNAPSHOT_FINALIZER,
  SNAPSHOT_KIND,
  SNAPSHOT_LABEL,
  snapshotName,
} from './snapshot-names.ts';

export * from './snapshot-names.ts';
export type { Snapshot, SnapshotStatus } from './schema/snapshot.ts';

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function labelValue(v: string): string | undefined {
  return v.length <= 63 && LABEL_VALUE.test(v) ? v : undefined;
}

function isoTime(t: string): string {
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? t : d.toISOString();
}

/** The status restic's entry maps to; fields restic does not report are left out, never guessed. */
export function snapshotStatus(repository: string, s: ResticSnapshot): SnapshotStatus {
  const status: SnapshotStatus = {
    id: s.id,
    shortId: s.id.slice(0, 8),
    snapshotTime: isoTime(s.time),
    repository,
    hostname: s.hostname,
    paths: [...s.paths],
    tree: s.tree,
    username: s.username,
    tags: [...s.tags],
  };
  if (s.parent) status.parent = s.parent;
  if (typeof s.uid === 'number') status.uid = s.uid;
  if (typeof s.gid === 'number') status.gid = s.gid;
  if (s.summary) {
    status.totalFiles = s.summary.totalFilesProcessed;
    status.size = formatBytes(s.summary.totalBytesProcessed);
  }
  if (s.programVersion) status.programVersion = s.programVersion;
  return status;
}

export function snapshotObject(namespace: string, repository: string, s: ResticSnapshot): Snapshot {
  const labels: Record<string, string> = { [SNAPSHOT_LABEL.repository]: repository };
  const host = labelValue(s.hostname);
  if (host !== undefined) labels[SNAPSHOT_LABEL.hostname] = host;
  return {
    apiVersion: SNAPSHOT_API_VERSION,
    kind: SNAPSHOT_KIND,
    metadata: {
      name: snapshotName(repository, s.id),
      namespace,
      labels,
      finalizers: [SNAPSHOT_FINALIZER],
    },
    status: snapshotStatus(repository, s),
  };
}

export interface SnapshotDiff {
  create: Snapshot[];
  /** Objects whose status no longer says what the backend says (a re-tagged snapshot). */
  update: Snapshot[];
  /** Names of objects whose snapshot is gone from the backend (retention, a forget by hand). */
  remove: string[];
}

function sameStatus(a: SnapshotStatus | undefined, b: SnapshotStatus): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * What makes the objects equal the backend's list. Objects being deleted are left to the finalizer; a name two
 * backend snapshots share (the same first 8 hex) keeps the older snapshot, which a restore can still name by id.
 */
export function diffSnapshots(wanted: Snapshot[], existing: Snapshot[]): SnapshotDiff {
  const want = new Map<string, Snapshot>();
  for (const w of [...wanted].sort((a, b) =>
    (a.status?.snapshotTime ?? '').localeCompare(b.status?.snapshotTime ?? ''),
  ))
    if (!want.has(w.metadata.name!)) want.set(w.metadata.name!, w);
  const have = new Map(existing.map((e) => [e.metadata.name!, e]));
  const out: SnapshotDiff = { create: [], update: [], remove: [] };
  for (const [name, w] of want) {
    const e = have.get(name);
    if (!e) out.create.push(w);
    else if (!e.metadata.deletionTimestamp && !sameStatus(e.status, w.status!))
      out.update.push({ ...e, metadata: { ...e.metadata, labels: w.metadata.labels }, status: w.status });
  }
  for (const [name, e] of have) if (!want.has(name) && !e.metadata.deletionTimestamp) out.remove.push(name);
  return out;
}
