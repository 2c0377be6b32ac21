// `run-backup`: the sidecar in a workload pod (§15). It watches BackupSessions of its namespace and runs
// this pod's share of each: hooks, repository initialisation or waiting for it, one restic snapshot per
// path under a stable --host (§12), post-backup actions when this target carries them, and its host stats.
// Deployments elect one leader pod (Lease); StatefulSet/DaemonSet pods all take part, one at a time.
import { EventEmitter } from 'node:events';
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { CONDITION, LABEL, POST_BACKUP_ACTIONS, REASON, apiVersionOf, leaseName } from '../shared/api/constants.ts';
import type { BackupConfigurationTemplateSpec, Condition, HostBackupStats, SnapshotStats, TargetRef } from '../shared/api/index.ts';
import { Informer } from '../shared/kube/informer.ts';
import { LeaseLock, runLeaderElection } from '../shared/kube/lease.ts';
import { errorMessage } from '../shared/errors.ts';
import { hostFor } from '../shared/restic/host.ts';
import {
  backupTargetPhase, findCondition, findTarget, hasCondition, isFalse, isFinalSessionPhase, rfc3339, sameRef,
} from '../shared/status/index.ts';
import { formatMs } from '../shared/status/duration.ts';
import {
  AgentError, loadRepository, matchesTarget, prefetchRepository, waitUntil, type AgentContext, type RepositoryPrefetch,
} from './common.ts';
import { postHookSkipReason, runHook, type HookSummary } from './hooks.ts';
import { holderChecker } from './locks.ts';
import { actionable } from './messages.ts';
import type { LockInfo } from '../shared/restic/output.ts';
import { RepositoryMissingError } from '../shared/restic/errors.ts';
import type { RepoOps } from './repo.ts';
import { backupDatabaseTarget, isDatabaseTarget } from './database.ts';
import { emitEvent, patchBackupSession, recordBackupHostFailure } from './status.ts';
import { isTransient } from '../shared/kube/client.ts';
import type { BackupBatch, BackupConfiguration, BackupInvoker, BackupSession, Repository } from './types.ts';
import type { LoadedRepository } from './common.ts';

export type OpenRepo = (loaded: LoadedRepository, ctx: AgentContext, isHolderAlive: (lock: LockInfo) => Promise<boolean>) => Promise<RepoOps>;

const WAIT_MS = 30 * 60_000;
/** How often every cached session is considered again, whatever its resourceVersion (a resync). */
const RESYNC_MS = 60_000;
/** Runs of one session that may end in a transient error before its host is recorded Failed. */
const RUN_ATTEMPTS = 3;

export type RunFailureOutcome = { retryInMs: number } | { fail: string } | { stop: true };

/**
 * What follows a session run that threw (attempt counts from 1): a stopping agent leaves the session to
 * its restarted self; a transient API failure runs it again after a jittered backoff; anything else, or
 * the last attempt, records this host Failed with the reason. Never: the session dropped.
 */
export function afterRunFailure(err: unknown, attempt: number, stopping: boolean, random = Math.random): RunFailureOutcome {
  if (stopping) return { stop: true };
  if (isTransient(err) && attempt < RUN_ATTEMPTS) return { retryInMs: Math.round(5_000 * 2 ** (attempt - 1) * (0.5 + random() / 2)) };
  return { fail: `session run failed${attempt > 1 ? ` (attempt ${attempt})` : ''}: ${errorMessage(err)}` };
}

export function everyPodParticipates(kind: string): boolean {
  return kind === 'StatefulSet' || kind === 'DaemonSet';
}

export interface Member {
  index: number;
  spec: BackupConfigurationTemplateSpec;
  ref: TargetRef;
}

function membersOf(invoker: BackupInvoker, kind: string): BackupConfigurationTemplateSpec[] {
  if (kind === 'BackupBatch') return (invoker as BackupBatch).spec.members ?? [];
  const s = (invoker as BackupConfiguration).spec;
  return [{ target: s.target as BackupConfigurationTemplateSpec['target'], task: s.task, hooks: s.hooks, tempDir: s.tempDir, runtimeSettings: s.runtimeSettings }];
}

export function findMember(invoker: BackupInvoker, kind: string, ctx: AgentContext): Member | undefined {
  const ns = invoker.metadata?.namespace ?? ctx.namespace;
  const members = membersOf(invoker, kind);
  const index = members.findIndex((m) => matchesTarget(m.target?.ref, ctx, ns));
  const spec = members[index];
  if (index < 0 || !spec?.target?.ref) return undefined;
  return { index, spec, ref: spec.target.ref };
}

/** findMember for a run that cannot go on without its member: `invokerName` is only for the error. */
export function requireMember(invoker: BackupInvoker, kind: string, invokerName: string | undefined, ctx: AgentContext): Member {
  const member = findMember(invoker, kind, ctx);
  if (!member) throw new AgentError(`${kind} ${ctx.namespace}/${invokerName} has no target ${ctx.targetKind}/${ctx.targetName} in namespace ${ctx.targetNamespace}`);
  return member;
}

/** The old label of upstream's BackupConfiguration sessions (the instant-backup guide's hand-made session carries it). */
export const LEGACY_INVOKER_LABEL = 'stash.appscode.com/backup-configuration';

/**
 * The invoker a session runs: `spec.invoker` (kind + name) is enough; without it the invoker-type/name
 * labels, or the old `backup-configuration` label, name it.
 */
export function sessionInvoker(s: BackupSession): { kind: string; name: string } | undefined {
  const inv = s.spec?.invoker;
  if (inv?.kind && inv.name) return { kind: inv.kind, name: inv.name };
  const l = s.metadata?.labels ?? {};
  const kind = l[LABEL.invokerType];
  const name = l[LABEL.invokerName];
  if (kind && name) return { kind, name };
  const legacy = l[LEGACY_INVOKER_LABEL];
  if (legacy) return { kind: 'BackupConfiguration', name: legacy };
  return undefined;
}

/** §15.3: the session runs our invoker, or its target labels name our workload. */
export function sessionConcernsUs(s: BackupSession, ctx: AgentContext): boolean {
  const inv = sessionInvoker(s);
  if (inv?.kind === ctx.invokerKind && inv.name === ctx.invokerName) return true;
  const l = s.metadata?.labels ?? {};
  return l[LABEL.targetKind] === ctx.targetKind && l[LABEL.targetName] === ctx.targetName && (l[LABEL.targetNamespace] ?? ctx.namespace) === ctx.targetNamespace;
}

export type Readiness = { run: true } | { run: false; why: string; final?: boolean };

/** §15.4: whether this host should back up for the session now, from the session and invoker alone. */
export function readiness(session: BackupSession, invoker: BackupInvoker, member: Member, host: string, namespace: string): Readiness {
  const st = session.status;
  if (isFinalSessionPhase(st?.phase)) return { run: false, why: `session is ${st?.phase}`, final: true };
  if (isFalse(st?.conditions, CONDITION.GlobalPreBackupHookSucceeded)) return { run: false, why: 'global preBackup hook failed', final: true };
  const target = findTarget(st, member.ref, namespace);
  if (!target || target.totalHosts === undefined || target.totalHosts === null) return { run: false, why: 'target not initiated by the operator yet' };
  if (target.stats?.some((s) => s.hostname === host)) return { run: false, why: 'this host already reported', final: true };
  const phase = backupTargetPhase(target);
  if (phase === 'Succeeded' || phase === 'Failed') return { run: false, why: `target is already ${phase}`, final: true };
  if (sessionInvoker(session)?.kind === 'BackupBatch' && (invoker as BackupBatch).spec.executionOrder === 'Sequential') {
    const members = (invoker as BackupBatch).spec.members ?? [];
    for (let i = 0; i < member.index; i++) {
      const earlier = findTarget(st, members[i]?.target?.ref as TargetRef, namespace);
      const p = earlier ? backupTargetPhase(earlier) : 'Pending';
      if (p !== 'Succeeded' && p !== 'Failed') return { run: false, why: `waiting for member ${i} (${members[i]?.target?.ref?.name}) to finish` };
    }
  }
  return { run: true };
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
      namespace: ctx.targetNamespace, name: leaseName(ctx.targetKind, ctx.targetName, 'backup'), identity: ctx.podName, log: ctx.log,
    });
  }

  /** Runs until the signal aborts; then lets in-flight runs stop restic cleanly (it removes its lock on SIGINT). */
  async run(signal: AbortSignal): Promise<void> {
    signal.addEventListener('abort', () => this.#stopped.abort(), { once: true });
    // Learn the Secret's name now, so that the first session reads it together with everything else.
    this.#prefetch()?.secret.then((s) => {
      this.#lastSecretName ??= s?.name;
    }, () => undefined);
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
    await runLeaderElection(this.#lease, {
      onStartedLeading: async () => {
        await this.#watch();
      },
      onStoppedLeading: async () => {
        await this.#unwatch();
      },
    }, signal);
  }

  async #watch(): Promise<void> {
    const inf = new Informer<BackupSession>(this.ctx.kube, {
      apiVersion: apiVersionOf('BackupSession'), kind: 'BackupSession', namespace: this.ctx.namespace, relistMs: 60_000, log: this.ctx.log,
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
    const target = s.status?.targets?.find((t) => t.ref?.kind === this.ctx.targetKind && t.ref?.name === this.ctx.targetName);
    const ref = target?.ref;
    if (!target || !ref || target.totalHosts === undefined || target.stats?.some((x) => x.hostname === this.host)) return;
    this.#inFlight.add(name);
    const unrecorded = this.#unrecorded.get(name);
    const run = unrecorded !== undefined
      ? this.#recordFailure(s, ref, unrecorded)
      : this.#runSession(s).then(() => void this.#failedRuns.delete(name), (err: unknown) => this.#runFailed(s, ref, err));
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
      this.ctx.log.warn({ err: errorMessage(err), session: name }, 'session run stopped with the agent; a restarted agent resumes it');
    } else if ('retryInMs' in next) {
      this.ctx.log.warn({ err: errorMessage(err), session: name, attempt, retryInMs: next.retryInMs }, 'session run failed; retrying');
      this.#after(next.retryInMs, () => {
        const latest = this.#informer?.get(s.metadata?.namespace, name);
        if (latest) this.#consider(latest);
      });
    } else {
      this.ctx.log.error({ err: errorMessage(err), session: name, attempt }, 'session run failed; recording this host Failed');
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
        await emitEvent(this.ctx.kube, s, { type: 'Warning', reason: 'HostBackupFailed', message: `Failed to backup host "${this.host}" of ${ref.kind}/${ref.name}: ${error}` },
          'stash-backup-sidecar', this.ctx.podName, this.ctx.log);
      }
    } catch (err) {
      this.#unrecorded.set(name, error);
      this.ctx.log.error({ err: errorMessage(err), session: name }, 'could not record the host failure; the next resync tries again');
    }
  }

  /** Event-driven wait on this session's status (informer updates), with a slow poll as a safety net. */
  #waitSession<R>(name: string, what: string, check: (s: BackupSession) => R | undefined, timeoutMs = WAIT_MS): Promise<R> {
    return waitUntil(async () => check(await this.#getSession(name)), {
      what, timeoutMs, pollMs: 5000, signal: this.#stopped.signal, log: this.ctx.log,
      subscribe: (wake) => {
        this.#changes.on(name, wake);
        return () => this.#changes.off(name, wake);
      },
    });
  }

  async #getSession(name: string): Promise<BackupSession> {
    return await this.ctx.kube.get<BackupSession>(apiVersionOf('BackupSession'), 'BackupSession', this.ctx.namespace, name);
  }

  #prefetch(): RepositoryPrefetch | undefined {
    const inv = this.#lastInvoker;
    if (!inv) return undefined;
    return prefetchRepository(this.ctx.kube, inv.spec.repository, inv.metadata?.namespace ?? this.ctx.namespace, this.#lastSecretName);
  }

  /** `cached` is the informer's copy; the run re-reads the session, its invoker, Repository and Secret together. */
  async #runSession(cached: BackupSession): Promise<void> {
    const name = cached.metadata?.name ?? '';
    // spec.invoker never changes, so the cached copy can name the invoker while the session is re-read.
    const inv = sessionInvoker(cached);
    if (!inv) return;
    const kind = inv.kind;
    const prefetch = everyPodParticipates(this.ctx.targetKind) ? undefined : this.#prefetch();
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
    if (everyPodParticipates(this.ctx.targetKind)) {
      await this.#lease.withLease(async () => {
        // Another pod of this workload may have finished meanwhile; re-read under the lease.
        const early = this.#prefetch();
        const fresh = await this.#getSession(name);
        const again = readiness(fresh, invoker, member, this.host, this.ctx.namespace);
        if (again.run) await this.backupOnce(fresh, invoker, member, early);
      }, this.#stopped.signal);
    } else {
      await this.backupOnce(session, invoker, member, prefetch);
    }
    this.#done.add(name);
  }

  /** Job model: one session's share with the Job's own stop signal (no session watch, no leader election). */
  async runOnce(session: BackupSession, invoker: BackupInvoker, member: Member, signal: AbortSignal): Promise<void> {
    const stop = () => this.#stopped.abort();
    if (signal.aborted) stop();
    signal.addEventListener('abort', stop, { once: true });
    try {
      await this.backupOnce(session, invoker, member);
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  /** One host's complete share of one session. Never throws for backup failures: they go to status. */
  async backupOnce(session: BackupSession, invoker: BackupInvoker, member: Member, prefetch?: RepositoryPrefetch): Promise<void> {
    const t0 = performance.now();
    const { ctx, host } = this;
    const name = session.metadata?.name ?? '';
    const ns = ctx.namespace;
    const log = ctx.log.child({ session: name, target: `${member.ref.kind}/${member.ref.name}`, host });
    const hooks = member.spec.hooks;
    const targetStatus = () => findTarget(session.status, member.ref, ns);
    const statusRef = targetStatus()?.ref ?? member.ref;
    log.info('backup started');

    let error: string | undefined;
    const snapshots: SnapshotStats[] = [];
    const sessionConditions: Condition[] = [];
    const now = () => rfc3339(new Date());
    const cond = (type: string, ok: boolean, reasons: { true: string; false: string }, message: string): Condition => ({
      type, status: ok ? 'True' : 'False', reason: ok ? reasons.true : reasons.false, message, lastTransitionTime: now(),
      ...(ok ? {} : { severity: 'Error' }),
    });

    // 1. local preBackup hook, once per target
    if (hooks?.preBackup && !hasCondition(targetStatus()?.conditions, CONDITION.PreBackupHookExecutionSucceeded)) {
      try {
        await runHook(hooks.preBackup, this.#hookCtx(session, invoker, member, {}));
        await patchBackupSession(ctx.kube, ns, name, { targets: [{ ref: statusRef, conditions: [cond(CONDITION.PreBackupHookExecutionSucceeded, true, { true: REASON.SuccessfullyExecutedPreBackupHook, false: REASON.FailedToExecutePreBackupHook }, 'Successfully executed preBackup hook.')] }] });
      } catch (err) {
        error = `preBackup hook failed: ${errorMessage(err)}`;
        await patchBackupSession(ctx.kube, ns, name, { targets: [{ ref: statusRef, conditions: [cond(CONDITION.PreBackupHookExecutionSucceeded, false, { true: REASON.SuccessfullyExecutedPreBackupHook, false: REASON.FailedToExecutePreBackupHook }, error)] }] });
      }
    }

    let repo: RepoOps | undefined;
    let loaded: LoadedRepository | undefined;
    if (!error) {
      try {
        loaded = await loadRepository(ctx.kube, invoker.spec.repository, invoker.metadata?.namespace ?? ns, prefetch);
        this.#lastSecretName = loaded.repository.spec.backend.storageSecretName;
        repo = await this.openRepo(loaded, ctx, holderChecker({ kube: ctx.kube, namespace: ctx.targetNamespace, ownHostname: ownResticHostname(ctx), log }));
      } catch (err) {
        error = `cannot prepare the repository: ${errorMessage(err)}`;
      }
    }
    const where = loaded ? {
      repository: repo?.display ?? loaded.repository.metadata?.name ?? '',
      secret: `${loaded.repository.metadata?.namespace}/${loaded.repository.spec.backend.storageSecretName ?? ''}`,
    } : { repository: '' };

    try {
      // 2. repository initialisation: ours if assigned, else wait for whoever has it. Opening a repository
      // costs restic a key derivation (~0.5 s), so an assigned host does not probe first: it backs up, and
      // only a "no repository" answer makes it run init and try again. Success of either proves the repository.
      if (!error && repo) {
        const initReasons = { true: REASON.BackendRepositoryFound, false: REASON.FailedToInitializeBackendRepository };
        const assigned = targetStatus()?.preBackupActions?.includes('InitializeBackendRepository') ?? false;
        const initDone = findCondition(session.status?.conditions, CONDITION.BackendRepositoryInitialized);
        let initPending = assigned && !initDone;
        // Other targets wait for the condition; a single-target session can carry it in the final write.
        const othersWait = (session.status?.targets?.length ?? 1) > 1;
        const settleInit = async (ok: boolean, message: string) => {
          if (!initPending) return;
          initPending = false;
          const c = cond(CONDITION.BackendRepositoryInitialized, ok, initReasons, message);
          if (othersWait) await patchBackupSession(ctx.kube, ns, name, { conditions: [c] });
          else sessionConditions.push(c);
        };
        if (!assigned && !initDone) {
          const c = await this.#waitSession(name, 'BackendRepositoryInitialized', (s) => findCondition(s.status?.conditions, CONDITION.BackendRepositoryInitialized));
          if (c.status === 'False') error = `repository initialisation failed: ${c.message ?? c.reason ?? ''}`;
        } else if (initDone?.status === 'False') {
          error = `repository initialisation failed: ${initDone.message ?? initDone.reason ?? ''}`;
        }

        // 3. one snapshot per path (a stale lock that blocks it is recovered by the repo layer, holder-aware)
        if (!error) {
          const paths = member.spec.target.paths ?? [];
          const backup = (path: string) => repo!.backup(path, { host, exclude: member.spec.target.exclude, args: member.spec.target.args, signal: this.#stopped.signal });
          try {
            await repo.preflight();
            if (initPending) {
              // Answered by the backend itself when it can (no restic key derivation, no retry storm on a
              // missing bucket); restic init runs only for a repository that is really not there.
              const exists = await repo.exists();
              if (exists === false) {
                await repo.ensureInitialized();
                log.info('repository initialised');
              }
              if (exists !== undefined) await settleInit(true, 'Repository exist in the backend.');
            }
            // A repository that turned out missing is created once, then the step runs again.
            const attempt = async <T>(fn: () => Promise<T>): Promise<T> => {
              try {
                return await fn();
              } catch (err) {
                if (!(initPending && err instanceof RepositoryMissingError)) throw err;
                await repo!.ensureInitialized();
                log.info('repository initialised');
                return await fn();
              }
            };
            if (isDatabaseTarget(member.ref)) {
              const out = await attempt(() => backupDatabaseTarget({
                kube: ctx.kube, repo: repo!, ref: member.ref, namespace: invoker.metadata?.namespace ?? ns, task: member.spec.task, host, tmpDir: ctx.tmpDir, signal: this.#stopped.signal,
              }));
              await settleInit(true, 'Repository exist in the backend.');
              snapshots.push(out.stats);
              log.info({ snapshot: out.stats.name }, 'database dump backed up');
            } else {
              if (!paths.length) throw new PathError('target.paths is empty: nothing to back up');
              for (const path of paths) {
                await assertPath(path);
                const out = await attempt(() => backup(path));
                await settleInit(true, 'Repository exist in the backend.');
                snapshots.push(out.stats);
                log.info({ path, snapshot: out.stats.name }, 'snapshot taken');
              }
            }
          } catch (err) {
            error = err instanceof PathError ? err.message : `backup failed: ${actionable(err, where)}`;
            if (initPending) {
              if (err instanceof PathError) {
                // Nothing told us about the repository yet; settle it for the others.
                try {
                  await repo.ensureInitialized();
                  await settleInit(true, 'Repository exist in the backend.');
                } catch (e2) {
                  await settleInit(false, `Failed to initialize the backend repository: ${actionable(e2, where)}`);
                }
              } else {
                await settleInit(false, `Failed to initialize the backend repository: ${actionable(err, where)}`);
              }
            }
          }
        }

        // 4. post-backup actions (last target only, once per session), before our stats
        const actions = targetStatus()?.postBackupActions ?? [];
        if (!error && actions.length) {
          sessionConditions.push(...(await this.#postBackupActions(session, invoker, member, repo, actions, where, log)));
        }
      }
    } finally {
      await repo?.close().catch(() => undefined);
    }

    // 5. this host's stats (and the action conditions) in one write
    const duration = formatMs(performance.now() - t0);
    const stats: HostBackupStats = error
      ? { hostname: host, phase: 'Failed', duration, error }
      : { hostname: host, phase: 'Succeeded', snapshots, duration };
    const written = await patchBackupSession(ctx.kube, ns, name, { conditions: sessionConditions, targets: [{ ref: statusRef, stats: [stats] }] }, this.#newest(session));
    log.info({ phase: stats.phase, duration, error }, 'backup finished');
    // Recorded while the postBackup hook runs; the run ends only after both.
    const event = emitEvent(ctx.kube, written ?? session, error
      ? { type: 'Warning', reason: 'HostBackupFailed', message: `Failed to backup host "${host}" of ${member.ref.kind}/${member.ref.name}: ${error}` }
      : { type: 'Normal', reason: 'HostBackupSucceeded', message: `Backup for host "${host}" of ${member.ref.kind}/${member.ref.name} succeeded (${snapshots.length} snapshot(s)).` },
    'stash-backup-sidecar', ctx.podName, log);

    // 6. local postBackup hook, honouring executionPolicy, once per target
    const post = hooks?.postBackup;
    if (post) {
      const current = written ?? session;
      if (!hasCondition(findTarget(current.status, member.ref, ns)?.conditions, CONDITION.PostBackupHookExecutionSucceeded)) {
        const reasons = { true: REASON.SuccessfullyExecutedPostBackupHook, false: REASON.FailedToExecutePostBackupHook };
        const skip = postHookSkipReason(post.executionPolicy, !error, session.spec.retryLeft ?? 0);
        let c: Condition;
        if (skip) c = cond(CONDITION.PostBackupHookExecutionSucceeded, true, reasons, skip);
        else {
          try {
            await runHook(post, this.#hookCtx(session, invoker, member, { Phase: error ? 'Failed' : 'Succeeded', Duration: duration, Error: error }));
            c = cond(CONDITION.PostBackupHookExecutionSucceeded, true, reasons, 'Successfully executed postBackup hook.');
          } catch (err) {
            c = cond(CONDITION.PostBackupHookExecutionSucceeded, false, reasons, `postBackup hook failed: ${errorMessage(err)}`);
          }
        }
        await patchBackupSession(ctx.kube, ns, name, { targets: [{ ref: statusRef, conditions: [c] }] }, this.#newest(current));
      }
    }
    await event;
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

  async #postBackupActions(
    session: BackupSession, invoker: BackupInvoker, member: Member, repo: RepoOps, actions: string[],
    where: { repository: string; secret?: string },
    log: AgentContext['log'],
  ): Promise<Condition[]> {
    const { ctx, host } = this;
    const ns = ctx.namespace;
    const name = session.metadata?.name ?? '';
    const out: Condition[] = [];
    // Only the last host of this target runs them, and only once every other target is final.
    const own = findTarget(session.status, member.ref, ns);
    const others = (own?.stats ?? []).filter((s) => s.hostname !== host).length;
    if (own?.totalHosts !== undefined && others < own.totalHosts - 1) {
      log.info('post-backup actions left to the last host of this target');
      return out;
    }
    const fresh = await this.#waitSession(name, 'every other target to finish', (s) => {
      const targets = s.status?.targets ?? [];
      const ok = targets.every((t) => sameRef(t.ref, member.ref, ns) || ['Succeeded', 'Failed'].includes(backupTargetPhase(t)));
      return ok ? s : undefined;
    });
    const has = (type: string) => hasCondition(fresh.status?.conditions, type);
    const now = rfc3339(new Date());
    const mk = (type: string, ok: boolean, t: string, f: string, message: string): Condition => ({
      type, status: ok ? 'True' : 'False', reason: ok ? t : f, message, lastTransitionTime: now, ...(ok ? {} : { severity: 'Error' }),
    });
    // forget/check need the repository to themselves: clear locks of dead holders first. A live holder that
    // stays past the bound makes each action fail with the holder named (the commands recover again).
    await repo.recoverLocks({ exclusive: true }).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'locks still held before post-backup actions'));
    let removed: number | undefined;
    let integrity: boolean | undefined;
    if (actions.includes(POST_BACKUP_ACTIONS[0]) && !has(CONDITION.RetentionPolicyApplied)) {
      try {
        const r = await repo.forget(invoker.spec.retentionPolicy);
        removed = r.removed;
        out.push(mk(CONDITION.RetentionPolicyApplied, true, REASON.SuccessfullyAppliedRetentionPolicy, REASON.FailedToApplyRetentionPolicy,
          `Successfully applied retention policy "${invoker.spec.retentionPolicy.name}": kept ${r.kept}, removed ${r.removed} snapshot(s).`));
      } catch (err) {
        out.push(mk(CONDITION.RetentionPolicyApplied, false, REASON.SuccessfullyAppliedRetentionPolicy, REASON.FailedToApplyRetentionPolicy, `Failed to apply retention policy: ${actionable(err, where)}`));
      }
    }
    if (actions.includes(POST_BACKUP_ACTIONS[1]) && !has(CONDITION.RepositoryIntegrityVerified)) {
      try {
        const r = await repo.check();
        integrity = r.ok;
        out.push(r.ok
          ? mk(CONDITION.RepositoryIntegrityVerified, true, REASON.SuccessfullyVerifiedRepositoryIntegrity, REASON.FailedToVerifyRepositoryIntegrity, 'Repository integrity verified: no errors were found.')
          : mk(CONDITION.RepositoryIntegrityVerified, false, REASON.SuccessfullyVerifiedRepositoryIntegrity, REASON.FailedToVerifyRepositoryIntegrity, `restic check found errors: ${r.errors.slice(0, 5).join('; ')}`));
      } catch (err) {
        integrity = false;
        out.push(mk(CONDITION.RepositoryIntegrityVerified, false, REASON.SuccessfullyVerifiedRepositoryIntegrity, REASON.FailedToVerifyRepositoryIntegrity, `Failed to verify repository integrity: ${actionable(err, where)}`));
      }
    }
    if (actions.includes(POST_BACKUP_ACTIONS[2]) && !has(CONDITION.RepositoryMetricsPushed)) {
      try {
        const st = await repo.stats();
        const repoRef = invoker.spec.repository;
        if (!repoRef) throw new AgentError('the invoker names no spec.repository');
        const repoNs = repoRef.namespace || (invoker.metadata?.namespace ?? ns);
        const { formatBytes } = await import('../shared/restic/format.ts');
        await ctx.kube.update<Repository>(apiVersionOf('Repository'), 'Repository', repoNs, repoRef.name, (r) => {
          const s = (r.status ??= {});
          s.totalSize = formatBytes(st.totalSize);
          s.snapshotCount = st.snapshotCount;
          if (integrity !== undefined) s.integrity = integrity;
          if (removed !== undefined) s.snapshotsRemovedOnLastCleanup = removed;
          const created = (session.metadata?.creationTimestamp as string | undefined) ?? rfc3339(new Date());
          s.lastBackupTime = created;
          s.firstBackupTime ??= created;
          return r;
        }, { subresource: 'status' });
        out.push(mk(CONDITION.RepositoryMetricsPushed, true, REASON.SuccessfullyPushedRepositoryMetrics, REASON.FailedToPushRepositoryMetrics,
          `Repository status updated: ${formatBytes(st.totalSize)} in ${st.snapshotCount} snapshot(s).`));
      } catch (err) {
        out.push(mk(CONDITION.RepositoryMetricsPushed, false, REASON.SuccessfullyPushedRepositoryMetrics, REASON.FailedToPushRepositoryMetrics, `Failed to update repository metrics: ${actionable(err, where)}`));
      }
    }
    return out;
  }

  #hookCtx(session: BackupSession, invoker: BackupInvoker, member: Member, status: HookSummary['Status']) {
    const summary: HookSummary = {
      Name: session.metadata?.name ?? '',
      Namespace: this.ctx.namespace,
      Invoker: { APIGroup: session.spec.invoker?.apiGroup, Kind: sessionInvoker(session)?.kind ?? '', Name: sessionInvoker(session)?.name ?? '' },
      Target: { APIVersion: member.ref.apiVersion, Kind: member.ref.kind, Name: member.ref.name, Namespace: member.ref.namespace || this.ctx.namespace },
      Status: status,
      RetryLeft: session.spec.retryLeft ?? 0,
    };
    return { kube: this.ctx.kube, namespace: this.ctx.namespace, podName: this.ctx.podName, ownContainer: 'stash', summary };
  }
}

class PathError extends AgentError {}

async function assertPath(path: string): Promise<void> {
  try {
    await stat(path);
  } catch {
    throw new PathError(`path ${path} does not exist in the stash container: check target.paths and that target.volumeMounts mounts the volume at that path`);
  }
}

/** The hostname restic writes into its locks from this pod. */
export function ownResticHostname(ctx: AgentContext): string {
  return ctx.isolateHostname ? ctx.podName : osHostname();
}

import { hostname as osHostname } from 'node:os';

export function sidecarHost(ctx: AgentContext, invoker: BackupInvoker): string {
  const member = requireMember(invoker, ctx.invokerKind, ctx.invokerName, ctx);
  if (ctx.hostOverride) return ctx.hostOverride;
  return hostFor({ targetKind: ctx.targetKind, alias: member.spec.target.alias, podName: ctx.podName, nodeName: ctx.nodeName });
}
