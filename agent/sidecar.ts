// `run-backup`: the sidecar in a workload pod (docs/api.md §15). It watches BackupSessions of its namespace and runs
// this pod's share of each through HostBackup (agent/host-backup.ts). Deployments elect one leader pod
// (Lease); StatefulSet/DaemonSet pods all take part, one at a time. Every minute it looks again at each
// session its host has not finished, so a run lost to an apiserver restart is taken up again; a run that
// throws is retried or its host recorded Failed, never dropped. A sidecar killed mid-run finds, once
// restarted, the session still without its host's stats and runs that share again (README, design notes).
import { EventEmitter } from 'node:events';
import { LABEL, apiVersionOf, leaseName } from '../shared/api/constants.ts';
import type { TargetRef } from '../shared/api/index.ts';
import { Informer } from '../shared/kube/informer.ts';
import { isTransient } from '../shared/kube/client.ts';
import { LeaseLock, runLeaderElection } from '../shared/kube/lease.ts';
import { errorMessage } from '../shared/errors.ts';
import { hostFor } from '../shared/restic/host.ts';
import { isFinalSessionPhase } from '../shared/status/index.ts';
import {
  matchesTarget,
  prefetchRepository,
  sessionKube,
  type AgentContext,
  type RepositoryPrefetch,
} from './common.ts';
import { withHeartbeat } from './heartbeat.ts';
import { HostBackup, readiness, type OpenRepo } from './host-backup.ts';
import { sessionInvoker } from '../shared/api/target.ts';
import { findMember, requireMember, type Member } from './members.ts';
import { emitEvent, recordBackupHostFailure } from './status.ts';
import type { BackupInvoker, BackupSession } from './types.ts';

/** How often every cached session is considered again, whatever its resourceVersion (a resync). */
export const RESYNC_MS = 60_000;
/** Runs of one session that may end in a transient error before its host is recorded Failed. */
const RUN_ATTEMPTS = 3;

export function everyPodParticipates(kind: string): boolean {
  return kind === 'StatefulSet' || kind === 'DaemonSet';
}

/** docs/api.md §15.3: the session runs our invoker, or its target labels name our workload. */
export function sessionConcernsUs(s: BackupSession, ctx: AgentContext): boolean {
  const inv = sessionInvoker(s);
  if (inv?.kind === ctx.invokerKind && inv.name === ctx.invokerName) return true;
  const l = s.metadata?.labels ?? {};
  return (
    l[LABEL.targetKind] === ctx.targetKind &&
    l[LABEL.targetName] === ctx.targetName &&
    (l[LABEL.targetNamespace] ?? ctx.namespace) === ctx.targetNamespace
  );
}

export type RunFailureOutcome = { retryInMs: number } | { fail: string } | { stop: true };

/**
 * What follows a session run that threw (attempt counts from 1): a stopping agent leaves the session to
 * its restarted self; a transient API failure runs it again after a jittered backoff; anything else, or
 * the last attempt, records this host Failed with the reason. Never: the session dropped.
 */
export function afterRunFailure(
  err: unknown,
  attempt: number,
  stopping: boolean,
  random = Math.random,
): RunFailureOutcome {
  if (stopping) return { stop: true };
  if (isTransient(err) && attempt < RUN_ATTEMPTS)
    return { retryInMs: Math.round(5_000 * 2 ** (attempt - 1) * (0.5 + random() / 2)) };
  return { fail: `session run failed${attempt > 1 ? ` (attempt ${attempt})` : ''}: ${errorMessage(err)}` };
}

export class Sidecar {
  readonly ctx: AgentContext;
  readonly openRepo: OpenRepo;
  readonly host: string;
  readonly #changes = new EventEmitter();
  readonly #inFlight = new Set<string>();
  readonly #done = new Set<string>();
  /** Sessions whose runs threw, with how many times. */
  readonly #failedRuns = new Map<string, number>();
  /** Host failures still to record, when that write itself failed: the next resync tries the write again. */
  readonly #unrecorded = new Map<string, string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #informer: Informer<BackupSession> | undefined;
  #lease: LeaseLock;
  #stopped = new AbortController();
  /** Resolves when a session run ends; tests and the bench wait on it. */
  readonly runs: Array<Promise<void>> = [];
  /** What the last read said names the Repository and its Secret: lets the next run read all of them at once. */
  #lastInvoker: BackupInvoker | undefined;
  #lastSecretName: string | undefined;

  constructor(ctx: AgentContext, openRepo: OpenRepo, host: string, invoker?: BackupInvoker) {
    this.ctx = ctx;
    this.openRepo = openRepo;
    this.host = host;
    this.#lastInvoker = invoker;
    this.#changes.setMaxListeners(0);
    this.#lease = new LeaseLock(ctx.kube, {
      namespace: ctx.targetNamespace,
      name: leaseName(ctx.targetKind, ctx.targetName, 'backup'),
      identity: ctx.podName,
      log: ctx.log,
    });
  }

  /** Runs until the signal aborts; then lets in-flight runs stop restic cleanly (it removes its lock on SIGINT). */
  async run(signal: AbortSignal): Promise<void> {
    signal.addEventListener('abort', () => this.#stopped.abort(), { once: true });
    // Learn the Secret's name now, so that the first session reads it together with everything else.
    this.#prefetch()?.secret.then(
      (s) => {
        this.#lastSecretName ??= s?.name;
      },
      () => undefined,
    );
    try {
      await this.#serve(signal);
    } finally {
      await Promise.race([Promise.allSettled(this.runs), new Promise((r) => setTimeout(r, 60_000).unref())]);
    }
  }

  async #serve(signal: AbortSignal): Promise<void> {
    if (everyPodParticipates(this.ctx.targetKind)) {
      await this.#watch();
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
      await this.#unwatch();
      return;
    }
    await runLeaderElection(
      this.#lease,
      {
        onStartedLeading: async () => {
          await this.#watch();
        },
        onStoppedLeading: async () => {
          await this.#unwatch();
        },
      },
      signal,
    );
  }

  async #watch(): Promise<void> {
    const inf = new Informer<BackupSession>(this.ctx.kube, {
      apiVersion: apiVersionOf('BackupSession'),
      kind: 'BackupSession',
      namespace: this.ctx.namespace,
      relistMs: 60_000,
      log: this.ctx.log,
    });
    const onChange = (s: BackupSession) => {
      const name = s.metadata?.name ?? '';
      this.#changes.emit(name, s);
      this.#consider(s);
    };
    const onDelete = (s: BackupSession) => {
      const name = s.metadata?.name ?? '';
      this.#done.delete(name);
      this.#failedRuns.delete(name);
      this.#unrecorded.delete(name);
    };
    inf.on('add', onChange).on('update', onChange).on('delete', onDelete);
    this.#informer = inf;
    inf.start();
    await inf.waitForSync();
    // A relist reports a session only when its resourceVersion changed: one whose run was lost (the
    // apiserver restarted under it) would never be looked at again without this.
    this.#every(RESYNC_MS, () => {
      for (const s of inf.list()) this.#consider(s);
    });
    this.ctx.log.info({ host: this.host }, 'watching backup sessions');
  }

  async #unwatch(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await this.#informer?.stop();
    this.#informer = undefined;
  }

  #every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms).unref();
    this.#timers.add(timer);
  }

  #after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms).unref();
    this.#timers.add(timer);
  }

  #consider(s: BackupSession): void {
    const name = s.metadata?.name ?? '';
    if (!name || this.#inFlight.has(name) || this.#done.has(name) || !sessionConcernsUs(s, this.ctx)) return;
    if (isFinalSessionPhase(s.status?.phase)) return;
    // Cheap pre-check on the cached object; the run re-reads everything fresh.
    const ns = s.metadata?.namespace ?? this.ctx.namespace;
    const target = s.status?.targets?.find((t) => matchesTarget(t.ref, this.ctx, ns));
    const ref = target?.ref;
    if (!target || !ref || target.totalHosts === undefined || target.stats?.some((x) => x.hostname === this.host))
      return;
    this.#inFlight.add(name);
    const unrecorded = this.#unrecorded.get(name);
    const run =
      unrecorded !== undefined
        ? this.#recordFailure(s, ref, unrecorded)
        : this.#runSession(s).then(
            () => void this.#failedRuns.delete(name),
            (err: unknown) => this.#runFailed(s, ref, err),
          );
    const p = run
      .catch((err: unknown) => this.ctx.log.error({ err: errorMessage(err), session: name }, 'session run failed'))
      .finally(() => this.#inFlight.delete(name));
    this.runs.push(p);
  }

  async #runFailed(s: BackupSession, ref: TargetRef, err: unknown): Promise<void> {
    const name = s.metadata?.name ?? '';
    const attempt = (this.#failedRuns.get(name) ?? 0) + 1;
    this.#failedRuns.set(name, attempt);
    const next = afterRunFailure(err, attempt, this.#stopped.signal.aborted);
    if ('stop' in next) {
      this.ctx.log.warn(
        { err: errorMessage(err), session: name },
        'session run stopped with the agent; a restarted agent resumes it',
      );
    } else if ('retryInMs' in next) {
      this.ctx.log.warn(
        { err: errorMessage(err), session: name, attempt, retryInMs: next.retryInMs },
        'session run failed; retrying',
      );
      this.#after(next.retryInMs, () => {
        const latest = this.#informer?.get(s.metadata?.namespace, name);
        if (latest) this.#consider(latest);
      });
    } else {
      this.ctx.log.error(
        { err: errorMessage(err), session: name, attempt },
        'session run failed; recording this host Failed',
      );
      await this.#recordFailure(s, ref, next.fail);
    }
  }

  async #recordFailure(s: BackupSession, ref: TargetRef, error: string): Promise<void> {
    const name = s.metadata?.name ?? '';
    try {
      const recorded = await recordBackupHostFailure(this.ctx.kube, this.ctx.namespace, name, ref, this.host, error);
      this.#unrecorded.delete(name);
      this.#done.add(name);
      if (recorded) {
        await emitEvent(
          this.ctx.kube,
          s,
          {
            type: 'Warning',
            reason: 'HostBackupFailed',
            message: `Failed to backup host "${this.host}" of ${ref.kind}/${ref.name}: ${error}`,
          },
          'stash-backup-sidecar',
          this.ctx.podName,
          this.ctx.log,
        );
      }
    } catch (err) {
      this.#unrecorded.set(name, error);
      this.ctx.log.error(
        { err: errorMessage(err), session: name },
        'could not record the host failure; the next resync tries again',
      );
    }
  }

  /** Wakes a run's wait on one session when the informer brings a newer copy of it. */
  #subscribe = (name: string, wake: () => void): (() => void) => {
    this.#changes.on(name, wake);
    return () => this.#changes.off(name, wake);
  };

  async #getSession(name: string): Promise<BackupSession> {
    return await this.ctx.kube.get<BackupSession>(
      apiVersionOf('BackupSession'),
      'BackupSession',
      this.ctx.namespace,
      name,
    );
  }

  #prefetch(): RepositoryPrefetch | undefined {
    const inv = this.#lastInvoker;
    if (!inv) return undefined;
    return prefetchRepository(
      this.ctx.kube,
      inv.spec.repository,
      inv.metadata?.namespace ?? this.ctx.namespace,
      this.#lastSecretName,
    );
  }

  /** `cached` is the informer's copy; the run re-reads the session, its invoker, Repository and Secret together. */
  async #runSession(cached: BackupSession): Promise<void> {
    const name = cached.metadata?.name ?? '';
    // spec.invoker never changes, so the cached copy can name the invoker while the session is re-read.
    const inv = sessionInvoker(cached);
    if (!inv) return;
    const kind = inv.kind;
    const takesTurns = everyPodParticipates(this.ctx.targetKind);
    const prefetch = takesTurns ? undefined : this.#prefetch();
    const [session, invoker] = await Promise.all([
      this.#getSession(name),
      this.ctx.kube.get<BackupInvoker>(apiVersionOf(kind as 'BackupBatch'), kind, this.ctx.namespace, inv.name),
    ]);
    this.#lastInvoker = invoker;
    const member = findMember(invoker, kind, this.ctx);
    if (!member) {
      this.#done.add(name);
      return;
    }
    const r = readiness(session, invoker, member, this.host, this.ctx.namespace);
    if (!r.run) {
      if (r.final) this.#done.add(name);
      this.ctx.log.debug({ session: name, why: r.why }, 'not running now');
      return;
    }
    // From here this host has taken the session up: its calls retry until the session's deadline, and its
    // heartbeat runs while it waits for its turn, backs up and writes its status.
    const ctx: AgentContext = { ...this.ctx, kube: sessionKube(this.ctx.kube, session.status?.sessionDeadline) };
    const beat = {
      kube: ctx.kube,
      sessionKind: 'BackupSession' as const,
      session,
      host: this.host,
      holder: ctx.podName,
      log: ctx.log,
    };
    await withHeartbeat(beat, async () => {
      if (!takesTurns) {
        await this.#backUp(ctx, session, invoker, member, prefetch);
        return;
      }
      await this.#lease.withLease(async () => {
        // Another pod of this workload may have finished meanwhile; re-read under the lease.
        const early = this.#prefetch();
        const fresh = await ctx.kube.get<BackupSession>(
          apiVersionOf('BackupSession'),
          'BackupSession',
          ctx.namespace,
          name,
        );
        const again = readiness(fresh, invoker, member, this.host, ctx.namespace);
        if (again.run) await this.#backUp(ctx, fresh, invoker, member, early);
      }, this.#stopped.signal);
    });
    this.#done.add(name);
  }

  async #backUp(
    ctx: AgentContext,
    session: BackupSession,
    invoker: BackupInvoker,
    member: Member,
    prefetch: RepositoryPrefetch | undefined,
  ): Promise<void> {
    const run = new HostBackup(
      {
        ctx,
        openRepo: this.openRepo,
        host: this.host,
        signal: this.#stopped.signal,
        subscribe: this.#subscribe,
        newest: (mine) => this.#newest(mine),
      },
      session,
      invoker,
      member,
      prefetch,
    );
    try {
      await run.run();
    } finally {
      this.#lastSecretName = run.storageSecretName ?? this.#lastSecretName;
    }
  }

  /**
   * The most recent copy of a session we have: ours, or the informer's when a later event brought one.
   * Only a starting point for a status write (a stale one costs a 409 and a re-read, nothing else), which
   * is why comparing resourceVersions as numbers is acceptable here.
   */
  #newest(mine: BackupSession): BackupSession {
    const cached = this.#informer?.get(mine.metadata?.namespace, mine.metadata?.name ?? '');
    const rv = (o: BackupSession | undefined) => Number(o?.metadata?.resourceVersion ?? NaN);
    return cached && !(rv(cached) < rv(mine)) ? cached : mine;
  }
}

export function sidecarHost(ctx: AgentContext, invoker: BackupInvoker): string {
  const member = requireMember(invoker, ctx.invokerKind, ctx.invokerName, ctx);
  if (ctx.hostOverride) return ctx.hostOverride;
  return hostFor({
    targetKind: ctx.targetKind,
    alias: member.spec.target.alias,
    podName: ctx.podName,
    nodeName: ctx.nodeName,
  });
}
