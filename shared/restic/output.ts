// Parsing of what restic prints, for 0.14 and 0.18 alike. Everything here is pure (lines in, typed
// values out) so the recorded outputs in test/fixtures/restic/ can pin the behaviour of both versions.
// Field names follow restic's JSON; missing numeric fields are 0 because restic marks them omitempty.

// eslint-disable-next-line no-control-regex -- ESC is exactly what this strips
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** Removes terminal control sequences (0.14 prefixes "signal interrupt received" with ESC[2K) and CRs. */
export function cleanLine(line: string): string {
  return line.replace(ANSI, '').replace(/\r/g, '');
}

/** A JSON object or array when the line is one, else undefined (plain text). */
export function parseJson(line: string): unknown {
  const t = cleanLine(line).trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return undefined;
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return undefined;
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(o: Obj, key: string): number {
  const v = o[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function optNum(o: Obj, key: string): number | undefined {
  const v = o[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function str(o: Obj, key: string): string | undefined {
  const v = o[key];
  return typeof v === 'string' ? v : undefined;
}

function strArray(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

// ---------------------------------------------------------------- backup

export interface BackupStatus {
  /** Fraction 0..1 (restic prints a fraction, not a percentage). */
  percentDone: number;
  secondsElapsed: number;
  /** Absent until the scanner finished; 0.14 prints 2^63 when nothing was read yet, which we drop. */
  secondsRemaining: number | undefined;
  totalFiles: number;
  filesDone: number;
  totalBytes: number;
  bytesDone: number;
  errorCount: number;
  currentFiles: string[];
}

export interface BackupSummary {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  dataBlobs: number;
  treeBlobs: number;
  /** Uncompressed bytes of new data and trees. */
  dataAdded: number;
  /** 0.17+: bytes added after compression. */
  dataAddedPacked: number | undefined;
  totalFilesProcessed: number;
  totalBytesProcessed: number;
  /** Seconds. */
  totalDuration: number;
  /** 8 hex in 0.14, 64 hex from 0.15; undefined when a 0.17+ `--skip-if-unchanged` wrote nothing. */
  snapshotId: string | undefined;
  dryRun: boolean;
  backupStart: string | undefined;
  backupEnd: string | undefined;
}

export interface BackupFileError {
  item: string;
  /** "scan" or "archival" (only archival errors make the exit code 3). */
  during: string;
  message: string;
}

export interface BackupResult {
  summary: BackupSummary;
  /** Undefined for a dry run or a skipped (unchanged) backup. */
  snapshotId: string | undefined;
  errors: BackupFileError[];
}

export type ResticMessage =
  | { type: 'status'; status: BackupStatus }
  | { type: 'verbose'; action: string; item: string }
  | { type: 'summary'; summary: BackupSummary }
  | { type: 'error'; error: BackupFileError }
  | { type: 'exit_error'; code: number; message: string }
  | { type: 'initialized'; id: string; repository: string }
  | { type: 'unknown'; messageType: string };

// 0.14 prints seconds_remaining as 2^63 (a wrapped duration) before any byte was read.
const ABSURD_SECONDS = 10 * 365 * 24 * 3600;

export function parseStatus(o: Obj): BackupStatus {
  const remaining = optNum(o, 'seconds_remaining');
  return {
    percentDone: num(o, 'percent_done'),
    secondsElapsed: num(o, 'seconds_elapsed'),
    secondsRemaining: remaining !== undefined && remaining < ABSURD_SECONDS ? remaining : undefined,
    totalFiles: num(o, 'total_files'),
    filesDone: num(o, 'files_done'),
    totalBytes: num(o, 'total_bytes'),
    bytesDone: num(o, 'bytes_done'),
    errorCount: num(o, 'error_count'),
    currentFiles: strArray(o.current_files),
  };
}

export function parseSummary(o: Obj): BackupSummary {
  return {
    filesNew: num(o, 'files_new'),
    filesChanged: num(o, 'files_changed'),
    filesUnmodified: num(o, 'files_unmodified'),
    dirsNew: num(o, 'dirs_new'),
    dirsChanged: num(o, 'dirs_changed'),
    dirsUnmodified: num(o, 'dirs_unmodified'),
    dataBlobs: num(o, 'data_blobs'),
    treeBlobs: num(o, 'tree_blobs'),
    dataAdded: num(o, 'data_added'),
    dataAddedPacked: optNum(o, 'data_added_packed'),
    totalFilesProcessed: num(o, 'total_files_processed'),
    totalBytesProcessed: num(o, 'total_bytes_processed'),
    totalDuration: num(o, 'total_duration'),
    snapshotId: str(o, 'snapshot_id') || undefined,
    dryRun: o.dry_run === true,
    backupStart: str(o, 'backup_start'),
    backupEnd: str(o, 'backup_end'),
  };
}

/** The text of a per-file error in either shape: 0.17.1+ `{message}`, older Go-encoded `{Op,Path,Err}` or `{}`. */
export function errorText(error: unknown, item: string): string {
  if (isObj(error)) {
    const message = str(error, 'message');
    if (message) return message;
    const op = str(error, 'Op');
    const path = str(error, 'Path');
    const errno = error.Err;
    if (op || path) {
      const why = typeof errno === 'number' ? errnoText(errno) : typeof errno === 'string' ? errno : 'failed';
      return `${op ?? 'access'} ${path ?? item}: ${why}`;
    }
  }
  if (typeof error === 'string' && error) return error;
  return `${item}: error`;
}

const ERRNO: Record<number, string> = {
  1: 'operation not permitted',
  2: 'no such file or directory',
  5: 'input/output error',
  13: 'permission denied',
  20: 'not a directory',
  21: 'is a directory',
  24: 'too many open files',
  36: 'file name too long',
  40: 'too many levels of symbolic links',
};

function errnoText(n: number): string {
  return ERRNO[n] ?? `errno ${n}`;
}

/** One line of `--json` output (stdout or stderr) as a typed message; undefined for plain text. */
export function parseMessage(line: string): ResticMessage | undefined {
  const o = parseJson(line);
  if (!isObj(o)) return undefined;
  const type = str(o, 'message_type');
  if (!type) return undefined;
  // 0.14/0.15 emit scan_finished as message_type "status" with an action; dispatch on action first.
  const action = str(o, 'action');
  if ((type === 'status' || type === 'verbose_status') && action) {
    return { type: 'verbose', action, item: str(o, 'item') ?? '' };
  }
  switch (type) {
    case 'status':
      return { type: 'status', status: parseStatus(o) };
    case 'verbose_status':
      return { type: 'verbose', action: '', item: str(o, 'item') ?? '' };
    case 'summary':
      return { type: 'summary', summary: parseSummary(o) };
    case 'error': {
      const item = str(o, 'item') ?? '';
      const msg = str(o, 'message'); // check --json (0.18) puts the text at top level
      return {
        type: 'error',
        error: { item, during: str(o, 'during') ?? '', message: msg ?? errorText(o.error, item) },
      };
    }
    case 'exit_error':
      return { type: 'exit_error', code: num(o, 'code'), message: str(o, 'message') ?? '' };
    case 'initialized':
      return { type: 'initialized', id: str(o, 'id') ?? '', repository: str(o, 'repository') ?? '' };
    default:
      return { type: 'unknown', messageType: type };
  }
}

// ---------------------------------------------------------------- snapshots, forget

export interface Snapshot {
  id: string;
  shortId: string;
  time: string;
  hostname: string;
  paths: string[];
  tags: string[];
  parent: string | undefined;
  tree: string;
  username: string;
  /** uid/gid restic ran as; absent for snapshots taken on systems without them. */
  uid: number | undefined;
  gid: number | undefined;
  /** 0.16+ */
  programVersion: string | undefined;
  /** 0.17+: the backup summary stored in the snapshot. */
  summary: BackupSummary | undefined;
}

export function parseSnapshot(o: unknown): Snapshot | undefined {
  if (!isObj(o)) return undefined;
  const id = str(o, 'id') ?? '';
  return {
    id,
    shortId: str(o, 'short_id') ?? id.slice(0, 8),
    time: str(o, 'time') ?? '',
    hostname: str(o, 'hostname') ?? '',
    paths: strArray(o.paths),
    tags: strArray(o.tags),
    parent: str(o, 'parent'),
    tree: str(o, 'tree') ?? '',
    username: str(o, 'username') ?? '',
    uid: typeof o.uid === 'number' ? o.uid : undefined,
    gid: typeof o.gid === 'number' ? o.gid : undefined,
    programVersion: str(o, 'program_version'),
    summary: isObj(o.summary) ? parseSummary(o.summary) : undefined,
  };
}

function parseArrayOutput(stdout: string): unknown[] | undefined {
  // The JSON array is one line; restic may print other lines around it (e.g. prune text after forget).
  for (const line of stdout.split('\n')) {
    const v = parseJson(line);
    if (Array.isArray(v)) return v;
  }
  return undefined;
}

/** `snapshots --json`: oldest first. Throws when stdout holds no JSON array at all. */
export function parseSnapshots(stdout: string): Snapshot[] {
  const arr = parseArrayOutput(stdout);
  if (!arr) throw new Error('restic snapshots printed no JSON array');
  return arr.map(parseSnapshot).filter((s): s is Snapshot => s !== undefined);
}

export interface ForgetGroup {
  host: string;
  paths: string[];
  tags: string[];
  keep: Snapshot[];
  remove: Snapshot[];
}

/**
 * `forget --json`. An empty stdout means "no groups" (0.14 with no policy, or explicit ids); `keep` and
 * `remove` are null rather than [] when empty.
 */
export function parseForget(stdout: string): ForgetGroup[] {
  const arr = parseArrayOutput(stdout);
  if (!arr) return [];
  const groups: ForgetGroup[] = [];
  for (const g of arr) {
    if (!isObj(g)) continue;
    const snaps = (v: unknown) =>
      Array.isArray(v) ? v.map(parseSnapshot).filter((s): s is Snapshot => s !== undefined) : [];
    groups.push({
      host: str(g, 'host') ?? '',
      paths: strArray(g.paths),
      tags: strArray(g.tags),
      keep: snaps(g.keep),
      remove: snaps(g.remove),
    });
  }
  return groups;
}

// ---------------------------------------------------------------- stats, check, restore, init, config

export interface Stats {
  totalSize: number;
  snapshotsCount: number;
  totalFileCount: number | undefined;
  totalBlobCount: number | undefined;
  /** raw-data mode on v2 repositories, 0.15+ */
  totalUncompressedSize: number | undefined;
}

export function parseStats(stdout: string): Stats {
  for (const line of stdout.split('\n')) {
    const o = parseJson(line);
    if (isObj(o) && 'total_size' in o) {
      return {
        totalSize: num(o, 'total_size'),
        snapshotsCount: num(o, 'snapshots_count'),
        totalFileCount: optNum(o, 'total_file_count'),
        totalBlobCount: optNum(o, 'total_blob_count'),
        totalUncompressedSize: optNum(o, 'total_uncompressed_size'),
      };
    }
  }
  throw new Error('restic stats printed no JSON object');
}

export interface CheckResult {
  ok: boolean;
  /** 0.18 JSON only */
  numErrors: number | undefined;
  /** Error lines restic reported (JSON `error` messages, or 0.14 text lines on stderr). */
  errors: string[];
  suggestRepairIndex: boolean;
  suggestPrune: boolean;
}

/**
 * `check`: 0.18 prints a JSON summary with --json; 0.14 prints text ("no errors were found" on success,
 * "Fatal: repository contains errors" on failure).
 */
export function parseCheck(stdout: string, stderrLines: string[], exitCode: number | undefined): CheckResult {
  const errors: string[] = [];
  for (const l of stderrLines) {
    const m = parseMessage(l);
    if (m?.type === 'error') errors.push(m.error.message);
    else if (m === undefined) {
      const t = cleanLine(l).trim();
      if (t && !/^Fatal: repository contains errors/.test(t) && !/retrying after/.test(t)) errors.push(t);
    }
  }
  for (const line of stdout.split('\n')) {
    const m = parseJson(line);
    if (isObj(m) && m.message_type === 'summary') {
      const numErrors = num(m, 'num_errors');
      return {
        ok: numErrors === 0 && exitCode === 0,
        numErrors,
        errors,
        suggestRepairIndex: m.suggest_repair_index === true,
        suggestPrune: m.suggest_prune === true,
      };
    }
  }
  const text = stdout.split('\n').map(cleanLine);
  const clean = text.some((l) => l.trim() === 'no errors were found');
  return {
    ok: clean && exitCode === 0,
    numErrors: undefined,
    errors,
    suggestRepairIndex: text.some((l) => /repair index|rebuild-index/.test(l)),
    suggestPrune: text.some((l) => /run .restic prune/.test(l)),
  };
}

/** True when a failed check failed because the repository has errors (not because it could not run). */
export function checkFoundErrors(stdout: string, stderr: string): boolean {
  return /repository contains errors/.test(stderr) || /"num_errors":[1-9]/.test(stdout);
}

export interface RestoreSummary {
  totalFiles: number;
  filesRestored: number;
  filesSkipped: number;
  totalBytes: number;
  bytesRestored: number;
}

/** `restore --json` summary (0.16+); 0.14 prints text only, giving undefined. */
export function parseRestore(stdout: string): RestoreSummary | undefined {
  let summary: RestoreSummary | undefined;
  for (const line of stdout.split('\n')) {
    const o = parseJson(line);
    if (isObj(o) && o.message_type === 'summary') {
      summary = {
        totalFiles: num(o, 'total_files'),
        filesRestored: num(o, 'files_restored'),
        filesSkipped: num(o, 'files_skipped'),
        totalBytes: num(o, 'total_bytes'),
        bytesRestored: num(o, 'bytes_restored'),
      };
    }
  }
  return summary;
}

/** The repository id from `init`: JSON in 0.15+, "created restic repository <10hex> at …" in 0.14. */
export function parseInit(stdout: string): string | undefined {
  for (const line of stdout.split('\n')) {
    const m = parseMessage(line);
    if (m?.type === 'initialized') return m.id;
    const t = /^created restic repository ([0-9a-f]+) at /.exec(cleanLine(line));
    if (t) return t[1];
  }
  return undefined;
}

/** `cat config`: an indented JSON object spread over several lines. */
export function parseConfig(stdout: string): { version: number; id: string } | undefined {
  const start = stdout.indexOf('{');
  const end = stdout.lastIndexOf('}');
  if (start < 0 || end < start) return undefined;
  try {
    const o = JSON.parse(stdout.slice(start, end + 1)) as unknown;
    if (isObj(o) && typeof o.id === 'string') return { version: num(o, 'version'), id: o.id };
  } catch {
    return undefined;
  }
  return undefined;
}

/** `restic version` → "0.14.0" */
export function parseVersionText(stdout: string): string | undefined {
  return /restic (\d+\.\d+\.\d+)/.exec(stdout)?.[1];
}

// ---------------------------------------------------------------- locks

/** A lock file's content (`cat lock <id>`), plus its storage id. */
export interface LockInfo {
  id: string;
  time: string;
  exclusive: boolean;
  /** os.Hostname() of the process that holds it: the pod name in Kubernetes (see locks.ts). */
  hostname: string;
  username: string;
  pid: number;
  uid: number;
  gid: number;
}

export function parseLock(id: string, stdout: string): LockInfo | undefined {
  const start = stdout.indexOf('{');
  const end = stdout.lastIndexOf('}');
  if (start < 0 || end < start) return undefined;
  try {
    const o = JSON.parse(stdout.slice(start, end + 1)) as unknown;
    if (!isObj(o)) return undefined;
    return {
      id,
      time: str(o, 'time') ?? '',
      exclusive: o.exclusive === true,
      hostname: str(o, 'hostname') ?? '',
      username: str(o, 'username') ?? '',
      pid: num(o, 'pid'),
      uid: num(o, 'uid'),
      gid: num(o, 'gid'),
    };
  } catch {
    return undefined;
  }
}

/** `list locks`: one 64-hex id per line. */
export function parseIdList(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => cleanLine(l).trim())
    .filter((l) => /^[0-9a-f]{64}$/.test(l));
}

/** Who holds the lock that blocked us, as restic describes it in the "already locked" message. */
export interface LockHolder {
  pid: number;
  hostname: string;
  username: string;
  uid: number | undefined;
  gid: number | undefined;
  exclusive: boolean;
  /** "2026-11-23 23:10:00" in the holder's local time, as printed */
  createdAt: string | undefined;
  /** "3.55s ago" → "3.55s" */
  age: string | undefined;
  /** First 8 hex of the lock's storage id. */
  storageIdPrefix: string | undefined;
}

export function parseLockHolder(text: string): LockHolder | undefined {
  const m =
    /repository is already locked (exclusively )?by PID (\d+) on (\S+) by (.+?)(?: \(UID (\d+), GID (\d+)\))?\s*$/m.exec(
      text,
    );
  if (!m) return undefined;
  const created = /lock was created at (.+?) \((.+?) ago\)/.exec(text);
  const storage = /storage ID ([0-9a-f]+)/.exec(text);
  return {
    exclusive: m[1] !== undefined,
    pid: Number(m[2]),
    hostname: m[3] ?? '',
    username: m[4] ?? '',
    uid: m[5] === undefined ? undefined : Number(m[5]),
    gid: m[6] === undefined ? undefined : Number(m[6]),
    createdAt: created?.[1],
    age: created?.[2],
    storageIdPrefix: storage?.[1],
  };
}
