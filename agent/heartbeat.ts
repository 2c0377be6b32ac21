// The host side of the heartbeat contract (shared/api/heartbeat.ts): while a host has taken up its share
// of a session — waiting for its turn, backing up or restoring, writing its status — it renews one Lease
// per (session, host), so the operator can tell a live host from a lost one even while its pod exists.
//
// After the host's last status write the renewals stop and the Lease is left in place: garbage collection
// removes it with the session (ownerReference). Deleting it would open a window in which an operator whose
// cache does not show the host's final stats yet sees no Lease either, and fails a host that succeeded.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  HEARTBEAT,
  heartbeatLeaseName,
  heartbeatSessionLabel,
  type HeartbeatSessionKind,
} from '../shared/api/heartbeat.ts';
import { isNotFound, isConflict, type Kube, type KubeObject } from '../shared/kube/client.ts';
import { errorMessage } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';

const LEASE_API = 'coordination.k8s.io/v1';

export interface HeartbeatOptions {
  kube: Kube;
  sessionKind: HeartbeatSessionKind;
  /** The session (BackupSession) or restore invoker as read: name, namespace and uid for the ownerReference. */
  session: KubeObject;
  host: string;
  /** Who renews: the pod's name. */
  holder: string;
  log?: Logger;
  intervalMs?: number;
  /** Injected time, for tests. */
  now?: () => Date;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class Heartbeat {
  readonly leaseName: string;
  readonly #o: HeartbeatOptions & {
    intervalMs: number;
    now: () => Date;
    sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  };
  readonly #kube: Kube;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  /** Renewals that reached the apiserver; for tests and logs. */
  renewals = 0;

  constructor(o: HeartbeatOptions) {
    this.#o = {
      intervalMs: HEARTBEAT.renewIntervalMs,
      now: () => new Date(),
      sleep: (ms, signal) =>
        sleep(ms, undefined, { signal }).then(
          () => undefined,
          () => undefined,
        ),
      ...o,
    };
    // One renewal retries within half an interval: the next renewal is the better retry.
    this.#kube = o.kube.withRetry({ capMs: Math.floor(this.#o.intervalMs / 2), deadline: undefined });
    this.leaseName = heartbeatLeaseName(o.sessionKind, o.session.metadata?.name ?? '', o.host);
  }

  /** Renews at once, then every interval, until stop(). Renewal failures are logged, never thrown. */
  start(): this {
    this.#loop ??= this.#run();
    return this;
  }

  /**
   * No renewal starts after this; one in flight is not waited for (it may hang on a stalled connection for
   * a request timeout, and landing late is harmless). The Lease stays for garbage collection (file comment).
   */
  stop(): void {
    this.#stop.abort();
  }

  /** Resolves when the loop has ended (after stop()); for tests. */
  async stopped(): Promise<void> {
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        await this.renew();
        this.renewals++;
      } catch (err) {
        this.#o.log?.warn(
          { err: errorMessage(err), lease: this.leaseName },
          'heartbeat renewal failed; trying again next interval',
        );
      }
      if (signal.aborted) return;
      await this.#o.sleep(this.#o.intervalMs, signal);
    }
  }

  /** One renewal: a merge patch of renewTime, or the Lease created when it is not there (yet, or any more). */
  async renew(): Promise<void> {
    const ns = this.#o.session.metadata?.namespace;
    const now = microTime(this.#o.now());
    const patch = { spec: { holderIdentity: this.#o.holder, renewTime: now } };
    try {
      await this.#kube.patch(LEASE_API, 'Lease', ns, this.leaseName, patch);
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      await this.#kube.create(this.#lease(now));
    } catch (err) {
      // Created meanwhile (by our own earlier attempt that timed out, or a restarted self): renew it.
      if (!isConflict(err)) throw err;
      await this.#kube.patch(LEASE_API, 'Lease', ns, this.leaseName, patch);
    }
  }

  #lease(now: string): KubeObject {
    const s = this.#o.session;
    const name = s.metadata?.name ?? '';
    return {
      apiVersion: LEASE_API,
      kind: 'Lease',
      metadata: {
        name: this.leaseName,
        namespace: s.metadata?.namespace,
        labels: {
          [HEARTBEAT.label.session]: heartbeatSessionLabel(name),
          [HEARTBEAT.label.sessionKind]: this.#o.sessionKind,
        },
        annotations: { [HEARTBEAT.hostAnnotation]: this.#o.host },
        ownerReferences: [
          { apiVersion: s.apiVersion ?? '', kind: s.kind ?? this.#o.sessionKind, name, uid: s.metadata?.uid ?? '' },
        ],
      },
      spec: {
        holderIdentity: this.#o.holder,
        leaseDurationSeconds: Math.round(HEARTBEAT.livenessBoundMs / 1000),
        acquireTime: now,
        renewTime: now,
      },
    };
  }
}

/** Runs `fn` with a heartbeat for it: renewals start before and stop after, whatever `fn` does. */
export async function withHeartbeat<R>(o: HeartbeatOptions, fn: () => Promise<R>): Promise<R> {
  const beat = new Heartbeat(o).start();
  try {
    return await fn();
  } finally {
    beat.stop();
  }
}
