// `restore`: the init-container (or, with --restore-model=job, a Job) of docs/api.md §16.2. Exit code is the result:
// 0 when this host is restored (or nothing is left to do), non-zero on failure so the kubelet retries and
// the pod stays in Init where a person will see it. A run that throws (the API unreachable past the
// session's deadline) exits non-zero too, and the kubelet's restart is its retry.
import { performance } from 'node:perf_hooks';
import { CONDITION, REASON, apiVersionOf, leaseName } from '../shared/api/constants.ts';
import type { Condition, HostRestoreStats, RestoreTargetSpec, Rule, TargetRef } from '../shared/api/index.ts';
import { membersOf } from '../shared/api/target.ts';
import { LeaseLock } from '../shared/kube/lease.ts';
import { errorMessage } from '../shared/errors.ts';
import { hostFor, restoreHostForTemplates } from '../shared/restic/host.ts';
import {
  findCondition,
  hasCondition,
  isFalse,
  isFinalMemberPhase,
  isFinalRestorePhase,
  restoreMemberPhase,
  sameRef,
} from '../shared/status/index.ts';
import { formatMs } from '../shared/status/duration.ts';
import {
  AgentError,
  loadRepository,
  matchesTarget,
  prefetchRepository,
  sessionKube,
  waitUntil,
  type AgentContext,
  type LoadedRepository,
  type RepositoryPrefetch,
} from './common.ts';
import { runHook, type HookSummary } from './hooks.ts';
import { isDatabaseTarget, restoreDatabaseTarget } from './database.ts';
import { actionable } from './messages.ts';
import type { RepoOps } from './repo.ts';
import { emitEvent, hostCondition, patchRestoreBatchMember, patchRestoreSession, postHookCondition } from './status.ts';
import { withHeartbeat } from './heartbeat.ts';
import { openWithLockCheck, repositoryWhere, type OpenRepo } from './host-backup.ts';
import type { RestoreBatch, RestoreInvoker, RestoreSession } from './types.ts';

const WAIT_MS = 30 * 60_000;

interface Member {
  index: number;
  spec: RestoreTargetSpec;
  ref: TargetRef | undefined;
}

interface MemberView {
  conditions?: Condition[];
  stats?: HostRestoreStats[];
  totalHosts?: number;
}

/** docs/api.md §2.3: the rule listing this host wins, else the rule without targetHosts, else none (restore nothing). */
export function selectRule(rules: readonly Rule[] | undefined, host: string): Rule | undefined {
  if (!rules || rules.length === 0) return {};
  return (
    rules.find((r) => r.targetHosts?.includes(host)) ?? rules.find((r) => !r.targetHosts || r.targetHosts.length === 0)
  );
}

export interface ResticStep {
  snapshot: string;
  host?: string;
  path?: string;
}

/** docs/api.md §16.2 step 6: the restic restores a rule asks for. Paths/defaults resolve "latest" of the source host. */
export async function planRestore(rule: Rule, host: string, repo: Pick<RepoOps, 'snapshots'>): Promise<ResticStep[]> {
  const source = rule.sourceHost || host;
  if (rule.snapshots?.length) return rule.snapshots.map((s) => ({ snapshot: s }));
  if (rule.paths?.length) return rule.paths.map((p) => ({ snapshot: 'latest', host: source, path: p }));
  // No paths and no snapshots: the latest snapshot of every path the source host backed up.
  const snaps = await repo.snapshots({ host: source });
  const latest = new Map<string, string>();
  for (const s of snaps) latest.set(s.paths.join(','), s.id);
  if (latest.size === 0)
    throw new AgentError(
      `no snapshot of host "${source}" in the repository: check target.alias and the rule's sourceHost`,
    );
  return [...latest.values()].map((id) => ({ snapshot: id }));
}

/** The invoker's members; a RestoreSession's older top-level `spec.rules` count as its target's rules. */
function restoreMembers(invoker: RestoreInvoker, kind: string): RestoreTargetSpec[] {
  return membersOf({ ...invoker, kind } as RestoreInvoker).map(({ member }) => {
    const legacy = kind === 'RestoreSession' ? (invoker as RestoreSession).spec.rules : undefined;
    if (!member.target || member.target.rules?.length || !legacy?.length) return member;
    return { ...member, target: { ...member.target, rules: legacy } };
  });
}

function memberView(invoker: RestoreInvoker, kind: string, ref: TargetRef | undefined, ns: string): MemberView {
  if (kind === 'RestoreSession') return (invoker as RestoreSession).status ?? {};
  return (invoker as RestoreBatch).status?.members?.find((m) => sameRef(m.ref, ref, ns)) ?? {};
}

export interface RestoreRunOptions {
  model: 'init-container' | 'job';
  signal?: AbortSignal;
}

/** Returns the process exit code. */
export async function runRestore(ctx: AgentContext, openRepo: OpenRepo, o: RestoreRunOptions): Promise<number> {
  const kind = ctx.invokerKind;
  if (kind !== 'RestoreSession' && kind !== 'RestoreBatch')
    throw new AgentError(`--invoker-kind must be RestoreSession or RestoreBatch, got "${kind}"`);
  const invoker = await ctx.kube.get<RestoreInvoker>(apiVersionOf(kind), kind, ctx.namespace, ctx.invokerName);
  return await new HostRestore(ctx, openRepo, o, kind, invoker).run();
}

/**
 * One host's restore for a RestoreSession or one RestoreBatch member, in named steps: leave when nothing
 * is left to do, wait for earlier members (Sequential), then under the workload's restore lease (one pod
 * at a time; a Job has its host to itself) the local preRestore hook, the data, this host's stats and the
 * local postRestore hook. The heartbeat runs from the first wait to the last status write.
 */
class HostRestore {
  readonly #ctx: AgentContext;
  readonly #openRepo: OpenRepo;
  readonly #o: RestoreRunOptions;
  readonly #kind: RestoreKind;
  readonly #ns: string;
  readonly #t0 = performance.now();
  readonly #member: Member;
  readonly #host: string;
  readonly #log: AgentContext['log'];
  readonly #statusRef: TargetRef;
  #invoker: RestoreInvoker;
  /** The object just read or written: saves each status write its own read unless someone wrote in between. */
  #latest: RestoreInvoker;
  #prefetch: RepositoryPrefetch | undefined;
  /** Events are recorded while the lease is released; the process waits for them before it exits. */
  readonly #pending: Array<Promise<void>> = [];

  constructor(ctx: AgentContext, openRepo: OpenRepo, o: RestoreRunOptions, kind: RestoreKind, invoker: RestoreInvoker) {
    this.#ns = ctx.namespace;
    this.#openRepo = openRepo;
    this.#o = o;
    this.#kind = kind;
    this.#invoker = invoker;
    this.#latest = invoker;
    this.#member = restoreMember(invoker, kind, ctx);
    const target = this.#member.spec.target;
    this.#host =
      ctx.hostOverride ??
      (ctx.podOrdinal !== undefined
        ? restoreHostForTemplates(target?.alias, Number(ctx.podOrdinal), target?.replicas !== undefined)
        : hostFor({ targetKind: ctx.targetKind, alias: target?.alias, podName: ctx.podName, nodeName: ctx.nodeName }));
    this.#log = ctx.log.child({ invoker: `${kind}/${ctx.invokerName}`, host: this.#host });
    this.#statusRef = this.#member.ref ?? { kind: ctx.targetKind, name: ctx.targetName };
    // Once the host takes the restore up, its calls retry until the session's deadline.
    this.#ctx = {
      ...ctx,
      kube: sessionKube(ctx.kube, (invoker.status as { sessionDeadline?: string } | undefined)?.sessionDeadline),
    };
  }

  async run(): Promise<number> {
    const leave = this.#alreadySettled();
    if (leave !== undefined) return leave;
    const beat = {
      kube: this.#ctx.kube,
      sessionKind: this.#kind,
      session: this.#invoker,
      host: this.#host,
      holder: this.#ctx.podName,
      log: this.#log,
    };
    try {
      return await withHeartbeat(beat, async () => {
        if (!(await this.#waitForEarlierMembers())) return 0;
        // The Repository and Secret reads overlap the lease and the re-read under it (used only if still recent).
        if (selectRule(this.#member.spec.target?.rules, this.#host))
          this.#prefetch = prefetchRepository(this.#ctx.kube, this.#invoker.spec.repository, this.#ns);
        if (this.#o.model === 'job') return await this.#restoreHost();
        const ctx = this.#ctx;
        const lease = new LeaseLock(ctx.kube, {
          namespace: ctx.targetNamespace,
          name: leaseName(ctx.targetKind, ctx.targetName, 'restore'),
          identity: ctx.podName,
          log: this.#log,
        });
        return await lease.withLease(() => this.#restoreHost(), this.#o.signal);
      });
    } finally {
      await Promise.all(this.#pending);
    }
  }

  #get(): Promise<RestoreInvoker> {
    return this.#ctx.kube.get<RestoreInvoker>(apiVersionOf(this.#kind), this.#kind, this.#ns, this.#ctx.invokerName);
  }

  #nothingToDo(inv: RestoreInvoker): string | undefined {
    if (isFinalRestorePhase(inv.status?.phase)) return `invoker is ${inv.status?.phase}`;
    if (isFalse(inv.status?.conditions, CONDITION.GlobalPreRestoreHookSucceeded))
      return 'global preRestore hook failed';
    return undefined;
  }

  #view(inv: RestoreInvoker): MemberView {
    return memberView(inv, this.#kind, this.#member.ref, this.#ns);
  }

  #hostStat(inv: RestoreInvoker): HostRestoreStats | undefined {
    return this.#view(inv).stats?.find((s) => s.hostname === this.#host);
  }

  /** Init containers run again on every pod restart: the exit code at once when nothing is left to do. */
  #alreadySettled(): number | undefined {
    const early = this.#nothingToDo(this.#invoker);
    if (early) {
      this.#log.info({ why: early }, 'nothing to restore');
      return 0;
    }
    const recorded = this.#hostStat(this.#invoker);
    if (recorded?.phase === 'Succeeded') {
      this.#log.info('host already restored');
      return 0;
    }
    if (recorded?.phase === 'Failed') {
      this.#log.error({ error: recorded.error }, 'host restore already failed for this invoker');
      return 1;
    }
    return undefined;
  }

  /** Sequential batch: earlier members first (event-driven on the invoker's status, polled as a net). False: nothing left to do. */
  async #waitForEarlierMembers(): Promise<boolean> {
    const index = this.#member.index;
    if (
      this.#kind !== 'RestoreBatch' ||
      (this.#invoker as RestoreBatch).spec.executionOrder !== 'Sequential' ||
      index <= 0
    )
      return true;
    const ns = this.#ns;
    this.#invoker = await waitUntil(
      async () => {
        const inv = await this.#get();
        if (this.#nothingToDo(inv)) return inv;
        const b = inv as RestoreBatch;
        const ready = (b.spec.members ?? []).slice(0, index).every((m) => {
          const st = b.status?.members?.find((x) => sameRef(x.ref, m.target?.ref, ns));
          return st !== undefined && isFinalMemberPhase(st.phase ?? restoreMemberPhase(st));
        });
        return ready ? inv : undefined;
      },
      {
        what: 'earlier members of the Sequential RestoreBatch to finish',
        timeoutMs: WAIT_MS,
        pollMs: 1000,
        signal: this.#o.signal,
        log: this.#log,
      },
    );
    return !this.#nothingToDo(this.#invoker);
  }

  /** Under the lease: re-read, then hook, data, stats, hook. */
  async #restoreHost(): Promise<number> {
    this.#invoker = await this.#get();
    this.#latest = this.#invoker;
    if (this.#nothingToDo(this.#invoker)) return 0;
    if (this.#hostStat(this.#invoker)?.phase === 'Succeeded') return 0;
    const view = this.#view(this.#invoker);
    if (!(await this.#preRestoreHook(view))) return 1;
    const error = await this.#restoreData();
    const duration = formatMs(performance.now() - this.#t0);
    const written = await this.#recordStats(error, duration);
    const hookFailed = await this.#postRestoreHook(written ? this.#view(written) : view, error, duration);
    return error || hookFailed ? 1 : 0;
  }

  async #write(patch: { stats?: HostRestoreStats[]; conditions?: Condition[] }): Promise<RestoreInvoker | null> {
    const { kube, invokerName } = this.#ctx;
    const written =
      this.#kind === 'RestoreSession'
        ? await patchRestoreSession(kube, this.#ns, invokerName, patch, this.#latest as RestoreSession)
        : await patchRestoreBatchMember(
            kube,
            this.#ns,
            invokerName,
            { ref: this.#statusRef, ...patch },
            this.#latest as RestoreBatch,
          );
    if (written) this.#latest = written;
    return written;
  }

  #hookCtx(status: HookSummary['Status']) {
    const ctx = this.#ctx;
    const ref = this.#statusRef;
    const summary: HookSummary = {
      Name: ctx.invokerName,
      Namespace: this.#ns,
      Invoker: { APIGroup: 'stash.appscode.com', Kind: this.#kind, Name: ctx.invokerName },
      Target: { APIVersion: ref.apiVersion, Kind: ref.kind, Name: ref.name, Namespace: ref.namespace || this.#ns },
      Status: status,
    };
    return {
      kube: ctx.kube,
      namespace: this.#ns,
      podName: ctx.podName,
      ownContainer: this.#o.model === 'job' ? 'stash' : 'stash-init',
      summary,
    };
  }

  /** The local preRestore hook, once per member; false when it failed (now or earlier). */
  async #preRestoreHook(view: MemberView): Promise<boolean> {
    const hook = this.#member.spec.hooks?.preRestore;
    const reasons = { true: REASON.SuccessfullyExecutedPreRestoreHook, false: REASON.FailedToExecutePreRestoreHook };
    if (hook && !hasCondition(view.conditions, CONDITION.PreRestoreHookExecutionSucceeded)) {
      try {
        await runHook(hook, this.#hookCtx({}));
        await this.#write({
          conditions: [
            hostCondition(
              CONDITION.PreRestoreHookExecutionSucceeded,
              true,
              reasons,
              'Successfully executed preRestore hook.',
            ),
          ],
        });
      } catch (err) {
        const msg = `preRestore hook failed: ${errorMessage(err)}`;
        await this.#write({
          conditions: [hostCondition(CONDITION.PreRestoreHookExecutionSucceeded, false, reasons, msg)],
        });
        this.#log.error({ error: msg }, 'restore failed');
        return false;
      }
    } else if (isFalse(view.conditions, CONDITION.PreRestoreHookExecutionSucceeded)) {
      this.#log.error(
        { error: findCondition(view.conditions, CONDITION.PreRestoreHookExecutionSucceeded)?.message },
        'preRestore hook failed earlier',
      );
      return false;
    }
    return true;
  }

  /** The data of this host's rule (none matching: nothing to restore); the error, if any, says what to check. */
  async #restoreData(): Promise<string | undefined> {
    const ctx = this.#ctx;
    const rule = selectRule(this.#member.spec.target?.rules, this.#host);
    if (!rule) {
      this.#log.info('no rule matches this host: nothing to restore');
      return undefined;
    }
    let repo: RepoOps | undefined;
    let loaded: LoadedRepository | undefined;
    try {
      loaded = await loadRepository(ctx.kube, this.#invoker.spec.repository, this.#ns, this.#prefetch);
      repo = await openWithLockCheck(this.#openRepo, loaded, ctx, this.#log);
      await repo.preflight();
      await this.#restoreRule(repo, rule);
      return undefined;
    } catch (err) {
      return loaded ? actionable(err, repositoryWhere(loaded, repo)) : errorMessage(err);
    } finally {
      await repo?.close().catch(() => undefined);
    }
  }

  async #restoreRule(repo: RepoOps, rule: Rule): Promise<void> {
    const ctx = this.#ctx;
    const { signal } = this.#o;
    if (isDatabaseTarget(this.#member.ref)) {
      await restoreDatabaseTarget({
        kube: ctx.kube,
        repo,
        ref: this.#member.ref!,
        namespace: this.#ns,
        task: this.#member.spec.task,
        rule,
        host: this.#host,
        tmpDir: ctx.tmpDir,
        signal,
      });
      this.#log.info('database restored');
      return;
    }
    for (const step of await planRestore(rule, this.#host, repo)) {
      await repo.restore({ ...step, include: rule.include, exclude: rule.exclude, target: '/', signal });
      this.#log.info(step, 'restored');
    }
  }

  /** This host's stats; its Event is recorded meanwhile (awaited before the process exits). */
  async #recordStats(error: string | undefined, duration: string): Promise<RestoreInvoker | null> {
    const host = this.#host;
    const stats: HostRestoreStats = error
      ? { hostname: host, phase: 'Failed', duration, error }
      : { hostname: host, phase: 'Succeeded', duration };
    const written = await this.#write({ stats: [stats] });
    this.#log.info({ phase: stats.phase, duration, error }, 'restore finished');
    this.#pending.push(
      emitEvent(
        this.#ctx.kube,
        written ?? this.#invoker,
        error
          ? { type: 'Warning', reason: 'HostRestoreFailed', message: `Failed to restore host "${host}": ${error}` }
          : { type: 'Normal', reason: 'HostRestoreSucceeded', message: `Restore for host "${host}" succeeded.` },
        this.#o.model === 'job' ? 'stash-restore-job' : 'stash-restore-init-container',
        this.#ctx.podName,
        this.#log,
      ),
    );
    return written;
  }

  /** The local postRestore hook, honouring executionPolicy, once per member; true when it failed. */
  async #postRestoreHook(after: MemberView, error: string | undefined, duration: string): Promise<boolean> {
    const post = this.#member.spec.hooks?.postRestore;
    if (!post || hasCondition(after.conditions, CONDITION.PostRestoreHookExecutionSucceeded)) return false;
    const c = await postHookCondition(
      post,
      {
        type: CONDITION.PostRestoreHookExecutionSucceeded,
        name: 'postRestore',
        error,
        retryLeft: 0,
        reasons: { true: REASON.SuccessfullyExecutedPostRestoreHook, false: REASON.FailedToExecutePostRestoreHook },
      },
      (status) => runHook(post, this.#hookCtx(status)),
      duration,
    );
    await this.#write({ conditions: [c] });
    return c.status === 'False';
  }
}

type RestoreKind = 'RestoreSession' | 'RestoreBatch';

/** This agent's member: --member-index for a restore Job, else the one naming our workload (or the only one, without a ref). */
function restoreMember(invoker: RestoreInvoker, kind: RestoreKind, ctx: AgentContext): Member {
  const ns = ctx.namespace;
  const members = restoreMembers(invoker, kind);
  const index =
    ctx.memberIndex !== undefined && ctx.memberIndex < members.length
      ? ctx.memberIndex
      : members.findIndex((m) => matchesTarget(m.target?.ref, ctx, ns) || (!m.target?.ref && members.length === 1));
  const spec = members[index];
  if (index < 0 || !spec)
    throw new AgentError(`${kind} ${ns}/${ctx.invokerName} has no member for ${ctx.targetKind}/${ctx.targetName}`);
  return { index, spec, ref: spec.target?.ref };
}
