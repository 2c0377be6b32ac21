// Leader election on a coordination.k8s.io Lease. Expiry is judged by when *we* last saw the record
// change (not by the holder's clock), as client-go does, so clock skew between nodes cannot make two
// leaders. Used by the operator (controllers run on the holder only) and by the agent (one backing-up
// pod per Deployment; StatefulSet/DaemonSet pods take turns).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import { isConflict, isNotFound, type Kube, type KubeObject } from './client.ts';

interface LeaseObject extends KubeObject {
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

export interface LeaseOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log?: Logger;
}

function microTime(d = new Date()): string {
  // MicroTime wants microsecond precision: RFC 3339 with six fractional digits.
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaseLock {
  readonly opts: Required<Omit<LeaseOptions, 'log'>> & Pick<LeaseOptions, 'log'>;
  readonly #kube: Kube;
  #observedRecord = '';
  #observedAt = 0;

  constructor(kube: Kube, opts: LeaseOptions) {
    this.opts = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
    // A holder must know within its renew deadline that it could not renew: one attempt's calls retry
    // transient errors for a retry period at most, and the loops below try again.
    this.#kube = kube.withRetry({ capMs: this.opts.retryPeriodMs, deadline: undefined });
  }

  /** One attempt to take or renew the lease. True when we hold it afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    const now = new Date();
    const durationSeconds = Math.max(1, Math.round(this.opts.leaseDurationMs / 1000));
    const current = await this.#kube.getOrNull<LeaseObject>('coordination.k8s.io/v1', 'Lease', namespace, name);
    if (!current) {
      try {
        await this.#kube.create<LeaseObject>({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        });
        this.#observe(`${identity}|${microTime(now)}`);
        return true;
      } catch (err) {
        if (isConflict(err) || (err as { status?: number }).status === 409) return false;
        throw err;
      }
    }
    const spec = current.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}`;
    if (record !== this.#observedRecord) this.#observe(record);
    const holder = spec.holderIdentity ?? '';
    const expired = Date.now() > this.#observedAt + (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (holder && holder !== identity && !expired) return false;
    const next: LeaseObject = {
      ...current,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: microTime(now),
        acquireTime: holder === identity ? (spec.acquireTime ?? microTime(now)) : microTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
      },
    };
    try {
      await this.#kube.replace(next);
      this.#observe(`${identity}|${next.spec?.renewTime}`);
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  #observe(record: string): void {
    this.#observedRecord = record;
    this.#observedAt = Date.now();
  }

  /** Waits until the lease is ours (or the signal aborts, which throws). */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      try {
        if (await this.tryAcquireOrRenew()) return;
      } catch (err) {
        this.opts.log?.warn({ err: errorMessage(err), lease: this.opts.name }, 'lease attempt failed');
      }
      await sleep(this.opts.retryPeriodMs, undefined, { signal });
    }
  }

  /** Gives the lease up so a waiting candidate takes it at once instead of after expiry. */
  async release(): Promise<void> {
    const { namespace, name, identity } = this.opts;
    try {
      await this.#kube.update<LeaseObject>('coordination.k8s.io/v1', 'Lease', namespace, name, (l) => {
        if (l.spec?.holderIdentity !== identity) return null;
        l.spec = { ...l.spec, holderIdentity: null, acquireTime: null, renewTime: null, leaseDurationSeconds: 1 };
        return l;
      });
    } catch (err) {
      if (!isNotFound(err)) this.opts.log?.warn({ err: errorMessage(err), lease: name }, 'lease release failed');
    }
  }

  /** Holds the lease for the duration of `fn`, renewing it meanwhile; releases afterwards. */
  async withLease<R>(fn: (lost: AbortSignal) => Promise<R>, signal?: AbortSignal): Promise<R> {
    await this.acquire(signal);
    const lost = new AbortController();
    const renew = this.#renewLoop(lost);
    try {
      return await fn(lost.signal);
    } finally {
      lost.abort();
      await renew;
      await this.release();
    }
  }

  async #renewLoop(stop: AbortController): Promise<void> {
    let lastRenew = Date.now();
    while (!stop.signal.aborted) {
      await sleep(this.opts.retryPeriodMs, undefined, { signal: stop.signal }).catch(() => undefined);
      if (stop.signal.aborted) return;
      try {
        if (await this.tryAcquireOrRenew()) lastRenew = Date.now();
      } catch (err) {
        this.opts.log?.warn({ err: errorMessage(err), lease: this.opts.name }, 'lease renew failed');
      }
      if (Date.now() - lastRenew > this.opts.renewDeadlineMs) {
        this.opts.log?.error({ lease: this.opts.name }, 'lost the lease');
        stop.abort();
      }
    }
  }
}

export interface LeaderCallbacks {
  onStartedLeading(stop: AbortSignal): void | Promise<void>;
  onStoppedLeading?(): void | Promise<void>;
}

/**
 * Runs for the life of the process: campaigns, and while leading calls onStartedLeading with a signal that
 * aborts when leadership is lost; then campaigns again. Resolves when `signal` aborts (after releasing).
 */
export async function runLeaderElection(lock: LeaseLock, cb: LeaderCallbacks, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      await lock.acquire(signal);
    } catch {
      break;
    }
    lock.opts.log?.info({ lease: lock.opts.name, identity: lock.opts.identity }, 'became leader');
    const lost = new AbortController();
    const onStop = () => lost.abort();
    signal.addEventListener('abort', onStop, { once: true });
    try {
      await lock
        .withLease(async (leaseLost) => {
          leaseLost.addEventListener('abort', () => lost.abort(), { once: true });
          await cb.onStartedLeading(lost.signal);
          await new Promise<void>((resolve) => {
            if (lost.signal.aborted) resolve();
            else lost.signal.addEventListener('abort', () => resolve(), { once: true });
          });
        }, signal)
        .catch(() => undefined);
    } finally {
      signal.removeEventListener('abort', onStop);
      await cb.onStoppedLeading?.();
      lock.opts.log?.info({ lease: lock.opts.name }, 'stopped leading');
    }
  }
}
