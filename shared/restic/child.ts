// The one process runner of the agent: restic, dump producers and consumers, local exec hooks and the
// psql guard's psql all start here, on execa. What every child gets:
// - argv as data (no shell) and exactly the environment given (execa extendEnv: false);
// - cancellation through an AbortSignal (execa cancelSignal): the stop signal, then SIGKILL after a
//   grace (forceKillAfterDelay) — restic needs SIGINT and a long grace to remove its lock;
// - whole-group signals when asked (killDescendants), so a `sh -c` wrapper's children go with it;
// - no child outlives the agent: when the agent exits or is terminated, execa's cleanup sends the stop
//   signal; when it is SIGKILLed (or OOM-killed) no code of ours runs, so every child is started through
//   util-linux `setpriv --pdeathsig KILL`, which makes the kernel kill it when its parent dies.
//   PR_SET_PDEATHSIG fires on the death of the parent THREAD: children are spawned by libuv on the
//   thread that calls spawn, which for the agent is always its main thread (no worker threads spawn),
//   and setpriv execs in place, so the child (restic itself) carries the setting across exec.
//   A hard kill leaves restic's lock behind; the holder-aware lock recovery removes it (its pid is dead).
// - runtimeSettings.container.nice / .ionice as coreutils `nice -n` and util-linux `ionice -c -n` in front
//   of the command, as Stash does: both exec in place, so the setting is made before the child's first
//   instruction and every thread it creates inherits it (Linux niceness is per thread: a setpriority on the
//   pid afterwards would miss the Go runtime's threads already running). docs/restic.md §9.
import { execa, type ResultPromise } from 'execa';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export interface ChildOutcome {
  exitCode: number | undefined;
  signal: string | undefined;
  /** Set when the process could not be started at all (ENOENT, EACCES). */
  spawnError: Error | undefined;
}

export interface ChildSpec {
  file: string;
  args: readonly string[];
  /** The whole environment of the child; nothing is inherited. */
  env: Record<string, string>;
  stdin: 'pipe' | 'ignore' | 'inherit';
  stdout: 'pipe' | 'ignore' | 'inherit';
  stderr: 'pipe' | 'ignore' | 'inherit';
  /** Start it as the leader of its own process group and signal the whole group (execa killDescendants). */
  group?: boolean;
  /**
   * Sent on cancel and when this process exits while the child runs (restic: SIGINT, the only signal
   * 0.14 cleans up on; database clients: SIGTERM).
   */
  stopSignal: NodeJS.Signals;
  /** Between the stop signal and SIGKILL. */
  graceMs: number;
  /** Stops the child (stop signal, SIGKILL after the grace) when it aborts. */
  signal?: AbortSignal;
  /** Have the kernel kill the child when this process dies (default true; see the header). */
  dieWithParent?: boolean;
  /** CPU and I/O scheduling of the child (runtimeSettings.container.nice / .ionice). */
  priority?: ProcessPriority;
}

/** runtimeSettings.container.nice.adjustment and .ionice.{class,classData}. */
export interface ProcessPriority {
  nice?: number | undefined;
  ioClass?: number | undefined;
  ioClassData?: number | undefined;
}

export interface Child {
  readonly pid: number | undefined;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** Settles (never rejects) when the child has exited and its stdio is closed, or could not start. */
  readonly done: Promise<ChildOutcome>;
  /** Resolves when the process itself exited (its stdio may still be open through a grandchild). */
  readonly exited: Promise<ChildOutcome>;
  readonly hasExited: boolean;
  /** Sends the stop signal now and SIGKILL after the grace unless the child is gone by then. */
  stop(): void;
}

/** util-linux setpriv: sets PR_SET_PDEATHSIG and execs the command in place (same pid). */
export const PDEATHSIG_PREFIX = ['setpriv', '--pdeathsig', 'KILL', '--'] as const;

/** The `nice` / `ionice` commands that set a priority and exec the rest in place; empty for none. */
export function priorityPrefix(p: ProcessPriority | undefined): string[] {
  const out: string[] = [];
  if (p?.nice !== undefined) out.push('nice', '-n', String(p.nice));
  if (p?.ioClass !== undefined || p?.ioClassData !== undefined) {
    out.push('ionice');
    if (p.ioClass !== undefined) out.push('-c', String(p.ioClass));
    // The idle class has no level (ionice warns and ignores one).
    if (p.ioClassData !== undefined && p.ioClass !== 3) out.push('-n', String(p.ioClassData));
    out.push('--');
  }
  return out;
}

/** The argv a child really starts with: `file args` behind the parent-death and priority prefixes. */
export function launchArgv(spec: Pick<ChildSpec, 'file' | 'args' | 'dieWithParent' | 'priority'>): {
  file: string;
  args: string[];
} {
  const argv = [
    ...(spec.dieWithParent === false ? [] : PDEATHSIG_PREFIX),
    ...priorityPrefix(spec.priority),
    spec.file,
    ...spec.args,
  ];
  return { file: argv[0]!, args: argv.slice(1) };
}

/** The wrappers a launch goes through before its command (each must be installed: a missing one is a spawn error). */
function wrappersOf(spec: Pick<ChildSpec, 'priority'>): string[] {
  return priorityPrefix(spec.priority).filter((a) => a === 'nice' || a === 'ionice');
}

/**
 * Behind setpriv a missing binary would be setpriv's exit 127; looking it up first keeps "cannot start"
 * a spawn error, as without the prefix (the lookup follows execvp: a name with a slash is a path).
 */
function findExecutable(file: string, path: string | undefined): boolean {
  const candidates = file.includes('/')
    ? [file]
    : (path ?? '')
        .split(delimiter)
        .filter((d) => isAbsolute(d))
        .map((d) => join(d, file));
  return candidates.some((c) => {
    try {
      accessSync(c, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function notStarted(err: Error): Child {
  const failed: ChildOutcome = { exitCode: undefined, signal: undefined, spawnError: err };
  return {
    pid: undefined,
    stdin: null,
    stdout: null,
    stderr: null,
    done: Promise.resolve(failed),
    exited: Promise.resolve(failed),
    hasExited: true,
    stop() {},
  };
}

export function startChild(spec: ChildSpec): Child {
  const { file, args } = launchArgv(spec);
  if (file !== spec.file) {
    for (const f of [...wrappersOf(spec), spec.file]) {
      if (!findExecutable(f, spec.env.PATH))
        return notStarted(Object.assign(new Error(`spawn ${f} ENOENT`), { code: 'ENOENT' }));
    }
  }
  const local = new AbortController();
  const onAbort = () => local.abort();
  if (spec.signal?.aborted) local.abort();
  else spec.signal?.addEventListener('abort', onAbort, { once: true });
  let proc: ResultPromise;
  try {
    proc = execa(file, args, {
      env: spec.env,
      extendEnv: false,
      stdin: spec.stdin,
      stdout: spec.stdout,
      stderr: spec.stderr,
      buffer: false,
      reject: false,
      encoding: 'buffer',
      stripFinalNewline: false,
      cleanup: true,
      killSignal: spec.stopSignal,
      forceKillAfterDelay: spec.graceMs,
      killDescendants: spec.group === true,
      cancelSignal: local.signal,
    });
  } catch (err) {
    spec.signal?.removeEventListener('abort', onAbort);
    return notStarted(err as Error);
  }
  let hasExited = false;
  const exited = new Promise<ChildOutcome>((resolve) => {
    const node = proc.nodeChildProcess;
    node.once('exit', (code, sig) => {
      hasExited = true;
      resolve({ exitCode: code ?? undefined, signal: sig ?? undefined, spawnError: undefined });
    });
    node.once('error', (err) => {
      if (node.pid === undefined) resolve({ exitCode: undefined, signal: undefined, spawnError: err });
    });
  });
  const done = proc.then((r) => {
    hasExited = true;
    spec.signal?.removeEventListener('abort', onAbort);
    // With reject: false a spawn failure (ENOENT of the binary, or of setpriv) is a result without a pid.
    if (proc.pid === undefined || (r.exitCode === undefined && r.signal === undefined)) {
      const cause = r.cause instanceof Error ? r.cause : new Error(r.message);
      const missingSetpriv =
        file === PDEATHSIG_PREFIX[0] && /ENOENT/.test(cause.message) && /setpriv/.test(cause.message);
      return {
        exitCode: undefined,
        signal: undefined,
        spawnError: missingSetpriv
          ? new Error(
              `setpriv not found: install util-linux (children are started with setpriv --pdeathsig): ${cause.message}`,
              { cause },
            )
          : cause,
      };
    }
    return { exitCode: r.exitCode, signal: r.signal, spawnError: undefined };
  });
  return {
    pid: proc.pid,
    stdin: proc.stdin,
    stdout: proc.stdout,
    stderr: proc.stderr,
    done,
    exited,
    get hasExited() {
      return hasExited;
    },
    stop() {
      local.abort();
    },
  };
}

/** The last `max` bytes of a stream, for error tails that must not grow with a chatty process. */
export class ByteTail {
  private chunks: Buffer[] = [];
  private size = 0;
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }

  push(c: Buffer): void {
    this.chunks.push(c);
    this.size += c.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.max) this.size -= this.chunks.shift()!.length;
  }

  text(): string {
    const b = Buffer.concat(this.chunks);
    return b.subarray(Math.max(0, b.length - this.max)).toString('utf8');
  }
}
