// Running one restic process: start it (child.ts), feed its stdin from a producer or stream its stdout
// into a sink, collect its lines, and stop it when asked, on a timeout, on a failed producer or on a
// fail-fast line. What the lines mean is output.ts's business, what the end means is classify.ts's.
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { startChild, type ProcessPriority } from './child.ts';
import { cleanLine } from './output.ts';

export type StopReason = 'aborted' | 'timeout' | 'producer-failed' | 'fail-fast';

export interface StdinFeed {
  source: Readable;
  /** Settles when the producer has finished: resolves on success, rejects when it failed. */
  done: Promise<unknown>;
}

export interface ProcessSpec {
  file: string;
  args: string[];
  env: Record<string, string>;
  /** Between SIGINT and SIGKILL. */
  graceMs: number;
  timeoutMs: number;
  signal?: AbortSignal;
  stdin?: StdinFeed;
  /** Raw stdout into this stream (backpressure) instead of lines; never ended here. */
  stdoutSink?: Writable;
  keepStdout?: (line: string) => boolean;
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Stop restic as soon as a stderr line matches. */
  failFast?: RegExp;
  onStop?: (why: StopReason) => void;
  /** A throwing `onLine` must not break the run; it is reported here. */
  onLineError?: (err: unknown) => void;
  priority?: ProcessPriority;
}

export interface ProcessRun {
  pid: number | undefined;
  exitCode: number | undefined;
  signal: string | undefined;
  spawnError: Error | undefined;
  stdout: string;
  stderrLines: string[];
  durationMs: number;
  stoppedBy: StopReason | undefined;
  producerError: unknown;
  stdoutBytes: number;
}

const SIGNAL_CLEANUP = /signal \w+ received, cleaning up/;
const MAX_STDERR_LINES = 2000;
const FILE_ERROR = /^\{"message_type":"error"/;

/**
 * Runs restic once. Stopping sends SIGINT (then SIGKILL after the grace). For a stdin backup, restic's
 * stdin is closed only when the producer ended its stream AND reported success — or, after a stop, only
 * once restic announced its cleanup, so a truncated stream can never be taken for a whole one.
 */
export async function runProcess(spec: ProcessSpec): Promise<ProcessRun> {
  const started = Date.now();
  const stopper = new AbortController();
  const child = startChild({
    file: spec.file,
    args: spec.args,
    env: spec.env,
    stdin: spec.stdin ? 'pipe' : 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    stopSignal: 'SIGINT',
    graceMs: spec.graceMs,
    signal: stopper.signal,
    priority: spec.priority,
  });

  let stoppedBy: StopReason | undefined;
  let producerError: unknown;
  let stdoutBytes = 0;
  let sawCleanup = false;
  let stdinEnded = false;
  const endStdin = () => {
    if (stdinEnded || !child.stdin) return;
    stdinEnded = true;
    child.stdin.end();
  };
  const discardStdout = () => {
    child.stdout?.unpipe();
    child.stdout?.resume();
  };
  const stop = (why: StopReason) => {
    if (stoppedBy) return;
    stoppedBy = why;
    spec.onStop?.(why);
    if (spec.stdin) spec.stdin.source.unpipe();
    if (spec.stdoutSink) discardStdout();
    stopper.abort();
    // A stdin backup blocks in read(): EOF lets it notice the cancelled context, but only AFTER it
    // handled the signal, or it could still write a snapshot of the truncated stream.
    if (spec.stdin && sawCleanup) endStdin();
  };

  const stdoutParts: string[] = [];
  const stderrLines: string[] = [];
  const readers: Array<Promise<void>> = [];
  const readLines = (stream: Readable | null, name: 'stdout' | 'stderr') => {
    if (!stream) return;
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    readers.push(new Promise((resolve) => rl.once('close', resolve)));
    rl.on('line', (line) => {
      if (name === 'stdout') {
        if (!spec.keepStdout || spec.keepStdout(line)) stdoutParts.push(line);
      } else {
        stderrLines.push(line);
        if (stderrLines.length > MAX_STDERR_LINES) stderrLines.splice(0, stderrLines.length - MAX_STDERR_LINES / 2);
        const clean = cleanLine(line);
        // Per-file errors (JSON `error` lines naming an item) never stop a run: a file may be called anything.
        if (spec.failFast?.test(clean) && !FILE_ERROR.test(clean)) stop('fail-fast');
        if (SIGNAL_CLEANUP.test(clean)) {
          sawCleanup = true;
          if (stoppedBy && spec.stdin) endStdin();
        }
      }
      try {
        spec.onLine?.(line, name);
      } catch (err) {
        spec.onLineError?.(err);
      }
    });
  };
  if (spec.stdoutSink && child.stdout) {
    const out = child.stdout;
    readers.push(
      new Promise((resolve) => {
        out.once('end', resolve);
        out.once('close', resolve);
      }),
    );
    out.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
    });
    spec.stdoutSink.on('error', discardStdout);
    out.pipe(spec.stdoutSink, { end: false });
  } else {
    readLines(child.stdout, 'stdout');
  }
  readLines(child.stderr, 'stderr');

  const timer = setTimeout(() => stop('timeout'), spec.timeoutMs);
  const onAbort = () => stop('aborted');
  if (spec.signal?.aborted) stop('aborted');
  else spec.signal?.addEventListener('abort', onAbort, { once: true });

  if (spec.stdin && child.stdin) {
    const feed = spec.stdin;
    child.stdin.on('error', () => {
      // EPIPE when restic exits early; its exit status tells the story.
    });
    feed.source.once('error', (err) => {
      producerError ??= err;
      stop('producer-failed');
    });
    feed.source.pipe(child.stdin, { end: false });
    const sourceEnded = new Promise<void>((resolve) => {
      feed.source.once('end', resolve);
      feed.source.once('close', resolve);
    });
    Promise.all([sourceEnded, feed.done]).then(
      () => {
        if (!stoppedBy) endStdin();
      },
      (err: unknown) => {
        producerError ??= err;
        stop('producer-failed');
      },
    );
  }

  const outcome = await child.done;
  await Promise.all(readers);
  clearTimeout(timer);
  spec.signal?.removeEventListener('abort', onAbort);
  return {
    pid: child.pid,
    exitCode: outcome.exitCode,
    signal: outcome.signal,
    spawnError: outcome.spawnError,
    stdout: stdoutParts.join('\n'),
    stderrLines,
    durationMs: Date.now() - started,
    stoppedBy,
    producerError,
    stdoutBytes,
  };
}
