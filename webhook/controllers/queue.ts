// A keyed work queue: at most one reconcile in flight per key, repeated requests for a busy key coalesce
// into one rerun, a bounded number of keys run at once, failures back off per key, and delayed requeues
// are timers (deadlines, waits) rather than a polling loop.
import type { Logger } from 'pino';
import { errorMessage } from '../../shared/errors.ts';

export type Reconcile = (key: string) => Promise<void>;

export interface QueueOptions {
  name: string;
  log: Logger;
  signal: AbortSignal;
  concurrency?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export class WorkQueue {
  readonly #reconcile: Reconcile;
  readonly #o: Required<Omit<QueueOptions, 'log' | 'signal' | 'name'>> & QueueOptions;
  readonly #pending: string[] = [];
  readonly #queued = new Set<string>();
  readonly #running = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #failures = new Map<string, number>();

  constructor(reconcile: Reconcile, opts: QueueOptions) {
    this.#reconcile = reconcile;
    this.#o = { concurrency: 8, backoffInitialMs: 500, backoffMaxMs: 30_000, ...opts };
    opts.signal.addEventListener(
      'abort',
      () => {
        for (const t of this.#timers.values()) clearTimeout(t.timer);
        this.#timers.clear();
        this.#pending.length = 0;
        this.#queued.clear();
      },
      { once: true },
    );
  }

  add(key: string): void {
    if (this.#o.signal.aborted) return;
    if (this.#running.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#pending.push(key);
    this.#pump();
  }

  /** Runs `key` after `ms`; an earlier timer for the same key wins, a later one is kept only if sooner. */
  addAfter(key: string, ms: number): void {
    if (this.#o.signal.aborted) return;
    const at = Date.now() + Math.max(0, ms);
    const existing = this.#timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(
      () => {
        this.#timers.delete(key);
        this.add(key);
      },
      Math.max(0, ms),
    );
    timer.unref();
    this.#timers.set(key, { at, timer });
  }

  get busy(): boolean {
    return this.#pending.length > 0 || this.#running.size > 0;
  }

  #pump(): void {
    while (this.#running.size < this.#o.concurrency && this.#pending.length > 0) {
      const key = this.#pending.shift()!;
      this.#queued.delete(key);
      this.#running.add(key);
      void this.#run(key);
    }
  }

  async #run(key: string): Promise<void> {
    try {
      await this.#reconcile(key);
      this.#failures.delete(key);
    } catch (err) {
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      const wait = Math.min(this.#o.backoffMaxMs, this.#o.backoffInitialMs * 2 ** (n - 1));
      this.#o.log.warn(
        { queue: this.#o.name, key, err: errorMessage(err), retryInMs: wait },
        'reconcile failed; retrying',
      );
      this.addAfter(key, wait);
    } finally {
      this.#running.delete(key);
      if (this.#dirty.delete(key)) this.add(key);
      this.#pump();
    }
  }
}
