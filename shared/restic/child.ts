// Child processes of the wrapper (restic, dump producers and consumers) on node:child_process directly.
// A general process library cost the agent ~100 ms of module loading on every start; the wrapper needs
// only this: no shell, an explicit environment, chosen stdio, signal-then-SIGKILL with a grace period,
// and children that do not outlive a process that exits normally.
import { spawn, type ChildProcess } from 'node:child_process';

export interface ChildOutcome {
  exitCode: number | undefined;
  signal: string | undefined;
  /** Set when the process could not be started at all (ENOENT, EACCES). */
  spawnError: Error | undefined;
}

export interface ChildSpec {
  file: string;
  args: string[];
  /** The whole environment of the child; nothing is inherited. */
  env: Record<string, string>;
  stdin: 'pipe' | 'ignore';
  stdout: 'pipe' | 'ignore';
  stderr: 'pipe' | 'ignore';
  /**
   * Start it as the leader of its own process group and signal the whole group: a `sh -c` wrapper's
   * children then go with it instead of keeping pipes open.
   */
  group?: boolean;
  /** Sent if this process exits while the child still runs (restic: SIGINT, so it removes its lock). */
  exitSignal: NodeJS.Signals;
}

export interface Child {
  readonly proc: ChildProcess;
  /** Settles (never rejects) when the child has exited and its stdio is closed, or could not start. */
  readonly done: Promise<ChildOutcome>;
  readonly exited: boolean;
  /** Sends `signal` now and SIGKILL after `graceMs` unless the child is gone by then. */
  kill(signal: NodeJS.Signals, graceMs: number): void;
}

const live = new Map<ChildProcess, () => void>();
let exitHook = false;

function onProcessExit(): void {
  for (const stop of live.values()) stop();
}

export function startChild(spec: ChildSpec): Child {
  const proc = spawn(spec.file, spec.args, {
    env: spec.env,
    stdio: [spec.stdin, spec.stdout, spec.stderr],
    detached: spec.group === true,
  });
  let exited = false;
  let leaderExited = false;
  let forceTimer: NodeJS.Timeout | undefined;
  proc.once('exit', () => {
    leaderExited = true;
  });
  const signal = (sig: NodeJS.Signals) => {
    // A group may outlive its leader (until its pipes close); a single process is done at exit.
    if (exited || proc.pid === undefined || (leaderExited && !spec.group)) return;
    try {
      if (spec.group) process.kill(-proc.pid, sig);
      else proc.kill(sig);
    } catch {
      // already gone (ESRCH); the exit event is on its way
    }
  };
  const done = new Promise<ChildOutcome>((resolve) => {
    let settled = false;
    const finish = (o: ChildOutcome) => {
      exited = true;
      clearTimeout(forceTimer);
      live.delete(proc);
      if (!settled) {
        settled = true;
        resolve(o);
      }
    };
    proc.once('close', (code: number | null, sig: NodeJS.Signals | null) => {
      finish({ exitCode: code ?? undefined, signal: sig ?? undefined, spawnError: undefined });
    });
    proc.on('error', (err) => {
      if (proc.pid === undefined) finish({ exitCode: undefined, signal: undefined, spawnError: err });
    });
  });
  if (proc.pid !== undefined) {
    live.set(proc, () => signal(spec.exitSignal));
    if (!exitHook) {
      exitHook = true;
      process.on('exit', onProcessExit);
    }
  }
  return {
    proc,
    done,
    get exited() {
      return exited;
    },
    kill(sig, graceMs) {
      if (exited) return;
      signal(sig);
      forceTimer ??= setTimeout(() => signal('SIGKILL'), graceMs);
      forceTimer.unref();
    },
  };
}
