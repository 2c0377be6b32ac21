// One host's complete share of one BackupSession, in named steps: its local preBackup hook, the Repository
// opened, repository initialisation (ours if assigned, else waited for), one snapshot per path or one
// database dump, post-backup actions when this target carries them, this host's stats, the local
// postBackup hook. Run by the sidecar (agent/sidecar.ts) and by the backup Job (agent/job.ts). Backup
// failures go to status; only a failure to reach the API (after the client's retries) throws.
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { CONDITION, POST_BACKUP_ACTIONS, REASON, apiVersionOf } from '../shared/api/constants.ts';
import type { Condition, HostBackupStats, SnapshotStats, TargetRef } from '../shared/api/index.ts';
import { errorMessage } from '../shared/errors.ts';
import { RepositoryMissingError } from '../shared/restic/errors.ts';
import type { LockInfo } from '../shared/restic/output.ts';
import {
  backupTargetPhase,
  findCondition,
  findTarget,
  hasCondition,
  isFalse,
  isFinalSessionPhase,
  rfc3339,
  sameRef,
} from '../shared/status/index.ts';
import { formatMs } from '../shared/status/duration.ts';
import {
  AgentError,
  loadRepository,
  waitUntil,
  type AgentContext,
  type LoadedRepository,
  type RepositoryPrefetch,
} from './common.ts';
import { backupDatabaseTarget, isDatabaseTarget } from './database.ts';
import { runHook, type HookSummary } from './hooks.ts';
import { holderChecker } from './locks.ts';
import { actionable } from './messages.ts';
import { ProgressReporter } from './progress.ts';
import type { RepoOps } from './repo.ts';
import { emitEvent, hostCondition, patchBackupSession, postHookCondition } from './status.ts';
import type { BackupBatch, BackupInvoker, BackupSession, Repository } from './types.ts';
import type { Member } from './members.ts';
import { sessionInvoker } from '../shared/api/target.ts';

export type OpenRepo = (
  loaded: LoadedRepository,
  ctx: AgentContext,
  isHolderAlive: (lock: LockInfo) => Promise<boolean>,
) => Promise<RepoOps>;

const WAIT_MS = 30 * 60_000;
const REPOSITORY_FOUND = 'Repository exist in the backend.';
const INIT_REASONS = { true: REASON.BackendRepositoryFound, false: REASON.FailedToInitializeBackendRepository };

export type Readiness = { run: true } | { run: false; why: string; final?: boolean };

/** docs/api.md §15.4: whether this host should back up for the session now, from the session and invoker alone. */
export function readiness(
  session: BackupSession,
  invoker: BackupInvoker,
  member: Member,
  host: string,
  namespace: string,
): Readiness {
  const st = session.status;
  if (isFinalSessionPhase(st?.phase)) return { run: false, why: `session is ${st?.phase}`, final: true };
  if (isFalse(st?.conditions, CONDITION.GlobalPreBackupHookSucceeded))
    return { run: false, why: 'global preBackup hook failed', final: true };
  const target = findTarget(st, member.ref, namespace);
  if (!target || target.totalHosts === undefined || target.totalHosts === null)
    return { run: false, why: 'target not initiated by the operator yet' };
  if (target.stats?.some((s) => s.hostname === host))
    return { run: false, why: 'this host already reported', final: true };
  const phase = backupTargetPhase(target);
  if (phase === 'Succeeded' || phase === 'Failed')
    return { run: false, why: `target is already ${phase}`, final: true };
  if (
    sessionInvoker(session)?.kind === 'BackupBatch' &&
    (invoker as BackupBatch).spec.executionOrder === 'Sequential'
  ) {
    const members = (invoker as BackupBatch).spec.members ?? [];
    for (let i = 0; i < member.index; i++) {
      const earlier = findTarget(st, members[i]?.target?.ref as TargetRef, namespace);
      const p = earlier ? backupTargetPhase(earlier) : 'Pending';
      if (p !== 'Succeeded' && p !== 'Failed')
        return { run: false, why: `waiting for member ${i} (${members[i]?.target?.ref?.name}) to finish` };
    }
  }
  return { run: true };
}

/** What a host run needs from whoever runs it (the sidecar or the backup Job). */
export interface HostBackupDeps {
  /** With the session run's client (retries until the session's deadline). */
  ctx: AgentContext;
  openRepo: OpenRepo;
  host: string;
  /** Stops restic and waits (the agent is stopping). */
  signal: AbortSignal;
  /** Wakes waits on the session when a newer copy arrives (the sidecar's informer); without it they poll. */
  subscribe?: (name: string, wake: () => void) => () => void;
  /** The newest copy of the session known (the informer's), as a starting point for a status write. */
  newest?: (mine: BackupSession) => BackupSession;
}

/** The Repository's display name and Secret, for messages that say what to check. */
interface Where {
  repository: string;
  secret?: string;
}

export class HostBackup {
  readonly #d: HostBackupDeps;
  readonly #session: BackupSession;
  readonly #invoker: BackupInvoker;
  readonly #member: Member;
  readonly #prefetch: RepositoryPrefetch | undefined;
  readonly #name: string;
  readonly #ns: string;
  readonly #statusRef: TargetRef;
  readonly #log: AgentContext['log'];
  readonly #t0 = performance.now();
  #error: string | undefined;
  readonly #snapshots: SnapshotStats[] = [];
  /** Session conditions that ride on this host's stats write. */
  readonly #sessionConditions: Condition[] = [];
  #repo: RepoOps | undefined;
  #loaded: LoadedRepository | undefined;
  #where: Where = { repository: '' };
  /** Ours to settle: BackendRepositoryInitialized, assigned to this target and not yet written. */
  #initPending = false;

  constructor(
    d: HostBackupDeps,
    session: BackupSession,
    invoker: BackupInvoker,
    member: Member,
    prefetch?: RepositoryPrefetch,
  ) {
    this.#d = d;
    this.#session = session;
    this.#invoker = invoker;
    this.#member = member;
    this.#prefetch = prefetch;
    this.#name = session.metadata?.name ?? '';
    this.#ns = d.ctx.namespace;
    this.#statusRef = this.#target()?.ref ?? member.ref;
    this.#log = d.ctx.log.child({ session: this.#name, target: `${member.ref.kind}/${member.ref.name}`, host: d.host });
  }

  /** The storage Secret the Repository named, once the run has read it (the sidecar's next prefetch guesses it). */
  get storageSecretName(): string | undefined {
    return this.#loaded?.repository.spec.backend.storageSecretName;
  }

  async run(): Promise<void> {
    this.#log.info('backup started');
    await this.#preBackupHook();
    if (!this.#error) await this.#openRepository();
    try {
      if (!this.#error && this.#repo) {
        await this.#repositoryInitialisation();
        if (!this.#error) await this.#backUp(this.#repo);
        if (!this.#error) await this.#postBackupActions(this.#repo);
      }
    } finally {
      await this.#repo?.close().catch(() => undefined);
    }
    const { written, duration, event } = await this.#recordStats();
    await this.#postBackupHook(written ?? this.#session, duration);
    await event;
  }

  #target() {
    return findTarget(this.#session.status, this.#member.ref, this.#ns);
  }

  async #writeTargetConditions(conditions: Condition[], known?: BackupSession): Promise<BackupSession | null> {
    return await patchBackupSession(
      this.#d.ctx.kube,
      this.#ns,
      this.#name,
      { targets: [{ ref: this.#statusRef, conditions }] },
      known,
    );
  }

  /** Step 1: the local preBackup hook, once per target. */
  async #preBackupHook(): Promise<void> {
    const hook = this.#member.spec.hooks?.preBackup;
    if (!hook || hasCondition(this.#target()?.conditions, CONDITION.PreBackupHookExecutionSucceeded)) return;
    const reasons = { true: REASON.SuccessfullyExecutedPreBackupHook, false: REASON.FailedToExecutePreBackupHook };
    try {
      await runHook(hook, this.#hookCtx({}));
      await this.#writeTargetConditions([
        hostCondition(
          CONDITION.PreBackupHookExecutionSucceeded,
          true,
          reasons,
          'Successfully executed preBackup hook.',
        ),
      ]);
    } catch (err) {
      this.#error = `preBackup hook failed: ${errorMessage(err)}`;
      await this.#writeTargetConditions([
        hostCondition(CONDITION.PreBackupHookExecutionSucceeded, false, reasons, this.#error),
      ]);
    }
  }

  /** Step 2a: the Repository and its Secret read (through the prefetch when it is usable), restic prepared. */
  async #openRepository(): Promise<void> {
    const { ctx, openRepo } = this.#d;
    try {
      this.#loaded = await loadRepository(
        ctx.kube,
        this.#invoker.spec.repository,
        this.#invoker.metadata?.namespace ?? this.#ns,
        this.#prefetch,
      );
      this.#repo = await openWithLockCheck(openRepo, this.#loaded, ctx, this.#log);
    } catch (err) {
      this.#error = `cannot prepare the repository: ${errorMessage(err)}`;
    }
    if (this.#loaded) this.#where = repositoryWhere(this.#loaded, this.#repo);
  }

  /**
   * Step 2b: repository initialisation is ours if assigned, else waited for. Opening a repository costs
   * restic a key derivation (~0.5 s), so an assigned host does not probe first: it backs up, and only a
   * "no repository" answer makes it run init and try again. Success of either proves the repository.
   */
  async #repositoryInitialisation(): Promise<void> {
    const assigned = this.#target()?.preBackupActions?.includes('InitializeBackendRepository') ?? false;
    const initDone = findCondition(this.#session.status?.conditions, CONDITION.BackendRepositoryInitialized);
    this.#initPending = assigned && !initDone;
    if (!assigned && !initDone) {
      const c = await this.#waitSession('BackendRepositoryInitialized', (s) =>
        findCondition(s.status?.conditions, CONDITION.BackendRepositoryInitialized),
      );
      if (c.status === 'False') this.#error = `repository initialisation failed: ${c.message ?? c.reason ?? ''}`;
    } else if (initDone?.status === 'False') {
      this.#error = `repository initialisation failed: ${initDone.message ?? initDone.reason ?? ''}`;
    }
  }

  /** Records BackendRepositoryInitialized once: other targets wait for it; a single target's rides on its stats. */
  async #settleInit(ok: boolean, message: string): Promise<void> {
    if (!this.#initPending) return;
    this.#initPending = false;
    const c = hostCondition(CONDITION.BackendRepositoryInitialized, ok, INIT_REASONS, message);
    const othersWait = (this.#session.status?.targets?.length ?? 1) > 1;
    if (othersWait) await patchBackupSession(this.#d.ctx.kube, this.#ns, this.#name, { conditions: [c] });
    else this.#sessionConditions.push(c);
  }

  /** Step 3: one snapshot per path, or the database dump (a stale lock in the way is recovered, holder-aware). */
  async #backUp(repo: RepoOps): Promise<void> {
    try {
      await repo.preflight();
      if (this.#initPending) await this.#initialiseIfMissing(repo);
      if (isDatabaseTarget(this.#member.ref)) await this.#backUpDatabase(repo);
      else await this.#backUpPaths(repo);
    } catch (err) {
      this.#error = err instanceof PathError ? err.message : `backup failed: ${actionable(err, this.#where)}`;
      await this.#settleInitAfterFailure(repo, err);
    }
  }

  /** Answered by the backend itself when it can (no key derivation, no retry storm on a missing bucket). */
  async #initialiseIfMissing(repo: RepoOps): Promise<void> {
    const exists = await repo.exists();
    if (exists === false) {
      await repo.ensureInitialized();
      this.#log.info('repository initialised');
    }
    if (exists !== undefined) await this.#settleInit(true, REPOSITORY_FOUND);
  }

  /** A repository that turned out missing is created once, then the step runs again. */
  async #initialisingOnMissing<T>(repo: RepoOps, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      if (!(this.#initPending && err instanceof RepositoryMissingError)) throw err;
      await repo.ensureInitialized();
      this.#log.info('repository initialised');
      return await step();
    }
  }

  async #backUpDatabase(repo: RepoOps): Promise<void> {
    const { ctx, host, signal } = this.#d;
    const member = this.#member;
    const out = await this.#initialisingOnMissing(repo, () =>
      backupDatabaseTarget({
        kube: ctx.kube,
        repo,
        ref: member.ref,
        namespace: this.#invoker.metadata?.namespace ?? this.#ns,
        task: member.spec.task,
        host,
        tmpDir: ctx.tmpDir,
        signal,
      }),
    );
    await this.#settleInit(true, REPOSITORY_FOUND);
    this.#snapshots.push(out.stats);
    this.#log.info({ snapshot: out.stats.name }, 'database dump backed up');
  }

  async #backUpPaths(repo: RepoOps): Promise<void> {
    const target = this.#member.spec.target;
    const paths = target.paths ?? [];
    if (!paths.length) throw new PathError('target.paths is empty: nothing to back up');
    for (const path of paths) {
      await assertPath(path);
      const progress = new ProgressReporter(
        this.#d.host,
        (p) =>
          patchBackupSession(this.#d.ctx.kube, this.#ns, this.#name, {
            targets: [{ ref: this.#statusRef, progress: [p] }],
          }),
        this.#log,
      );
      const out = await this.#initialisingOnMissing(repo, () =>
        repo.backup(path, {
          host: this.#d.host,
          exclude: target.exclude,
          args: target.args,
          signal: this.#d.signal,
          onProgress: (s) => progress.update(s),
        }),
      ).finally(() => progress.stop());
      await this.#settleInit(true, REPOSITORY_FOUND);
      this.#snapshots.push(out.stats);
      this.#log.info({ path, snapshot: out.stats.name }, 'snapshot taken');
    }
  }

  /** A failed step still settles initialisation for the others: a path error says nothing about the repository. */
  async #settleInitAfterFailure(repo: RepoOps, err: unknown): Promise<void> {
    if (!this.#initPending) return;
    if (!(err instanceof PathError)) {
      await this.#settleInit(false, `Failed to initialize the backend repository: ${actionable(err, this.#where)}`);
      return;
    }
    try {
      await repo.ensureInitialized();
      await this.#settleInit(true, REPOSITORY_FOUND);
    } catch (e2) {
      await this.#settleInit(false, `Failed to initialize the backend repository: ${actionable(e2, this.#where)}`);
    }
  }

  /** Step 4: post-backup actions, when this target carries them: the last host of it, once every other target is final. */
  async #postBackupActions(repo: RepoOps): Promise<void> {
    const actions = this.#target()?.postBackupActions ?? [];
    if (!actions.length) return;
    const own = this.#target();
    const others = (own?.stats ?? []).filter((s) => s.hostname !== this.#d.host).length;
    if (own?.totalHosts !== undefined && others < own.totalHosts - 1) {
      this.#log.info('post-backup actions left to the last host of this target');
      return;
    }
    const fresh = await this.#waitSession('every other target to finish', (s) => {
      const targets = s.status?.targets ?? [];
      const ok = targets.every(
        (t) => sameRef(t.ref, this.#member.ref, this.#ns) || ['Succeeded', 'Failed'].includes(backupTargetPhase(t)),
      );
      return ok ? s : undefined;
    });
    const has = (type: string) => hasCondition(fresh.status?.conditions, type);
    // forget/check need the repository to themselves: clear locks of dead holders first. A live holder that
    // stays past the bound makes each action fail with the holder named (the commands recover again).
    await repo
      .recoverLocks({ exclusive: true })
      .catch((err: unknown) =>
        this.#log.warn({ err: errorMessage(err) }, 'locks still held before post-backup actions'),
      );
    let removed: number | undefined;
    let integrity: boolean | undefined;
    if (actions.includes(POST_BACKUP_ACTIONS[0]) && !has(CONDITION.RetentionPolicyApplied)) {
      const r = await this.#applyRetentionPolicy(repo);
      removed = r.removed;
      this.#sessionConditions.push(r.condition);
    }
    if (actions.includes(POST_BACKUP_ACTIONS[1]) && !has(CONDITION.RepositoryIntegrityVerified)) {
      const r = await this.#verifyIntegrity(repo);
      integrity = r.integrity;
      this.#sessionConditions.push(r.condition);
    }
    if (actions.includes(POST_BACKUP_ACTIONS[2]) && !has(CONDITION.RepositoryMetricsPushed)) {
      this.#sessionConditions.push(await this.#pushRepositoryMetrics(repo, { integrity, removed }));
    }
  }

  async #applyRetentionPolicy(repo: RepoOps): Promise<{ removed?: number; condition: Condition }> {
    const policy = this.#invoker.spec.retentionPolicy;
    const reasons = { true: REASON.SuccessfullyAppliedRetentionPolicy, false: REASON.FailedToApplyRetentionPolicy };
    try {
      const r = await repo.forget(policy);
      return {
        removed: r.removed,
        condition: hostCondition(
          CONDITION.RetentionPolicyApplied,
          true,
          reasons,
          `Successfully applied retention policy "${policy.name}": kept ${r.kept}, removed ${r.removed} snapshot(s).`,
        ),
      };
    } catch (err) {
      return {
        condition: hostCondition(
          CONDITION.RetentionPolicyApplied,
          false,
          reasons,
          `Failed to apply retention policy: ${actionable(err, this.#where)}`,
        ),
      };
    }
  }

  async #verifyIntegrity(repo: RepoOps): Promise<{ integrity: boolean; condition: Condition }> {
    const reasons = {
      true: REASON.SuccessfullyVerifiedRepositoryIntegrity,
      false: REASON.FailedToVerifyRepositoryIntegrity,
    };
    try {
      const r = await repo.check();
      return {
        integrity: r.ok,
        condition: r.ok
          ? hostCondition(
              CONDITION.RepositoryIntegrityVerified,
              true,
              reasons,
              'Repository integrity verified: no errors were found.',
            )
          : hostCondition(
              CONDITION.RepositoryIntegrityVerified,
              false,
              reasons,
              `restic check found errors: ${r.errors.slice(0, 5).join('; ')}`,
            ),
      };
    } catch (err) {
      return {
        integrity: false,
        condition: hostCondition(
          CONDITION.RepositoryIntegrityVerified,
          false,
          reasons,
          `Failed to verify repository integrity: ${actionable(err, this.#where)}`,
        ),
      };
    }
  }

  async #pushRepositoryMetrics(
    repo: RepoOps,
    found: { integrity: boolean | undefined; removed: number | undefined },
  ): Promise<Condition> {
    const reasons = { true: REASON.SuccessfullyPushedRepositoryMetrics, false: REASON.FailedToPushRepositoryMetrics };
    const invoker = this.#invoker;
    try {
      const st = await repo.stats();
      const repoRef = invoker.spec.repository;
      if (!repoRef) throw new AgentError('the invoker names no spec.repository');
      const repoNs = repoRef.namespace || (invoker.metadata?.namespace ?? this.#ns);
      const { formatBytes } = await import('../shared/restic/format.ts');
      await this.#d.ctx.kube.update<Repository>(
        apiVersionOf('Repository'),
        'Repository',
        repoNs,
        repoRef.name,
        (r) => {
          const s = (r.status ??= {});
          s.totalSize = formatBytes(st.totalSize);
          s.snapshotCount = st.snapshotCount;
          if (found.integrity !== undefined) s.integrity = found.integrity;
          if (found.removed !== undefined) s.snapshotsRemovedOnLastCleanup = found.removed;
          const created = (this.#session.metadata?.creationTimestamp as string | undefined) ?? rfc3339(new Date());
          s.lastBackupTime = created;
          s.firstBackupTime ??= created;
          return r;
        },
        { subresource: 'status' },
      );
      return hostCondition(
        CONDITION.RepositoryMetricsPushed,
        true,
        reasons,
        `Repository status updated: ${formatBytes(st.totalSize)} in ${st.snapshotCount} snapshot(s).`,
      );
    } catch (err) {
      return hostCondition(
        CONDITION.RepositoryMetricsPushed,
        false,
        reasons,
        `Failed to update repository metrics: ${actionable(err, this.#where)}`,
      );
    }
  }

  /** Step 5: this host's stats (and the session conditions gathered) in one write; its Event is recorded meanwhile. */
  async #recordStats(): Promise<{ written: BackupSession | null; duration: string; event: Promise<void> }> {
    const { ctx, host } = this.#d;
    const ref = this.#member.ref;
    const error = this.#error;
    const duration = formatMs(performance.now() - this.#t0);
    const stats: HostBackupStats = error
      ? { hostname: host, phase: 'Failed', duration, error }
      : { hostname: host, phase: 'Succeeded', snapshots: this.#snapshots, duration };
    const written = await patchBackupSession(
      ctx.kube,
      this.#ns,
      this.#name,
      { conditions: this.#sessionConditions, targets: [{ ref: this.#statusRef, stats: [stats] }] },
      this.#newest(this.#session),
    );
    this.#log.info({ phase: stats.phase, duration, error }, 'backup finished');
    // Recorded while the postBackup hook runs; the run ends only after both.
    const event = emitEvent(
      ctx.kube,
      written ?? this.#session,
      error
        ? {
            type: 'Warning',
            reason: 'HostBackupFailed',
            message: `Failed to backup host "${host}" of ${ref.kind}/${ref.name}: ${error}`,
          }
        : {
            type: 'Normal',
            reason: 'HostBackupSucceeded',
            message: `Backup for host "${host}" of ${ref.kind}/${ref.name} succeeded (${this.#snapshots.length} snapshot(s)).`,
          },
      'stash-backup-sidecar',
      ctx.podName,
      this.#log,
    );
    return { written, duration, event };
  }

  /** Step 6: the local postBackup hook, honouring executionPolicy, once per target. */
  async #postBackupHook(current: BackupSession, duration: string): Promise<void> {
    const post = this.#member.spec.hooks?.postBackup;
    if (
      !post ||
      hasCondition(
        findTarget(current.status, this.#member.ref, this.#ns)?.conditions,
        CONDITION.PostBackupHookExecutionSucceeded,
      )
    )
      return;
    const c = await postHookCondition(
      post,
      {
        type: CONDITION.PostBackupHookExecutionSucceeded,
        name: 'postBackup',
        error: this.#error,
        retryLeft: this.#session.spec.retryLeft ?? 0,
        reasons: { true: REASON.SuccessfullyExecutedPostBackupHook, false: REASON.FailedToExecutePostBackupHook },
      },
      (status) => runHook(post, this.#hookCtx(status)),
      duration,
    );
    await this.#writeTargetConditions([c], this.#newest(current));
  }

  #newest(mine: BackupSession): BackupSession {
    return this.#d.newest?.(mine) ?? mine;
  }

  /** Event-driven wait on this session's status when the runner can wake it, with a slow poll as a safety net. */
  async #waitSession<R>(what: string, check: (s: BackupSession) => R | undefined): Promise<R> {
    const { ctx, subscribe, signal } = this.#d;
    const name = this.#name;
    return await waitUntil(
      async () =>
        check(await ctx.kube.get<BackupSession>(apiVersionOf('BackupSession'), 'BackupSession', this.#ns, name)),
      {
        what,
        timeoutMs: WAIT_MS,
        pollMs: 5000,
        signal,
        log: ctx.log,
        subscribe: subscribe ? (wake) => subscribe(name, wake) : undefined,
      },
    );
  }

  #hookCtx(status: HookSummary['Status']) {
    const { ctx } = this.#d;
    const session = this.#session;
    const ref = this.#member.ref;
    const invoker = sessionInvoker(session);
    const summary: HookSummary = {
      Name: this.#name,
      Namespace: ctx.namespace,
      Invoker: { APIGroup: session.spec.invoker?.apiGroup, Kind: invoker?.kind ?? '', Name: invoker?.name ?? '' },
      Target: { APIVersion: ref.apiVersion, Kind: ref.kind, Name: ref.name, Namespace: ref.namespace || ctx.namespace },
      Status: status,
      RetryLeft: session.spec.retryLeft ?? 0,
    };
    return { kube: ctx.kube, namespace: ctx.namespace, podName: ctx.podName, ownContainer: 'stash', summary };
  }
}

class PathError extends AgentError {}

async function assertPath(path: string): Promise<void> {
  try {
    await stat(path);
  } catch {
    throw new PathError(
      `path ${path} does not exist in the stash container: check target.paths and that target.volumeMounts mounts the volume at that path`,
    );
  }
}

/** The hostname restic writes into its locks from this pod. */
function ownResticHostname(ctx: AgentContext): string {
  return ctx.isolateHostname ? ctx.podName : osHostname();
}

/** Opens the repository with a stale-lock check that knows which lock holders are this pod. */
export async function openWithLockCheck(
  openRepo: OpenRepo,
  loaded: LoadedRepository,
  ctx: AgentContext,
  log: AgentContext['log'],
): Promise<RepoOps> {
  const isHolderAlive = holderChecker({
    kube: ctx.kube,
    namespace: ctx.targetNamespace,
    ownHostname: ownResticHostname(ctx),
    log,
  });
  return await openRepo(loaded, ctx, isHolderAlive);
}

/** Where a run failed, for actionable messages: the repository as restic names it, and its Secret. */
export function repositoryWhere(
  loaded: LoadedRepository,
  repo: RepoOps | undefined,
): { repository: string; secret: string } {
  return {
    repository: repo?.display ?? loaded.repository.metadata?.name ?? '',
    secret: `${loaded.repository.metadata?.namespace}/${loaded.repository.spec.backend.storageSecretName ?? ''}`,
  };
}

import { hostname as osHostname } from 'node:os';
