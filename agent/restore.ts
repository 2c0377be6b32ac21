// `restore`: the init-container (or, with --restore-model=job, a Job) of §16.2. Exit code is the result:
// 0 when this host is restored (or nothing is left to do), non-zero on failure so the kubelet retries and
// the pod stays in Init where a person will see it.
import { performance } from 'node:perf_hooks';
import { CONDITION, REASON, apiVersionOf, leaseName } from '../shared/api/constants.ts';
import type { Condition, HostRestoreStats, RestoreTargetSpec, Rule, TargetRef } from '../shared/api/index.ts';
import { LeaseLock } from '../shared/kube/lease.ts';
import { errorMessage } from '../shared/errors.ts';
import { hostFor, restoreHostForTemplates } from '../shared/restic/host.ts';
import {
  findCondition, hasCondition, isFalse, isFinalMemberPhase, isFinalRestorePhase, rfc3339, restoreMemberPhase, sameRef,
} from '../shared/status/index.ts';
import { formatMs } from '../shared/status/duration.ts';
import {
  AgentError, loadRepository, matchesTarget, prefetchRepository, waitUntil, type AgentContext, type LoadedRepository, type RepositoryPrefetch,
} from './common.ts';
import { postHookSkipReason, runHook, type HookSummary } from './hooks.ts';
import { isDatabaseTarget, restoreDatabaseTarget } from './database.ts';
import { holderChecker } from './locks.ts';
import { actionable } from './messages.ts';
import type { RepoOps } from './repo.ts';
import { emitEvent, patchRestoreBatchMember, patchRestoreSession } from './status.ts';
import { ownResticHostname, type OpenRepo } from './host-backup.ts';
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

/** §2.3: the rule listing this host wins, else the rule without targetHosts, else none (restore nothing). */
export function selectRule(rules: readonly Rule[] | undefined, host: string): Rule | undefined {
  if (!rules || rules.length === 0) return {};
  return rules.find((r) => r.targetHosts?.includes(host)) ?? rules.find((r) => !r.targetHosts || r.targetHosts.length === 0);
}

export interface ResticStep {
  snapshot: string;
  host?: string;
  path?: string;
}

/** §16.2 step 6: the restic restores a rule asks for. Paths/defaults resolve "latest" of the source host. */
export async function planRestore(rule: Rule, host: string, repo: Pick<RepoOps, 'snapshots'>): Promise<ResticStep[]> {
  const source = rule.sourceHost || host;
  if (rule.snapshots?.length) return rule.snapshots.map((s) => ({ snapshot: s }));
  if (rule.paths?.length) return rule.paths.map((p) => ({ snapshot: 'latest', host: source, path: p }));
  // No paths and no snapshots: the latest snapshot of every path the source host backed up.
  const snaps = await repo.snapshots({ host: source });
  const latest = new Map<string, string>();
  for (const s of snaps) latest.set(s.paths.join(','), s.id);
  if (latest.size === 0) throw new AgentError(`no snapshot of host "${source}" in the repository: check target.alias and the rule's sourceHost`);
  return [...latest.values()].map((id) => ({ snapshot: id }));
}

function membersOf(invoker: RestoreInvoker, kind: string): RestoreTargetSpec[] {
  if (kind === 'RestoreBatch') return (invoker as RestoreBatch).spec.members ?? [];
  const s = (invoker as RestoreSession).spec;
  const rules = s.target?.rules?.length ? s.target.rules : s.rules;
  return [{ target: s.target ? { ...s.target, rules } : undefined, task: s.task, hooks: s.hooks, tempDir: s.tempDir, runtimeSettings: s.runtimeSettings }];
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
  const t0 = performance.now();
  const kind = ctx.invokerKind;
  if (kind !== 'RestoreSession' && kind !== 'RestoreBatch') throw new AgentError(`--invoker-kind must be RestoreSession or RestoreBatch, got "${kind}"`);
  const ns = ctx.namespace;
  const get = () => ctx.kube.get<RestoreInvoker>(apiVersionOf(kind), kind, ns, ctx.invokerName);
  let invoker = await get();
  const members = membersOf(invoker, kind);
  const index = ctx.memberIndex !== undefined && ctx.memberIndex < members.length
    ? ctx.memberIndex
    : members.findIndex((m) => matchesTarget(m.target?.ref, ctx, ns) || (!m.target?.ref && members.length === 1));
  const spec = members[index];
  if (index < 0 || !spec) throw new AgentError(`${kind} ${ns}/${ctx.invokerName} has no member for ${ctx.targetKind}/${ctx.targetName}`);
  const member: Member = { index, spec, ref: spec.target?.ref };
  const target = spec.target;
  const host = ctx.hostOverride ?? (ctx.podOrdinal !== undefined
    ? restoreHostForTemplates(target?.alias, Number(ctx.podOrdinal), target?.replicas !== undefined)
    : hostFor({ targetKind: ctx.targetKind, alias: target?.alias, podName: ctx.podName, nodeName: ctx.nodeName }));
  const log = ctx.log.child({ invoker: `${kind}/${ctx.invokerName}`, host });
  const statusRef: TargetRef = member.ref ?? { kind: ctx.targetKind, name: ctx.targetName };

  const nothingToDo = (inv: RestoreInvoker): string | undefined => {
    if (isFinalRestorePhase(inv.status?.phase)) return `invoker is ${inv.status?.phase}`;
    if (isFalse(inv.status?.conditions, CONDITION.GlobalPreRestoreHookSucceeded)) return 'global preRestore hook failed';
    return undefined;
  };
  const hostStat = (inv: RestoreInvoker) => memberView(inv, kind, member.ref, ns).stats?.find((s) => s.hostname === host);

  // Init containers run again on every pod restart: leave at once when there is nothing left to do.
  const early = nothingToDo(invoker);
  if (early) {
    log.info({ why: early }, 'nothing to restore');
    return 0;
  }
  const recorded = hostStat(invoker);
  if (recorded?.phase === 'Succeeded') {
    log.info('host already restored');
    return 0;
  }
  if (recorded?.phase === 'Failed') {
    log.error({ error: recorded.error }, 'host restore already failed for this invoker');
    return 1;
  }

  // Sequential batch: earlier members first (event-driven on the invoker's status, polled as a net).
  if (kind === 'RestoreBatch' && (invoker as RestoreBatch).spec.executionOrder === 'Sequential' && index > 0) {
    invoker = await waitUntil(async () => {
      const inv = await get();
      if (nothingToDo(inv)) return inv;
      const b = inv as RestoreBatch;
      const ready = (b.spec.members ?? []).slice(0, index).every((m) => {
        const st = b.status?.members?.find((x) => sameRef(x.ref, m.target?.ref, ns));
        return st !== undefined && isFinalMemberPhase(st.phase ?? restoreMemberPhase(st));
      });
      return ready ? inv : undefined;
    }, { what: 'earlier members of the Sequential RestoreBatch to finish', timeoutMs: WAIT_MS, pollMs: 1000, signal: o.signal, log });
    if (nothingToDo(invoker)) return 0;
  }

  // The Repository and Secret reads overlap the lease and the re-read under it (used only if still recent).
  let prefetch: RepositoryPrefetch | undefined;
  if (selectRule(target?.rules, host)) prefetch = prefetchRepository(ctx.kube, invoker.spec.repository, ns);
  // Events are recorded while the lease is released; the process waits for them before it exits.
  const pending: Array<Promise<void>> = [];

  const body = async (): Promise<number> => {
    invoker = await get();
    if (nothingToDo(invoker)) return 0;
    const again = hostStat(invoker);
    if (again?.phase === 'Succeeded') return 0;

    // The object just read saves each status write its own read unless someone wrote in between.
    let latest: RestoreInvoker = invoker;
    const write = async (patch: { stats?: HostRestoreStats[]; conditions?: Condition[] }) => {
      const written = kind === 'RestoreSession'
        ? await patchRestoreSession(ctx.kube, ns, ctx.invokerName, patch, latest as RestoreSession)
        : await patchRestoreBatchMember(ctx.kube, ns, ctx.invokerName, { ref: statusRef, ...patch }, latest as RestoreBatch);
      if (written) latest = written;
      return written;
    };
    const cond = (type: string, ok: boolean, t: string, f: string, message: string): Condition => ({
      type, status: ok ? 'True' : 'False', reason: ok ? t : f, message, lastTransitionTime: rfc3339(new Date()), ...(ok ? {} : { severity: 'Error' }),
    });
    const summary = (status: HookSummary['Status']): HookSummary => ({
      Name: ctx.invokerName, Namespace: ns,
      Invoker: { APIGroup: 'stash.appscode.com', Kind: kind, Name: ctx.invokerName },
      Target: { APIVersion: statusRef.apiVersion, Kind: statusRef.kind, Name: statusRef.name, Namespace: statusRef.namespace || ns },
      Status: status,
    });
    const hookCtx = (status: HookSummary['Status']) => ({
      kube: ctx.kube, namespace: ns, podName: ctx.podName, ownContainer: o.model === 'job' ? 'stash' : 'stash-init', summary: summary(status),
    });

    let error: string | undefined;
    const view = memberView(invoker, kind, member.ref, ns);
    const hooks = spec.hooks;
    if (hooks?.preRestore && !hasCondition(view.conditions, CONDITION.PreRestoreHookExecutionSucceeded)) {
      try {
        await runHook(hooks.preRestore, hookCtx({}));
        await write({ conditions: [cond(CONDITION.PreRestoreHookExecutionSucceeded, true, REASON.SuccessfullyExecutedPreRestoreHook, REASON.FailedToExecutePreRestoreHook, 'Successfully executed preRestore hook.')] });
      } catch (err) {
        const msg = `preRestore hook failed: ${errorMessage(err)}`;
        await write({ conditions: [cond(CONDITION.PreRestoreHookExecutionSucceeded, false, REASON.SuccessfullyExecutedPreRestoreHook, REASON.FailedToExecutePreRestoreHook, msg)] });
        log.error({ error: msg }, 'restore failed');
        return 1;
      }
    } else if (isFalse(view.conditions, CONDITION.PreRestoreHookExecutionSucceeded)) {
      log.error({ error: findCondition(view.conditions, CONDITION.PreRestoreHookExecutionSucceeded)?.message }, 'preRestore hook failed earlier');
      return 1;
    }

    const rule = selectRule(target?.rules, host);
    let repo: RepoOps | undefined;
    let loaded: LoadedRepository | undefined;
    try {
      if (!rule) {
        log.info('no rule matches this host: nothing to restore');
      } else {
        loaded = await loadRepository(ctx.kube, invoker.spec.repository, ns, prefetch);
        repo = await openRepo(loaded, ctx, holderChecker({ kube: ctx.kube, namespace: ctx.targetNamespace, ownHostname: ownResticHostname(ctx), log }));
        await repo.preflight();
        if (isDatabaseTarget(member.ref)) {
          await restoreDatabaseTarget({ kube: ctx.kube, repo, ref: member.ref!, namespace: ns, task: spec.task, rule, host, tmpDir: ctx.tmpDir, signal: o.signal });
          log.info('database restored');
        } else {
          const steps = await planRestore(rule, host, repo);
          for (const step of steps) {
            await repo.restore({ ...step, include: rule.include, exclude: rule.exclude, target: '/', signal: o.signal });
            log.info(step, 'restored');
          }
        }
      }
    } catch (err) {
      error = loaded ? actionable(err, {
        repository: repo?.display ?? loaded.repository.metadata?.name ?? '',
        secret: `${loaded.repository.metadata?.namespace}/${loaded.repository.spec.backend.storageSecretName ?? ''}`,
      }) : errorMessage(err);
    } finally {
      await repo?.close().catch(() => undefined);
    }

    const duration = formatMs(performance.now() - t0);
    const stats: HostRestoreStats = error ? { hostname: host, phase: 'Failed', duration, error } : { hostname: host, phase: 'Succeeded', duration };
    const written = await write({ stats: [stats] });
    log.info({ phase: stats.phase, duration, error }, 'restore finished');
    pending.push(emitEvent(ctx.kube, written ?? invoker, error
      ? { type: 'Warning', reason: 'HostRestoreFailed', message: `Failed to restore host "${host}": ${error}` }
      : { type: 'Normal', reason: 'HostRestoreSucceeded', message: `Restore for host "${host}" succeeded.` },
    o.model === 'job' ? 'stash-restore-job' : 'stash-restore-init-container', ctx.podName, log));

    const post = hooks?.postRestore;
    const after = written ? memberView(written as RestoreInvoker, kind, member.ref, ns) : view;
    if (post && !hasCondition(after.conditions, CONDITION.PostRestoreHookExecutionSucceeded)) {
      const t = REASON.SuccessfullyExecutedPostRestoreHook;
      const f = REASON.FailedToExecutePostRestoreHook;
      const skip = postHookSkipReason(post.executionPolicy, !error, 0);
      let c: Condition;
      if (skip) c = cond(CONDITION.PostRestoreHookExecutionSucceeded, true, t, f, skip);
      else {
        try {
          await runHook(post, hookCtx({ Phase: error ? 'Failed' : 'Succeeded', Duration: duration, Error: error }));
          c = cond(CONDITION.PostRestoreHookExecutionSucceeded, true, t, f, 'Successfully executed postRestore hook.');
        } catch (err) {
          c = cond(CONDITION.PostRestoreHookExecutionSucceeded, false, t, f, `postRestore hook failed: ${errorMessage(err)}`);
        }
      }
      await write({ conditions: [c] });
      if (c.status === 'False') return 1;
    }
    return error ? 1 : 0;
  };

  try {
    if (o.model === 'job') return await body();
    const lease = new LeaseLock(ctx.kube, { namespace: ctx.targetNamespace, name: leaseName(ctx.targetKind, ctx.targetName, 'restore'), identity: ctx.podName, log });
    return await lease.withLease(body, o.signal);
  } finally {
    await Promise.all(pending);
  }
}
