// A running host's progress in its session's status (docs/api.md §6): restic prints a --json status line every
// second (RESTIC_PROGRESS_FPS, agent/restic.ts); at most one status write every PROGRESS_WRITE_MS goes out, with
// the latest line, and none when nothing changed. The entry goes when the host's final stats are written
// (shared/status drops progress of hosts with stats), so `stop()` only has to let the last write land first.
import { errorMessage } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { BackupStatus } from '../shared/restic/output.ts';
import type { HostProgress } from '../shared/status/index.ts';

export const PROGRESS_WRITE_MS = 3_000;

export function hostProgress(hostname: string, s: BackupStatus): HostProgress {
  return {
    hostname,
    percent: Math.max(0, Math.min(100, Math.floor(s.percentDone * 100))),
    bytesDone: s.bytesDone,
    totalBytes: s.totalBytes,
    filesDone: s.filesDone,
    totalFiles: s.totalFiles,
  };
}

export class ProgressReporter {
  readonly #write: (p: HostProgress) => Promise<unknown>;
  readonly #hostname: string;
  readonly #intervalMs: number;
  readonly #log: Logger;
  #lastWrite = -Infinity;
  #written = '';
  #inFlight: Promise<void> | undefined;
  #stopped = false;

  constructor(
    hostname: string,
    write: (p: HostProgress) => Promise<unknown>,
    log: Logger,
    intervalMs = PROGRESS_WRITE_MS,
  ) {
    this.#hostname = hostname;
    this.#write = write;
    this.#log = log;
    this.#intervalMs = intervalMs;
  }

  /** One restic status line; written now only when the last write is done and old enough. */
  update(s: BackupStatus): void {
    if (this.#stopped || this.#inFlight || performance.now() - this.#lastWrite < this.#intervalMs) return;
    const p = hostProgress(this.#hostname, s);
    const key = JSON.stringify(p);
    if (key === this.#written) return;
    this.#lastWrite = performance.now();
    this.#written = key;
    this.#inFlight = this.#write(p)
      .then(() => undefined)
      // Progress is advisory: a failed write is logged, never the run's failure.
      .catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, 'progress not written'))
      .finally(() => (this.#inFlight = undefined));
  }

  /** No further writes; resolves when a write under way has landed. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#inFlight;
  }
}
