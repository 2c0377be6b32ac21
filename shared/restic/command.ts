// The one module that runs the restic binary. Rules it enforces (docs/restic.md §8):
// - argv is an array, never a shell string, and never carries a secret: the repository string (which
//   embeds REST credentials) and every credential travel in the environment;
// - the environment is built from scratch (PATH, HOME, TMPDIR, progress rate, tuning knobs we set,
//   the repository's env): nothing is inherited by accident (a stray RESTIC_HOST would filter snapshots);
// - stdin is closed except for stdin backups, so a missing password fails instead of hanging;
// - cancellation sends SIGINT (the only signal 0.14 cleans up on) and SIGKILL only after a long grace,
//   so restic can remove its lock; whatever restic then exits with, the run counts as cancelled.
import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isAbsolute } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import type { Logger } from 'pino';
import { StashError, ValidationError } from '../errors.ts';
import type { ResolvedRepository } from './backend.ts';
import { ByteTail, startChild, type ProcessPriority } from './child.ts';
import { runProcess, type StdinFeed } from './exec.ts';
import { wasOomKilled, type MemoryCounters } from './memory-cgroup.ts';
import { ACCESS_DENIED, classify } from './classify.ts';
import {
  CancelledError,
  ConsumerFailedError,
  PartialBackupError,
  RepositoryMissingError,
  ResticFailedError,
  RetentionPolicyError,
  type ResticError,
} from './errors.ts';
import {
  checkFoundErrors,
  cleanLine,
  parseCheck,
  parseConfig,
  parseForget,
  parseIdList,
  parseInit,
  parseLock,
  parseMessage,
  parseRestore,
  parseSnapshots,
  parseStats,
  parseVersionText,
  type BackupFileError,
  type BackupResult,
  type BackupStatus,
  type BackupSummary,
  type CheckResult,
  type ForgetGroup,
  type LockInfo,
  type RestoreSummary,
  type Snapshot,
  type Stats,
} from './output.ts';
import { directLockRemover } from './lock-remover.ts';
import { makeRedactor } from './redact.ts';
import { keepsOnlyByTag, retentionFlags, type RetentionPolicy } from './retention.ts';
import { parseVersion, type ResticVersion } from './version.ts';

export type { StdinFeed };

export interface ResticOptions {
  repo: ResolvedRepository;
  /** restic binary; default "restic" from PATH */
  bin?: string;
  /** `--cache-dir DIR` (+ `--cleanup-cache`), or false for `--no-cache`. */
  cache: { dir: string; cleanup?: boolean } | false;
  /** HOME for restic (it never needs a real one); default TMPDIR */
  home?: string;
  /** Where restic puts temporary pack files: needs (connections+1)×16 MiB free. Default os tmpdir. */
  tmpDir?: string;
  /** PATH for restic; default the agent's PATH */
  path?: string;
  /** RESTIC_PROGRESS_FPS; default 1/60 (one status line a minute), as upstream. */
  progressFps?: number;
  /** Non-secret tuning variables we choose to pass (GOMAXPROCS, GOMEMLIMIT, GOGC). */
  extraEnv?: Record<string, string>;
  /** Grace between SIGINT and SIGKILL. restic waits for in-flight backend calls; default 90 s. */
  graceMs?: number;
  /** Default outer timeout of commands that have none of their own; default 6 h. */
  defaultTimeoutMs?: number;
  /** Timeout of probes (version, cat config, list/cat lock); default 60 s. */
  probeTimeoutMs?: number;
  /** Run restic through these (e.g. ["nice", "-n", "10"]); each must exec restic in place. */
  commandPrefix?: string[];
  /** nice / ionice of restic and of every dump producer and restore consumer it is joined with. */
  priority?: ProcessPriority;
  logger?: Logger;
  /**
   * The OOM-kill counter and limit of the container restic runs in (memory-cgroup.ts ownMemoryCounters): read
   * before and after each run, so a run the kernel killed for memory is an OutOfMemoryError naming the limit.
   */
  memory?: MemoryCounters | undefined;
}

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface RunOptions extends CallOptions {
  /** Global flags such as --no-lock go here, before the sub-command. */
  noLock?: boolean;
  /** Feed restic's stdin (stdin backups only). */
  stdin?: StdinFeed;
  /** Every stdout/stderr line as it arrives. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Exit codes that are not failures for this command (e.g. 3 for backup). */
  okExitCodes?: number[];
  /**
   * Raw stdout goes into this stream (with backpressure) instead of being read as lines: `dump`.
   * It is never ended here; when it breaks, or the run is stopped, restic's further output is discarded
   * so restic cannot block on a full pipe.
   */
  stdoutSink?: Writable;
  /** Keep only stdout lines this returns true for (backup drops its status lines). */
  keepStdout?: (line: string) => boolean;
  /**
   * Stop restic as soon as a stderr line matches: for failures 0.17+ would otherwise retry for up to
   * 15 minutes although they are permanent (a missing S3 bucket). The run is then classified from its
   * output, not as cancelled.
   */
  failFast?: RegExp;
}

export interface RunResult {
  exitCode: number | undefined;
  signal: string | undefined;
  stdout: string;
  stderrLines: string[];
  durationMs: number;
  stoppedBy: 'aborted' | 'timeout' | 'producer-failed' | 'fail-fast' | undefined;
  /** The failure, if any (also set for allowed exit codes' siblings); see `okExitCodes`. */
  error: ResticError | undefined;
  producerError: unknown;
  /** Bytes restic wrote to `stdoutSink` (sink runs only). */
  stdoutBytes?: number;
}

export interface BackupOptions extends CallOptions {
  /** Stable snapshot host (hostFor, docs/api.md §12). */
  host: string;
  tags?: string[];
  excludes?: string[];
  /** Extra restic backup flags from the user (e.g. --one-file-system); never secrets. */
  args?: string[];
  onProgress?: (s: BackupStatus) => void;
}

export interface StdinBackupOptions extends BackupOptions {
  /** Name of the file inside the snapshot (path becomes /<filename>). */
  filename: string;
}

export interface SnapshotFilter {
  host?: string | string[];
  paths?: string[];
  /** Each entry is one --tag: "a,b" needs both tags, separate entries mean either. */
  tags?: string[];
  ids?: string[];
}

export interface RestoreOptions extends CallOptions {
  target?: string;
  host?: string;
  paths?: string[];
  tags?: string[];
  include?: string[];
  exclude?: string[];
  verify?: boolean;
  /** Take no lock: for a repository this process may only read (a read-only mount). */
  noLock?: boolean;
  onProgress?: (line: Record<string, unknown>) => void;
}

/** A process run without a shell; `env` is its whole environment (default: only PATH). */
export interface ConsumerCommand {
  file: string;
  args: string[];
  env?: Record<string, string>;
}

export interface DumpOptions extends CallOptions {
  /** Snapshot host for `latest` (ignored for explicit ids, which are unambiguous). */
  host?: string;
}

export interface ForgetOptions extends CallOptions {
  host?: string;
  paths?: string[];
  tags?: string[];
  /** restic's --group-by; default host,paths */
  groupBy?: string;
}

export interface ForgetResult {
  groups: ForgetGroup[];
  kept: Snapshot[];
  removed: Snapshot[];
  dryRun: boolean;
  pruned: boolean;
}

/** Sub-commands that take a lock (docs/restic.md §4.1) unless run with --no-lock. */
const LOCKING = new Set([
  'backup',
  'restore',
  'snapshots',
  'stats',
  'ls',
  'find',
  'diff',
  'dump',
  'cat',
  'list',
  'mount',
  'copy',
  'key',
  'prune',
  'forget',
  'check',
  'tag',
  'migrate',
  'rebuild-index',
  'repair',
  'rewrite',
  'recover',
]);
/** Retried by 0.17+ for 15 minutes, yet permanent: the bucket is not there (init would create it). */
const PERMANENT_MISSING = /The specified bucket does not exist|NoSuchBucket/;
/**
 * Lines after which no retry can succeed: a missing bucket, or the backend refusing our credentials
 * (0.17+ retries a wrong S3 secret for 15 minutes). Every run stops at them and is classified from them.
 */
const PERMANENT = new RegExp([PERMANENT_MISSING.source, ACCESS_DENIED.source].join('|'));
const HOUR = 3_600_000;
/** Between SIGTERM and SIGKILL for processes we feed or read (database clients exit at once on TERM). */
const CHILD_GRACE_MS = 10_000;
/** Consumer env values under such names are masked in its stderr tail (PGPASSWORD, MYSQL_PWD…). */
const SECRET_ENV_NAME = /PASS|PWD|SECRET|TOKEN|KEY|CREDENTIAL|AUTH/i;

/** Env keys we never take from `extraEnv`: they belong to the repository or would change restic's meaning. */
const RESERVED_ENV = /^(RESTIC_|AWS_|AZURE_|GOOGLE_|B2_|OS_|ST_)|^(PATH|HOME|TMPDIR)$/;

export class Restic {
  readonly repo: ResolvedRepository;
  private readonly opts: ResticOptions;
  private versionCache: ResticVersion | undefined;
  private readonly log: Logger | undefined;

  constructor(opts: ResticOptions) {
    this.opts = opts;
    this.repo = opts.repo;
    this.log = opts.logger?.child({ repository: opts.repo.display });
    for (const k of Object.keys(opts.extraEnv ?? {})) {
      if (RESERVED_ENV.test(k))
        throw new ValidationError('extraEnv', `${k} is set by the wrapper and cannot be overridden`);
    }
  }

  /**
   * Who a lock written by restic run from this process names: os.Hostname() (restic has no flag or
   * env for it) and the restic child's pid. In a pod the hostname is the pod name (or spec.hostname,
   * or the node name with hostNetwork), which is what lets the agent decide a holder is gone.
   */
  static lockHostname(): string {
    return hostname();
  }

  /** The child environment: built from scratch, see the header comment. */
  buildEnv(): Record<string, string> {
    const tmp = this.opts.tmpDir ?? process.env.TMPDIR ?? '/tmp';
    const env: Record<string, string> = {
      PATH: this.opts.path ?? process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: this.opts.home ?? tmp,
      TMPDIR: tmp,
      RESTIC_PROGRESS_FPS: String(this.opts.progressFps ?? 1 / 60),
      ...this.opts.extraEnv,
      ...this.repo.env,
    };
    return env;
  }

  /** Global flags: --json, cache, TLS, connections, and --no-lock when asked. */
  globalArgs(noLock: boolean): string[] {
    const g = ['--json'];
    if (noLock) g.push('--no-lock');
    if (this.opts.cache === false) g.push('--no-cache');
    else {
      g.push('--cache-dir', this.opts.cache.dir);
      if (this.opts.cache.cleanup) g.push('--cleanup-cache');
    }
    g.push(...this.repo.globalArgs);
    return g;
  }

  /** The full argv (after the binary) for a sub-command: globals first, so a trailing `--` stays last. */
  argv(args: string[], noLock = false): string[] {
    return [...this.globalArgs(noLock), ...args];
  }

  async version(opts: CallOptions = {}): Promise<ResticVersion> {
    if (this.versionCache) return this.versionCache;
    const r = await this.exec(['version'], { ...opts, timeoutMs: opts.timeoutMs ?? this.probeTimeout() });
    if (r.error) throw r.error;
    const v = parseVersion(parseVersionText(r.stdout) ?? '');
    if (!v)
      throw new ResticFailedError(
        `cannot parse restic version from ${JSON.stringify(r.stdout.slice(0, 100))}`,
        details('version', r),
      );
    this.versionCache = v;
    return v;
  }

  /**
   * Runs restic with `args` and returns the outcome; never throws for restic failures (see `error`).
   * This is the only place that starts the binary: the process is run by exec.ts, its end is
   * classified by classify.ts.
   */
  async exec(args: string[], o: RunOptions = {}): Promise<RunResult> {
    const command = args[0] ?? '';
    const argv = this.argv(args, o.noLock === true);
    const base: Omit<RunResult, 'error'> = {
      exitCode: undefined,
      signal: undefined,
      stdout: '',
      stderrLines: [],
      durationMs: 0,
      stoppedBy: undefined,
      producerError: undefined,
    };
    if (o.signal?.aborted) {
      return {
        ...base,
        stoppedBy: 'aborted',
        error: new CancelledError(`restic ${command} cancelled before it started`, details(command, base), 'aborted'),
      };
    }
    const bin = this.opts.bin ?? 'restic';
    const prefix = this.opts.commandPrefix ?? [];
    this.log?.debug({ command, argv }, 'restic start');
    const oomBefore = this.opts.memory?.oomKills();
    const run = await runProcess({
      file: prefix[0] ?? bin,
      args: prefix.length > 0 ? [...prefix.slice(1), bin, ...argv] : argv,
      env: this.buildEnv(),
      graceMs: this.opts.graceMs ?? 90_000,
      priority: this.opts.priority,
      timeoutMs: o.timeoutMs ?? this.opts.defaultTimeoutMs ?? 6 * HOUR,
      signal: o.signal,
      stdin: o.stdin,
      stdoutSink: o.stdoutSink,
      keepStdout: o.keepStdout,
      onLine: o.onLine,
      failFast: o.failFast ?? PERMANENT,
      onStop: (reason) => this.log?.info({ command, reason }, 'restic stop'),
      onLineError: (err) => this.log?.warn({ err }, 'restic line handler failed'),
    });
    const { pid, spawnError, stdoutBytes, ...rest } = run;
    const out: Omit<RunResult, 'error'> = { ...rest, ...(o.stdoutSink ? { stdoutBytes } : {}) };
    if (spawnError) {
      // binary missing, EACCES
      return {
        ...out,
        error: new ResticFailedError(
          `cannot run restic ${command}: ${this.repo.redact(spawnError.message)}`,
          details(command, out),
        ),
      };
    }
    const { stoppedBy, producerError } = out;
    const interrupted =
      (stoppedBy !== undefined && stoppedBy !== 'fail-fast') || out.signal !== undefined || out.exitCode === 130;
    if (interrupted && !o.noLock && pid !== undefined && LOCKING.has(command)) await this.removeOwnLocks(pid);
    let error: ResticError | undefined;
    if (!(out.exitCode !== undefined && (o.okExitCodes ?? []).includes(out.exitCode) && !stoppedBy)) {
      // fail-fast stops are classified from restic's output, not as cancelled
      const failFast = stoppedBy === 'fail-fast';
      const oomKilled =
        this.opts.memory !== undefined &&
        wasOomKilled(oomBefore, out.signal === 'SIGKILL' ? this.opts.memory.oomKills() : oomBefore, {
          signal: out.signal,
          stoppedByUs: stoppedBy !== undefined,
        });
      error = classify({
        command,
        exitCode: failFast ? undefined : out.exitCode,
        signal: failFast ? undefined : out.signal,
        stderrLines: out.stderrLines,
        stoppedBy: failFast ? undefined : stoppedBy,
        redact: this.repo.redact,
        backend: this.repo.kind,
        oomKilled: oomKilled ? { limitBytes: this.opts.memory?.limitBytes() } : undefined,
      });
      if (error && stoppedBy === 'producer-failed' && producerError !== undefined) {
        error = new CancelledError(
          `restic ${command}: the data producer failed (${this.repo.redact(errText(producerError))}); no snapshot was kept`,
          details(command, out, this.repo.redact),
          'producer-failed',
          { cause: producerError },
        );
      }
    }
    this.log?.[error ? 'warn' : 'debug'](
      { command, exitCode: out.exitCode, signal: out.signal, ms: out.durationMs, code: error?.code },
      'restic done',
    );
    return { ...out, error };
  }

  /**
   * Removes the locks of a restic child that is now dead. restic 0.14 registers a lock for its SIGINT
   * cleanup only after creating it and re-checking 200 ms later, so an interrupt in that window (and
   * any SIGKILL) leaves the lock behind. The pid is our own exited child and the hostname ours, so the
   * holder is provably gone; the lock is deleted through the backend (locks.ts), never with --remove-all.
   */
  private async removeOwnLocks(pid: number): Promise<void> {
    const remover = directLockRemover(this.repo.access);
    if (!remover) {
      this.log?.warn({ pid }, 'interrupted restic may have left a lock; this backend has no direct lock removal');
      return;
    }
    try {
      const me = Restic.lockHostname();
      for (const lock of await this.locks({ timeoutMs: this.probeTimeout() })) {
        if (lock.pid === pid && lock.hostname === me) {
          this.log?.info({ lock: lock.id.slice(0, 8), pid }, 'removing lock left by interrupted restic');
          await remover(lock);
        }
      }
    } catch (err) {
      this.log?.warn({ err, pid }, 'could not clean up locks of interrupted restic');
    }
  }

  private probeTimeout(): number {
    return this.opts.probeTimeoutMs ?? 60_000;
  }

  private async run(args: string[], o: RunOptions = {}): Promise<RunResult> {
    const r = await this.exec(args, o);
    if (r.error) throw r.error;
    return r;
  }

  // ------------------------------------------------------------ repository

  /** True when the repository exists and opens with our password; false only on a confirmed "not exist". */
  async exists(opts: CallOptions = {}): Promise<boolean> {
    const r = await this.exec(['cat', 'config'], {
      ...opts,
      noLock: true,
      timeoutMs: opts.timeoutMs ?? this.probeTimeout(),
      failFast: PERMANENT,
    });
    if (!r.error) {
      if (!parseConfig(r.stdout)) throw new ResticFailedError('restic cat config printed no config', details('cat', r));
      return true;
    }
    if (r.error instanceof RepositoryMissingError) return false;
    throw r.error;
  }

  /** `init`; returns the repository id. */
  async init(opts: CallOptions = {}): Promise<string | undefined> {
    const r = await this.run(['init'], { ...opts, timeoutMs: opts.timeoutMs ?? 5 * 60_000 });
    return parseInit(r.stdout);
  }

  /**
   * Initialises the repository unless it exists. A concurrent init by someone else (the config appeared
   * between our probe and our init) counts as "exists". Callers serialise inits per repository.
   */
  async initIfMissing(opts: CallOptions = {}): Promise<{ created: boolean; id: string | undefined }> {
    if (await this.exists(opts)) return { created: false, id: undefined };
    const r = await this.exec(['init'], { ...opts, timeoutMs: opts.timeoutMs ?? 5 * 60_000 });
    if (!r.error) return { created: true, id: parseInit(r.stdout) };
    if (r.error.stderrTail.some((l) => /config file already exists|already initialized/.test(l))) {
      if (await this.exists(opts)) return { created: false, id: undefined };
    }
    throw r.error;
  }

  // ------------------------------------------------------------ backup

  async backup(paths: string[], o: BackupOptions): Promise<BackupResult> {
    if (paths.length === 0) throw new ValidationError('paths', 'nothing to back up');
    for (const p of paths) {
      if (!isAbsolute(p))
        throw new ValidationError('paths', `backup path ${p} must be absolute (snapshot paths must be stable)`);
      // restic only warns about a missing path and exits 0 (0.14–0.18): a "successful" backup of nothing.
      await stat(p).catch((err: NodeJS.ErrnoException) => {
        throw new ValidationError('paths', `backup path ${p} is not accessible: ${err.code ?? err.message}`);
      });
    }
    const args = ['backup', ...this.backupFlags(o), '--', ...paths];
    return this.runBackup(args, o);
  }

  /**
   * Backs up a stream (a database dump) as one file. restic cannot see the producer's exit status, so
   * its stdin is closed only after the producer both ended its stream and reported success; on a
   * producer failure restic is interrupted first, then its stdin closed, and no snapshot is written.
   */
  async backupStdin(feed: StdinFeed, o: StdinBackupOptions): Promise<BackupResult> {
    if (!o.filename || o.filename.includes('/'))
      throw new ValidationError('filename', 'stdin file name must be a plain file name');
    const args = ['backup', ...this.backupFlags(o), '--stdin', '--stdin-filename', o.filename];
    return this.runBackup(args, o, feed);
  }

  /**
   * Starts `file args` (no shell) and backs up its stdout; a non-zero exit fails the backup. The two
   * processes are joined by piping the producer's stdout into restic's stdin — not with execa's
   * `.pipe()`, which (like a shell) ends the destination's stdin when the source ends: restic 0.14 then
   * writes a snapshot of a dump that failed half-way. Here restic's stdin ends only after the producer
   * exited 0 (exec.ts).
   */
  async backupCommand(
    cmd: { file: string; args: string[]; env?: Record<string, string> },
    o: StdinBackupOptions,
  ): Promise<BackupResult> {
    const stopProducer = new AbortController();
    const onAbort = () => stopProducer.abort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const producer = startChild({
      file: cmd.file,
      args: cmd.args,
      env: cmd.env ?? { PATH: this.buildEnv().PATH ?? '' },
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      stopSignal: 'SIGTERM',
      graceMs: CHILD_GRACE_MS,
      signal: stopProducer.signal,
      priority: this.opts.priority,
    });
    const { stdout, stderr } = producer;
    const errTail = new ByteTail(64 * 1024);
    stderr?.on('data', (c: Buffer) => errTail.push(c));
    const done = producer.done.then((r) => {
      o.signal?.removeEventListener('abort', onAbort);
      if (r.spawnError)
        throw new StashError('RESTIC_PRODUCER_FAILED', `cannot run ${cmd.file}: ${r.spawnError.message}`, {
          cause: r.spawnError,
        });
      if (r.exitCode === 0) return undefined;
      const tail = errTail.text().replace(/\n$/, '').split('\n').slice(-3).join(' | ');
      throw new StashError(
        'RESTIC_PRODUCER_FAILED',
        `${cmd.file} failed (${r.exitCode !== undefined ? `exit code ${r.exitCode}` : `signal ${r.signal ?? '?'}`})${tail ? `: ${tail}` : ''}`,
      );
    });
    try {
      // A producer that could not start has no stdout: an empty stream whose `done` rejects.
      return await this.backupStdin({ source: stdout ?? Readable.from([]), done }, o);
    } finally {
      if (!producer.hasExited) stopProducer.abort();
      await done.catch(() => undefined);
    }
  }

  private backupFlags(o: BackupOptions): string[] {
    if (!o.host) throw new ValidationError('host', 'backup needs a stable --host');
    const f = ['--host', o.host];
    for (const t of o.tags ?? []) f.push('--tag', t);
    for (const e of o.excludes ?? []) f.push('--exclude', e);
    f.push(...(o.args ?? []));
    return f;
  }

  private async runBackup(args: string[], o: BackupOptions, stdin?: StdinFeed): Promise<BackupResult> {
    let summary: BackupSummary | undefined;
    const errors: BackupFileError[] = [];
    const r = await this.exec(args, {
      signal: o.signal,
      timeoutMs: o.timeoutMs,
      stdin,
      okExitCodes: [3],
      // restic 0.18 retries a missing S3 bucket for ~15 minutes; a backup into a repository that is not
      // there yet must fail at once (as RepositoryMissing) so the caller can initialise it.
      failFast: PERMANENT,
      keepStdout: () => false,
      onLine: (line) => {
        const m = parseMessage(line);
        if (!m) return;
        if (m.type === 'status') o.onProgress?.(m.status);
        else if (m.type === 'summary') summary = m.summary;
        else if (m.type === 'error') errors.push(m.error);
      },
    });
    if (r.error) {
      // Defence in depth: a snapshot of a failed producer's stream must not survive.
      if (r.stoppedBy === 'producer-failed' && summary?.snapshotId && !summary.dryRun) {
        await this.forgetIds([summary.snapshotId]).catch((err: unknown) =>
          this.log?.error({ err }, 'could not forget snapshot of failed producer'),
        );
      }
      throw r.error;
    }
    if (!summary)
      throw new ResticFailedError('restic backup printed no summary', details('backup', r, this.repo.redact));
    const result: BackupResult = { summary, snapshotId: summary.dryRun ? undefined : summary.snapshotId, errors };
    if (r.exitCode === 3) {
      const first = errors.find((e) => e.during === 'archival') ?? errors[0];
      throw new PartialBackupError(
        `restic backup: snapshot ${result.snapshotId ?? '?'} was written, but ${errors.length || 'some'} file(s) could not be read${first ? `, e.g. ${first.item}: ${first.message}` : ''}`,
        details('backup', r, this.repo.redact),
        result,
      );
    }
    return result;
  }

  // ------------------------------------------------------------ queries

  async snapshots(f: SnapshotFilter = {}, opts: CallOptions = {}): Promise<Snapshot[]> {
    const args = ['snapshots', ...filterFlags(f), ...(f.ids ?? [])];
    const r = await this.run(args, { ...opts, noLock: true, timeoutMs: opts.timeoutMs ?? 10 * 60_000 });
    return parseSnapshots(r.stdout);
  }

  /** `stats --json`; raw-data mode is what Repository.status.totalSize reports. */
  async stats(
    o: CallOptions & { mode?: 'restore-size' | 'raw-data'; snapshot?: string; filter?: SnapshotFilter } = {},
  ): Promise<Stats> {
    const args = ['stats', '--mode', o.mode ?? 'raw-data', ...filterFlags(o.filter ?? {})];
    if (o.snapshot) args.push(o.snapshot);
    const r = await this.run(args, { ...o, noLock: true, timeoutMs: o.timeoutMs ?? 30 * 60_000 });
    return parseStats(r.stdout);
  }

  /**
   * `check` (exclusive lock). A repository with errors is a result (`ok: false`), not an exception;
   * locks, auth and network problems still throw.
   */
  async check(o: CallOptions & { readDataSubset?: string; withCache?: boolean } = {}): Promise<CheckResult> {
    const args = ['check'];
    if (o.readDataSubset) args.push('--read-data-subset', o.readDataSubset);
    if (o.withCache) args.push('--with-cache');
    const r = await this.exec(args, { ...o, timeoutMs: o.timeoutMs ?? 6 * HOUR });
    if (r.error && !(r.exitCode === 1 && checkFoundErrors(r.stdout, r.stderrLines.join('\n')) && !r.stoppedBy))
      throw r.error;
    return parseCheck(r.stdout, r.stderrLines.map(this.repo.redact), r.exitCode);
  }

  /** `restore <id|latest> --target DIR` (default `/`, i.e. in place, since paths are restored in full). */
  async restore(snapshot: string, o: RestoreOptions = {}): Promise<RestoreSummary | undefined> {
    if (!/^([0-9a-f]{4,64}|latest)$/.test(snapshot))
      throw new ValidationError('snapshot', `not a snapshot id: ${JSON.stringify(snapshot)}`);
    if ((o.include?.length ?? 0) > 0 && (o.exclude?.length ?? 0) > 0)
      throw new ValidationError('include', 'restic restore takes --include or --exclude, not both');
    const target = o.target ?? '/';
    if (!isAbsolute(target)) throw new ValidationError('target', 'restore target must be absolute');
    const args = ['restore', snapshot, '--target', target];
    if (o.host) args.push('--host', o.host);
    for (const p of o.paths ?? []) args.push('--path', p);
    for (const t of o.tags ?? []) args.push('--tag', t);
    for (const i of o.include ?? []) args.push('--include', i);
    for (const e of o.exclude ?? []) args.push('--exclude', e);
    if (o.verify) args.push('--verify');
    const r = await this.run(args, {
      ...o,
      timeoutMs: o.timeoutMs ?? 6 * HOUR,
      onLine: o.onProgress
        ? (line, stream) => {
            if (stream !== 'stdout') return;
            const m = parseJsonObject(line);
            if (m?.message_type === 'status') o.onProgress?.(m);
          }
        : undefined,
    });
    return parseRestore(r.stdout);
  }

  /**
   * Streams one file of a snapshot (a stdin backup's dump) into a process's stdin: `restic dump`'s raw
   * stdout is piped, with backpressure, into `cmd` (no shell; its env is exactly `cmd.env`). The consumer's
   * stdin is closed only after restic exited successfully, so it never sees a clean end of a truncated
   * stream (psql would commit it); when restic fails the consumer is terminated instead. When the
   * consumer exits or stops reading first, restic is interrupted. The consumer runs in its own process
   * group so that `sh -c` wrappers are terminated with what they started.
   */
  async dumpToCommand(
    snapshot: string,
    file: string,
    cmd: ConsumerCommand,
    o: DumpOptions = {},
  ): Promise<{ bytes: number }> {
    if (!/^([0-9a-f]{4,64}|latest)$/.test(snapshot))
      throw new ValidationError('snapshot', `not a snapshot id: ${JSON.stringify(snapshot)}`);
    if (!file || file.includes('\0')) throw new ValidationError('file', 'the file inside the snapshot is required');
    if (!cmd.file) throw new ValidationError('cmd.file', 'consumer command is required');
    // Stdin backups live at /<filename>; a leading slash also keeps the path from ever reading as a flag.
    const path = file.startsWith('/') ? file : `/${file}`;
    const args = ['dump'];
    if (o.host && snapshot === 'latest') args.push('--host', o.host);
    args.push(snapshot, path);
    const none = { exitCode: undefined, signal: undefined, stderrLines: [] };
    if (o.signal?.aborted)
      throw new CancelledError('restic dump cancelled before it started', details('dump', none), 'aborted');

    const secretValues = Object.entries(cmd.env ?? {})
      .filter(([k]) => SECRET_ENV_NAME.test(k))
      .map(([, v]) => v);
    const maskEnv = makeRedactor(secretValues);
    const mask = (line: string) => this.repo.redact(maskEnv(cleanLine(line)));
    const stopConsumer = new AbortController();
    const child = startChild({
      file: cmd.file,
      args: cmd.args,
      env: cmd.env ?? { PATH: this.buildEnv().PATH ?? '' },
      stdin: 'pipe',
      stdout: 'ignore',
      stderr: 'pipe',
      group: true,
      stopSignal: 'SIGTERM',
      graceMs: CHILD_GRACE_MS,
      signal: stopConsumer.signal,
      priority: this.opts.priority,
    });
    if (child.pid === undefined || !child.stdin || !child.stderr) {
      const { spawnError } = await child.done;
      const msg = spawnError?.message ?? 'no pid';
      throw new ConsumerFailedError(
        `cannot run ${cmd.file}: ${mask(msg)}`,
        { file: cmd.file, exitCode: undefined, signal: undefined, stderrTail: [] },
        { cause: spawnError },
      );
    }
    const consumer = { stdin: child.stdin, stderr: child.stderr };
    const errTail = new ByteTail(16 * 1024);
    consumer.stderr.on('data', (c: Buffer) => errTail.push(c));
    const stderrClosed = new Promise<void>((resolve) => consumer.stderr.once('close', resolve));
    // The leader's exit, not the group's: a grandchild that escaped the group must not keep us waiting.
    const exited = child.exited;
    this.log?.debug({ command: 'dump', consumer: cmd.file }, 'restic dump into consumer');

    let streaming = true;
    let consumerExited = false;
    /** The consumer exited or refused its input while restic was still streaming. */
    let consumerEarly = false;
    let terminated = false;
    let timedOut = false;
    const ac = new AbortController();
    const terminate = () => {
      if (terminated) return;
      terminated = true;
      stopConsumer.abort();
    };
    void exited.then(() => {
      consumerExited = true;
      if (streaming && !terminated) {
        consumerEarly = true;
        ac.abort();
      }
    });
    consumer.stdin.on('error', () => {
      // EPIPE: the consumer closed its stdin (or died). restic must not keep streaming into nothing.
      if (streaming && !terminated) {
        consumerEarly = true;
        ac.abort();
        terminate();
      }
    });
    const onAbort = () => {
      ac.abort();
      terminate();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const timeoutMs = o.timeoutMs ?? this.opts.defaultTimeoutMs ?? 6 * HOUR;
    const deadline = setTimeout(() => {
      timedOut = true;
      ac.abort();
      terminate();
    }, timeoutMs);

    let r: RunResult;
    try {
      r = await this.exec(args, { signal: ac.signal, timeoutMs, stdoutSink: consumer.stdin });
    } finally {
      streaming = false;
    }
    if (!r.error && !consumerEarly && !consumerExited) consumer.stdin.end();
    else terminate();
    const ex = await exited;
    await Promise.race([stderrClosed, new Promise((resolve) => setTimeout(resolve, 1000))]);
    clearTimeout(deadline);
    o.signal?.removeEventListener('abort', onAbort);
    consumer.stdin.destroy();
    consumer.stderr.destroy();

    const tail = errTail
      .text()
      .split('\n')
      .map(mask)
      .filter((l) => l.trim() !== '')
      .slice(-20);
    const d = { file: cmd.file, exitCode: ex.exitCode, signal: ex.signal, stderrTail: tail };
    const how = ex.exitCode !== undefined ? `exit code ${ex.exitCode}` : `signal ${ex.signal ?? '?'}`;
    const said = tail.length > 0 ? `: ${tail.slice(-3).join(' | ')}` : '';
    if (o.signal?.aborted) {
      throw r.error instanceof CancelledError
        ? r.error
        : new CancelledError(`restic dump into ${cmd.file} cancelled`, details('dump', r, this.repo.redact), 'aborted');
    }
    if (timedOut || (r.error instanceof CancelledError && r.error.reason === 'timeout')) {
      throw new CancelledError(
        `restic dump into ${cmd.file} timed out after ${timeoutMs} ms`,
        details('dump', r, this.repo.redact),
        'timeout',
      );
    }
    if (consumerEarly) {
      const what =
        ex.exitCode === 0
          ? `exited before the end of the stream (${r.stdoutBytes ?? 0} bytes streamed)`
          : `failed (${how})`;
      throw new ConsumerFailedError(`${cmd.file} ${what}${said}`, d, { cause: r.error });
    }
    if (r.error) throw r.error;
    if (ex.exitCode !== 0) throw new ConsumerFailedError(`${cmd.file} failed (${how})${said}`, d);
    return { bytes: r.stdoutBytes ?? 0 };
  }

  // ------------------------------------------------------------ retention

  /**
   * Applies a retention policy (docs/api.md §2.8): validated first (no negative counts, at least one
   * keep rule), and when only keepTags could keep anything, a dry run must show every group keeps a
   * snapshot. With `prune`, prune runs as its own command after a forget that removed something.
   */
  async forget(policy: RetentionPolicy, o: ForgetOptions = {}): Promise<ForgetResult> {
    const flags = [...retentionFlags(policy), ...filterFlags({ host: o.host, paths: o.paths, tags: o.tags })];
    if (o.groupBy !== undefined) flags.push('--group-by', o.groupBy);
    const dryRun = policy.dryRun === true;
    const timeoutMs = o.timeoutMs ?? HOUR;
    if (!dryRun && keepsOnlyByTag(policy)) {
      const preview = await this.run(['forget', '--dry-run', ...flags], { ...o, noLock: true, timeoutMs });
      const emptied = parseForget(preview.stdout).filter((g) => g.keep.length === 0 && g.remove.length > 0);
      if (emptied.length > 0) {
        const g = emptied[0]!;
        throw new RetentionPolicyError(
          `retention policy refused: it would remove every snapshot of host ${g.host} paths ${g.paths.join(',')} (no snapshot carries the kept tags)`,
        );
      }
    }
    const r = await this.run(['forget', ...(dryRun ? ['--dry-run'] : []), ...flags], {
      ...o,
      noLock: dryRun,
      timeoutMs,
    });
    const groups = parseForget(r.stdout);
    const kept = groups.flatMap((g) => g.keep);
    const removed = groups.flatMap((g) => g.remove);
    let pruned = false;
    if (policy.prune && !dryRun && removed.length > 0) {
      await this.prune({ signal: o.signal, timeoutMs: o.timeoutMs });
      pruned = true;
    }
    return { groups, kept, removed, dryRun, pruned };
  }

  /** Removes these snapshots (explicit ids; restic prints nothing for this form). */
  async forgetIds(ids: string[], opts: CallOptions = {}): Promise<void> {
    if (ids.length === 0) return;
    for (const id of ids)
      if (!/^[0-9a-f]{4,64}$/.test(id)) throw new ValidationError('ids', `not a snapshot id: ${JSON.stringify(id)}`);
    await this.run(['forget', ...ids], { ...opts, timeoutMs: opts.timeoutMs ?? HOUR });
  }

  async prune(o: CallOptions & { maxUnused?: string } = {}): Promise<void> {
    const args = ['prune'];
    if (o.maxUnused) args.push('--max-unused', o.maxUnused);
    await this.run(args, { ...o, timeoutMs: o.timeoutMs ?? 6 * HOUR });
  }

  // ------------------------------------------------------------ locks

  async listLocks(opts: CallOptions = {}): Promise<string[]> {
    const r = await this.run(['list', 'locks'], {
      ...opts,
      noLock: true,
      timeoutMs: opts.timeoutMs ?? this.probeTimeout(),
    });
    return parseIdList(r.stdout);
  }

  /** A lock's content; undefined when it vanished meanwhile (locks are rewritten on refresh). */
  async catLock(id: string, opts: CallOptions = {}): Promise<LockInfo | undefined> {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new ValidationError('id', `not a lock id: ${JSON.stringify(id)}`);
    // 0.14 retries a vanished lock for about a minute: a short timeout plus the "not found" text decide.
    const r = await this.exec(['cat', 'lock', id], { ...opts, noLock: true, timeoutMs: opts.timeoutMs ?? 20_000 });
    if (!r.error) return parseLock(id, r.stdout);
    const gone = r.stderrLines.some((l) => /no such file or directory|does not exist|NoSuchKey|not found/i.test(l));
    if (gone && r.stoppedBy !== 'aborted') return undefined;
    throw r.error;
  }

  /** Every current lock with its content (vanished ones skipped). */
  async locks(opts: CallOptions = {}): Promise<LockInfo[]> {
    const out: LockInfo[] = [];
    for (const id of await this.listLocks(opts)) {
      const l = await this.catLock(id, opts);
      if (l) out.push(l);
    }
    return out;
  }

  /**
   * Plain `restic unlock`: removes locks that are stale by restic's own rule (older than 30 min, or
   * same hostname and dead pid). `--remove-all` is deliberately not offered: see locks.ts.
   */
  async unlockStale(opts: CallOptions = {}): Promise<void> {
    await this.run(['unlock'], { ...opts, timeoutMs: opts.timeoutMs ?? 5 * 60_000 });
  }
}

function filterFlags(f: SnapshotFilter): string[] {
  const out: string[] = [];
  const hosts = f.host === undefined ? [] : Array.isArray(f.host) ? f.host : [f.host];
  for (const h of hosts) out.push('--host', h);
  for (const p of f.paths ?? []) out.push('--path', p);
  for (const t of f.tags ?? []) out.push('--tag', t);
  return out;
}

function parseJsonObject(line: string): Record<string, unknown> | undefined {
  const t = line.trim();
  if (!t.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function details(
  command: string,
  r: Pick<RunResult, 'exitCode' | 'signal' | 'stderrLines'>,
  redact: (s: string) => string = (s) => s,
) {
  return {
    command,
    exitCode: r.exitCode,
    signal: r.signal,
    stderrTail: r.stderrLines.slice(-20).map((l) => redact(cleanLine(l))),
  };
}
