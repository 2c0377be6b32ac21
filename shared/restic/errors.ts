// Typed failures of a restic run. Callers branch on the class (or `code`), never on restic's text,
// because that text differs between 0.14 and 0.18 and the classifier is the one place that knows both.
import { StashError } from '../errors.ts';
import type { BackupResult, LockHolder } from './output.ts';

export interface ResticFailureDetails {
  /** The restic sub-command, e.g. "backup" (never the full argv). */
  command: string;
  exitCode: number | undefined;
  signal: string | undefined;
  /** The last stderr lines, ANSI-stripped and with secrets redacted. */
  stderrTail: string[];
}

export class ResticError extends StashError {
  readonly command: string;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly stderrTail: string[];
  constructor(code: string, message: string, details: ResticFailureDetails, options?: { cause?: unknown }) {
    super(code, message, options);
    this.command = details.command;
    this.exitCode = details.exitCode;
    this.signal = details.signal;
    this.stderrTail = details.stderrTail;
  }
}

/** The repository is not initialised at the location (0.17+: exit 10; 0.14: "no such file", 404, NoSuchKey…). */
export class RepositoryMissingError extends ResticError {
  constructor(message: string, d: ResticFailureDetails) {
    super('RESTIC_REPOSITORY_MISSING', message, d);
  }
}

/** No key in the repository opens with RESTIC_PASSWORD (0.17.1+: exit 12). */
export class WrongPasswordError extends ResticError {
  constructor(message: string, d: ResticFailureDetails) {
    super('RESTIC_WRONG_PASSWORD', message, d);
  }
}

/** Another process holds a conflicting lock (0.17+: exit 11). `holder` is parsed from restic's message. */
export class LockedError extends ResticError {
  readonly holder: LockHolder | undefined;
  constructor(message: string, d: ResticFailureDetails, holder: LockHolder | undefined) {
    super('RESTIC_LOCKED', message, d);
    this.holder = holder;
  }
}

/**
 * Exit 3: a snapshot WAS written, but some files could not be read. The result (snapshot id, summary,
 * per-file errors) travels with the error so the caller decides whether that counts as success.
 */
export class PartialBackupError extends ResticError {
  readonly result: BackupResult;
  constructor(message: string, d: ResticFailureDetails, result: BackupResult) {
    super('RESTIC_PARTIAL_BACKUP', message, d);
    this.result = result;
  }
}

/** The backend could not be reached (refused, DNS, TLS, timeouts with retry lines). */
export class BackendUnreachableError extends ResticError {
  constructor(message: string, d: ResticFailureDetails, options?: { cause?: unknown }) {
    super('RESTIC_BACKEND_UNREACHABLE', message, d, options);
  }
}

/** The backend answered but refused our credentials (HTTP 401/403, S3 AccessDenied/InvalidAccessKeyId…). */
export class BackendAccessDeniedError extends ResticError {
  /** The backend Secret's keys to check (e.g. AWS_SECRET_ACCESS_KEY), when the answer tells. */
  readonly secretKeys: string[];
  constructor(message: string, d: ResticFailureDetails, secretKeys: string[] = []) {
    super('RESTIC_BACKEND_ACCESS_DENIED', message, d);
    this.secretKeys = secretKeys;
  }
}

/** We stopped restic: the caller's AbortSignal fired (`reason: 'aborted'`) or the outer timeout did. */
export class CancelledError extends ResticError {
  readonly reason: 'aborted' | 'timeout' | 'producer-failed';
  constructor(
    message: string,
    d: ResticFailureDetails,
    reason: 'aborted' | 'timeout' | 'producer-failed',
    options?: { cause?: unknown },
  ) {
    super('RESTIC_CANCELLED', message, d, options);
    this.reason = reason;
  }
}

/**
 * The kernel's OOM killer ended restic (SIGKILL we did not send, and the container's OOM-kill counter rose
 * while it ran; memory-cgroup.ts). `limitBytes`: the container's memory limit, when it has one.
 */
export class OutOfMemoryError extends ResticError {
  readonly limitBytes: number | undefined;
  constructor(message: string, d: ResticFailureDetails, limitBytes: number | undefined) {
    super('RESTIC_OOM_KILLED', message, d);
    this.limitBytes = limitBytes;
  }
}

/** Anything else: a non-zero exit we have no better name for. */
export class ResticFailedError extends ResticError {
  constructor(message: string, d: ResticFailureDetails, options?: { cause?: unknown }) {
    super('RESTIC_FAILED', message, d, options);
  }
}

/**
 * The process a dump was streamed into (`dumpToCommand`) failed: non-zero exit, a signal we did not
 * send, refusing its input, or exiting before the end of the stream. `stderrTail` is the end of its
 * stderr with secret values masked; its environment is never part of the error.
 */
export class ConsumerFailedError extends StashError {
  readonly file: string;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly stderrTail: string[];
  constructor(
    message: string,
    d: { file: string; exitCode: number | undefined; signal: string | undefined; stderrTail: string[] },
    options?: { cause?: unknown },
  ) {
    super('RESTIC_CONSUMER_FAILED', message, options);
    this.file = d.file;
    this.exitCode = d.exitCode;
    this.signal = d.signal;
    this.stderrTail = d.stderrTail;
  }
}

/** A retention policy that must not reach `restic forget` (no rule, bad counts, would remove everything). */
export class RetentionPolicyError extends StashError {
  constructor(message: string) {
    super('RESTIC_RETENTION_INVALID', message);
  }
}
