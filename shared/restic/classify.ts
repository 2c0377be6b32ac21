// Turns the end of a restic run (exit code, signal, stderr, who stopped it) into one typed error.
// 0.17+ has dedicated exit codes (10 no repository, 11 locked, 12 wrong password); 0.14 exits 1 for all
// of them, so the stderr patterns recorded from 0.14 are the fallback and also back up the codes.
import {
  BackendAccessDeniedError,
  BackendUnreachableError,
  CancelledError,
  LockedError,
  OutOfMemoryError,
  RepositoryMissingError,
  ResticFailedError,
  WrongPasswordError,
  type ResticError,
  type ResticFailureDetails,
} from './errors.ts';
import type { BackendKind } from './backend.ts';
import { oomKilledText } from './memory-cgroup.ts';
import { cleanLine, parseLockHolder, parseMessage } from './output.ts';

export interface RunOutcome {
  /** restic sub-command, for messages */
  command: string;
  exitCode: number | undefined;
  signal: string | undefined;
  stderrLines: string[];
  /** Set when WE stopped the process; then the result is "cancelled" whatever restic exited with. */
  stoppedBy?: 'aborted' | 'timeout' | 'producer-failed' | undefined;
  /** (fail-fast stops are passed as not stopped: they are classified from their output) */
  /** Redacts secrets from any text that ends up in an error. */
  redact?: (s: string) => string;
  /** The backend, to name the Secret keys an access-denied answer points at. */
  backend?: BackendKind;
  /** The kernel OOM-killed it (memory-cgroup.ts wasOomKilled), with the container's limit if it has one. */
  oomKilled?: { limitBytes: number | undefined } | undefined;
}

// Inner errors that mean "nothing there" (docs/restic.md §2.2). The trailing "Is there a repository…" hint is
// printed for network and auth failures too, so it is never used.
const MISSING = new RegExp(
  [
    'repository does not exist',
    'unable to open config file: stat .*: no such file or directory',
    'unable to open config file: .*does not exist',
    'unable to open config file: .*The specified key does not exist',
    'unable to open config file: .*NoSuchKey',
    'unable to open config file: .*object doesn.t exist',
    'unable to open config file: .*BlobNotFound',
    'The specified bucket does not exist',
    'NoSuchBucket',
  ].join('|'),
);

const WRONG_KEY_ID = /InvalidAccessKeyId|Access Key Id you provided does not exist/;
const WRONG_SECRET = /SignatureDoesNotMatch|request signature we calculated does not match/;
export const ACCESS_DENIED = new RegExp(
  [
    '\\((401|403)\\)',
    '\\b401 Unauthorized\\b',
    '\\b403 Forbidden\\b',
    'AccessDenied',
    'Access Denied',
    'AuthorizationHeaderMalformed',
    WRONG_KEY_ID.source,
    WRONG_SECRET.source,
  ].join('|'),
);

/** Which backend Secret keys an access-denied text points at. */
export function secretKeysAtFault(text: string, backend: BackendKind | undefined): string[] {
  if (backend === 'rest') return ['REST_SERVER_USERNAME', 'REST_SERVER_PASSWORD'];
  if (backend !== 's3') return [];
  if (WRONG_KEY_ID.test(text)) return ['AWS_ACCESS_KEY_ID'];
  if (WRONG_SECRET.test(text)) return ['AWS_SECRET_ACCESS_KEY'];
  return ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];
}

const UNREACHABLE =
  /connection refused|no such host|network is unreachable|no route to host|i\/o timeout|TLS handshake|x509:|tls: |certificate signed by unknown authority|connection reset by peer|server misbehaving|context deadline exceeded|dial tcp|dial unix/;

/** All text restic wrote to stderr: plain lines as they are, JSON messages by their `message`. */
export function stderrText(lines: string[]): string[] {
  const out: string[] = [];
  for (const raw of lines) {
    const m = parseMessage(raw);
    if (m?.type === 'exit_error') out.push(...m.message.split('\n'));
    else if (m?.type === 'error') out.push(`${m.error.item ? `${m.error.item}: ` : ''}${m.error.message}`);
    else if (m === undefined) out.push(cleanLine(raw));
  }
  return out.map((l) => l.trimEnd()).filter((l) => l !== '');
}

/** The exit code restic announced in its 0.18 `exit_error` line, if any. */
export function exitErrorCode(lines: string[]): number | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = parseMessage(lines[i] ?? '');
    if (m?.type === 'exit_error') return m.code;
  }
  return undefined;
}

/** The most telling line: the last "Fatal:" line, else the first line of an exit_error, else the last line. */
function headline(text: string[]): string {
  const fatal = [...text].reverse().find((l) => l.startsWith('Fatal:'));
  if (fatal) return fatal.replace(/^Fatal:\s*/, '');
  const locked = text.find((l) => /already locked/.test(l));
  if (locked) return locked;
  return text[text.length - 1] ?? 'no output';
}

/** undefined when the run succeeded (exit 0 and nobody stopped it). */
export function classify(o: RunOutcome): ResticError | undefined {
  const redact = o.redact ?? ((s: string) => s);
  const text = stderrText(o.stderrLines).map(redact);
  const joined = text.join('\n');
  const details: ResticFailureDetails = {
    command: o.command,
    exitCode: o.exitCode,
    signal: o.signal,
    stderrTail: text.slice(-20),
  };
  const what = `restic ${o.command}`;

  if (o.stoppedBy) {
    // A probe that ran into our timeout while restic kept retrying a dead endpoint is "unreachable",
    // which tells the operator far more than "cancelled".
    if (o.stoppedBy === 'timeout' && UNREACHABLE.test(joined)) {
      return new BackendUnreachableError(
        `${what}: backend unreachable (gave up after timeout): ${lastRetryCause(text)}`,
        details,
      );
    }
    const why =
      o.stoppedBy === 'timeout'
        ? 'timed out'
        : o.stoppedBy === 'producer-failed'
          ? 'stopped because the data producer failed'
          : 'cancelled';
    return new CancelledError(`${what} ${why}`, details, o.stoppedBy);
  }
  if (o.exitCode === 0) return undefined;
  if (o.oomKilled && o.signal === 'SIGKILL') {
    const limit = o.oomKilled.limitBytes;
    return new OutOfMemoryError(
      `${oomKilledText(what, limit)}${limit !== undefined ? ': raise runtimeSettings.container.resources.limits.memory' : ''}`,
      details,
      limit,
    );
  }

  const code = o.exitCode ?? exitErrorCode(o.stderrLines);
  const head = headline(text);

  if (code === 130 || (o.exitCode === undefined && (o.signal === 'SIGINT' || o.signal === 'SIGTERM'))) {
    return new CancelledError(`${what} was interrupted by a signal it did not get from us`, details, 'aborted');
  }
  if (code === 11 || /repository is already locked/.test(joined)) {
    const holder = parseLockHolder(joined);
    const who = holder
      ? `${holder.exclusive ? 'exclusively ' : ''}by PID ${holder.pid} on ${holder.hostname}${holder.age ? ` (lock age ${holder.age})` : ''}`
      : 'by another process';
    return new LockedError(`${what}: repository is locked ${who}`, details, holder);
  }
  if (code === 12 || /wrong password or no key found/.test(joined)) {
    return new WrongPasswordError(
      `${what}: wrong password or no key found: check RESTIC_PASSWORD in the backend Secret`,
      details,
    );
  }
  if (code === 10 || MISSING.test(joined)) {
    return new RepositoryMissingError(`${what}: repository does not exist: ${head}`, details);
  }
  if (ACCESS_DENIED.test(joined)) {
    return new BackendAccessDeniedError(
      `${what}: backend refused the credentials: ${head}`,
      details,
      secretKeysAtFault(joined, o.backend),
    );
  }
  if (UNREACHABLE.test(joined)) {
    return new BackendUnreachableError(`${what}: backend unreachable: ${head}`, details);
  }
  const how = o.exitCode !== undefined ? `exit code ${o.exitCode}` : `signal ${o.signal ?? 'unknown'}`;
  return new ResticFailedError(`${what} failed (${how}): ${head}`, details);
}

function lastRetryCause(text: string[]): string {
  const retry = [...text].reverse().find((l) => /returned error, retrying after/.test(l) || UNREACHABLE.test(l));
  if (!retry) return 'no answer';
  return retry.replace(/^.*returned error, retrying after [^:]+:\s*/, '');
}
