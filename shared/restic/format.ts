// Human formats used in BackupSession status (docs/api.md §6 SnapshotStats) and Repository.status
// totalSize: the same strings upstream Stash writes, so dashboards and `kubectl get` read the same.
import type { BackupResult } from './output.ts';

const UNITS: Array<[number, string]> = [
  [2 ** 40, 'TiB'],
  [2 ** 30, 'GiB'],
  [2 ** 20, 'MiB'],
  [2 ** 10, 'KiB'],
];

/** 512 → "512 B", 1536 → "1.500 KiB", 190_000_000 → "181.198 MiB" */
export function formatBytes(n: number): string {
  const v = Math.max(0, Math.floor(n));
  for (const [size, unit] of UNITS) {
    if (v >= size) return `${(v / size).toFixed(3)} ${unit}`;
  }
  return `${v} B`;
}

/** Whole seconds as "M:SS", or "H:MM:SS" from one hour on. Fractions are dropped, as upstream does. */
export function formatSeconds(seconds: number): string {
  let s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Go's time.Duration.String() for a millisecond count, as upstream writes HostBackupStats.duration. */
export function formatGoDuration(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms < 1) return `${+(ms * 1000).toFixed(3)}µs`;
  if (ms < 1000) return `${+ms.toFixed(6)}ms`;
  let rest = ms / 1000;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  rest -= m * 60;
  const sec = `${+rest.toFixed(9)}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}

export interface SnapshotStats {
  name: string;
  path: string;
  totalSize: string;
  uploaded: string;
  processingTime: string;
  fileStats: {
    totalFiles: number;
    newFiles: number;
    modifiedFiles: number;
    unmodifiedFiles: number;
  };
}

/** One SnapshotStats entry for a backed-up path (or a stdin file name) from a backup's result. */
export function snapshotStats(result: BackupResult, path: string): SnapshotStats {
  const s = result.summary;
  return {
    name: result.snapshotId ?? '',
    path,
    totalSize: formatBytes(s.totalBytesProcessed),
    uploaded: formatBytes(s.dataAdded),
    processingTime: formatSeconds(s.totalDuration),
    fileStats: {
      totalFiles: s.totalFilesProcessed,
      newFiles: s.filesNew,
      modifiedFiles: s.filesChanged,
      unmodifiedFiles: s.filesUnmodified,
    },
  };
}
