// RestoreSession / RestoreBatch reconcile (docs/api.md §16.1, §16.4). Same shape as the backup session loop: event-driven
// Sequential order (a member's final status write initiates the next member in the same handler), global
// hooks run by the operator, the init-container injected through mutateWorkload, deadline timers, hosts whose
// pod vanished marked Failed, and MetricsPushed as the last step that makes the phase final.
import { CONDITION, FINALIZER } from '../../shared/api/index.ts';
import type {
  Condition,
  HostRestoreStats,
  RestoreBatchStatus,
  RestoreMemberStatus,
  RestoreSessionStatus,
} from '../../shared/api/index.ts';
import { errorMessage } from '../../shared/errors.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { Informer } from '../../shared/kube/informer.ts';
import {
  hasCondition,
  isFalse,
  isFinalMemberPhase,
  isFinalRestorePhase,
  isTrue,
  mergeRestoreBatchStatus,
  mergeRestoreSessionStatus,
  restoreMemberPhase,
  sameRef,
  type MemberPatch,
} from '../../shared/status/index.ts';
import { isBatch, membersOf, targetKey } from '../../shared/api/target.ts';
import {
  MissingSince,
  checkRepository,
  cond,
  executionModel,
  getTarget,
  invokerApiVersion,
  invokerKey,
  parseKey,
  recordEvent,
  totalHostsOf,
  type Member,
  type Workload,
  removeFinalizer,
  ensureFinalizer,
  ensureSidecarRbac,
} from './common.ts';
import type { RestoreInvoker } from '../../shared/api/types.ts';
import { resolveDeps, scoped, waitForAbort, type ControllerDeps, type ResolvedDeps } from './deps.ts';
import { executeHook, postHookAllowed, type HookHandler, type HookSummary } from './hooks.ts';
import { WorkQueue } from './queue.ts';
import { eligibleSince, expectedHostNames, hostInformers, observeHosts, slimRestorePod } from './hosts.ts';
import { JOB_REPORT_GRACE_MS, ensureRestoreJobs, memberJobHosts } from './jobs.ts';
import { closeOutMember, deadlineFor, deadlineState, hostsToFail, mayStart } from './rules.ts';
import { injectedFor, syncWorkload } from './workload.ts';

export const RESTORE_KINDS = ['RestoreSession', 'RestoreBatch'] as const;

/**
 * Without Tuning.hostStartMs, a restore host's stash-init may take this many liveness bounds to start after its
 * member's turn (a pod rollout): 10 min at the default bound, the Deployment's default progressDeadlineSeconds.
 */
export const HOST_START_FACTOR = 5;

interface MemberView {
  m: Member;
  st: RestoreMemberStatus | undefined;
}

/** A RestoreSession keeps its one member's conditions, totalHosts and stats at the top level. */
function memberViews(inv: RestoreInvoker, members: Member[]): MemberView[] {
  const ns = inv.metadata?.namespace ?? '';
  if (inv.kind === 'RestoreSession') {
    const s = (inv.status ?? {}) as RestoreSessionStatus;
    const m = members[0]!;
    const present = s.conditions?.some(
      (c) => c.type === CONDITION.RestoreTargetFound || c.type === CONDITION.RestoreExecutorEnsured,
    );
    return [
      {
        m,
        st: present
          ? {
              ref: m.ref,
              conditions: s.conditions,
              totalHosts: s.totalHosts,
              stats: s.stats,
              phase: restoreMemberPhase(s),
            }
          : undefined,
      },
    ];
  }
  const list = ((inv.status ?? {}) as RestoreBatchStatus).members ?? [];
  return members.map((m) => ({ m, st: list.find((x) => sameRef(x.ref, m.ref, ns)) }));
}

function memberFinal(st: RestoreMemberStatus | undefined): boolean {
  return st !== undefined && isFinalMemberPhase(st.phase ?? restoreMemberPhase(st));
}

export class RestoreLoop {
  readonly d: ResolvedDeps;
  readonly pods: Informer<KubeObject>;
  /** Heartbeat Leases of restore hosts (shared/api/heartbeat.ts). */
  readonly leases: Informer<KubeObject>;
  readonly queue: WorkQueue;
  readonly #missing = new MissingSince();

  constructor(d: ResolvedDeps, signal: AbortSignal) {
    this.d = d;
    ({ pods: this.pods, leases: this.leases } = hostInformers(d, RESTORE_KINDS, slimRestorePod, (p) => {
      for (const kind of RESTORE_KINDS) {
        for (const o of d.index.informers.get(kind)?.list() ?? []) {
          if (o.metadata?.namespace === p.metadata?.namespace && (o as RestoreInvoker).status?.phase === 'Running')
            this.queue.add(invokerKey(kind, o.metadata?.namespace, o.metadata?.name));
        }
      }
    }));
    this.queue = new WorkQueue((key) => this.reconcile(key), { name: 'restore', log: d.log, signal });
    for (const kind of RESTORE_KINDS) {
      const inf = d.index.informers.get(kind);
      if (!inf) throw new Error(`invoker index has no ${kind} informer`);
      const poke = (obj: KubeObject): void => {
        const o = obj as RestoreInvoker;
        if (!scoped(d, o)) return;
        if (isFinalRestorePhase(o.status?.phase) && !o.metadata?.deletionTimestamp) return;
        this.queue.add(invokerKey(kind, o.metadata?.namespace, o.metadata?.name));
      };
      inf.on('add', poke);
      inf.on('update', poke);
      inf.on('delete', (o) => this.#missing.clear(`${invokerKey(kind, o.metadata?.namespace, o.metadata?.name)}|`));
      for (const o of inf.list()) poke(o);
    }
  }

  async start(): Promise<void> {
    this.pods.start();
    this.leases.start();
    await Promise.all([this.pods.waitForSync(), this.leases.waitForSync()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.pods.stop(), this.leases.stop()]);
  }

  /** Merges invoker-level conditions and member patches into the stored status and recomputes phases. */
  async write(
    inv: RestoreInvoker,
    conditions: Condition[],
    members: MemberPatch[],
    extra?: (st: RestoreSessionStatus | RestoreBatchStatus) => void,
  ): Promise<RestoreInvoker> {
    const ns = inv.metadata?.namespace ?? '';
    const out = await this.d.kube.update<RestoreInvoker>(
      invokerApiVersion(inv.kind ?? ''),
      inv.kind ?? '',
      ns,
      inv.metadata?.name ?? '',
      (cur) => {
        const created = cur.metadata?.creationTimestamp;
        let next: RestoreSessionStatus | RestoreBatchStatus;
        if (cur.kind === 'RestoreSession' || inv.kind === 'RestoreSession') {
          const mp = members[0];
          next = mergeRestoreSessionStatus(
            cur.status as RestoreSessionStatus | undefined,
            {
              conditions: [...conditions, ...(mp?.conditions ?? [])],
              totalHosts: mp?.totalHosts,
              stats: mp?.stats,
            },
            { creationTimestamp: created },
          );
        } else {
          next = mergeRestoreBatchStatus(
            cur.status as RestoreBatchStatus | undefined,
            { conditions, members },
            { namespace: ns, creationTimestamp: created },
          );
        }
        extra?.(next);
        cur.status = next as RestoreInvoker['status'];
        return cur;
      },
      { subresource: 'status' },
    );
    return out ?? inv;
  }

  async reconcile(key: string): Promise<void> {
    const { kind, namespace, name } = parseKey(key);
    let inv = await this.d.kube.getOrNull<RestoreInvoker>(invokerApiVersion(kind), kind, namespace, name);
    if (!inv) return;
    if (inv.metadata?.deletionTimestamp) {
      await this.#finalize(inv);
      return;
    }
    inv = await ensureFinalizer(this.d.kube, inv);
    if (isFinalRestorePhase(inv.status?.phase)) return;
    const members = membersOf(inv);
    const conds = inv.status?.conditions;
    const views = memberViews(inv, members);
    const allFinal = views.length > 0 && views.every((v) => memberFinal(v.st));
    if (
      isFalse(conds, CONDITION.GlobalPreRestoreHookSucceeded) ||
      isTrue(conds, CONDITION.DeadlineExceeded) ||
      allFinal
    ) {
      await this.#finish(key, inv, views);
      return;
    }
    const dl = deadlineState((inv.status as { sessionDeadline?: string } | undefined)?.sessionDeadline, Date.now());
    if (dl.passed) {
      await this.write(
        inv,
        [
          cond(
            'DeadlineExceeded',
            'True',
            `Failed to complete restore within ${inv.spec?.timeOut ?? 'the session deadline'}.`,
          ),
        ],
        [],
      );
      void recordEvent(
        this.d.events,
        inv,
        'Warning',
        'DeadlineExceeded',
        `${kind} did not finish within ${inv.spec?.timeOut}.`,
      );
      this.queue.add(key);
      return;
    }
    if (dl.inMs !== undefined) this.queue.addAfter(key, dl.inMs);
    if ((inv.spec?.driver || 'Restic') === 'Restic') {
      const rc = await checkRepository(this.d.kube, inv);
      const changed = rc.conditions.some((c) => conds?.find((x) => x.type === c.type)?.status !== c.status);
      if (changed) inv = await this.write(inv, rc.conditions, []);
      if (!rc.ready) {
        this.queue.addAfter(key, this.d.tuning.requeueMs);
        return;
      }
    }
    const pre =
      kind === 'RestoreBatch' ? (inv.spec?.hooks as { preRestore?: HookHandler } | undefined)?.preRestore : undefined;
    if (pre && !hasCondition(inv.status?.conditions, CONDITION.GlobalPreRestoreHookSucceeded)) {
      const c = await this.#runHook(inv, pre, 'preRestore', 'GlobalPreRestoreHookSucceeded', 'Running');
      inv = await this.write(inv, [c], []);
      if (c.status !== 'True') {
        this.queue.add(key);
        return;
      }
    }
    inv = await this.#initiate(key, inv, members);
    await this.#checkHosts(key, inv, members);
  }

  async #runHook(
    inv: RestoreInvoker,
    h: HookHandler,
    hook: string,
    type: 'GlobalPreRestoreHookSucceeded' | 'GlobalPostRestoreHookSucceeded',
    phase: string,
  ): Promise<Condition> {
    const summary: HookSummary = {
      Name: inv.metadata?.name ?? '',
      Namespace: inv.metadata?.namespace ?? '',
      Invoker: { APIGroup: 'stash.appscode.com', Kind: inv.kind ?? '', Name: inv.metadata?.name ?? '' },
      Status: { Phase: phase },
    };
    const Hook = `Global${hook[0]!.toUpperCase()}${hook.slice(1)}Hook`;
    try {
      const out = await executeHook(h, {
        kube: this.d.kube,
        executorPod: this.d.executorPod,
        timeoutMs: this.d.tuning.hookTimeoutMs,
        summary,
      });
      void recordEvent(this.d.events, inv, 'Normal', `${Hook}Succeeded`, out);
      return cond(type, 'True', `Global ${hook} hook succeeded: ${out}`.slice(0, 1024));
    } catch (err) {
      void recordEvent(this.d.events, inv, 'Warning', `${Hook}Failed`, errorMessage(err));
      return cond(type, 'False', `Global ${hook} hook failed: ${errorMessage(err)}`.slice(0, 1024));
    }
  }

  async #ensureExecutor(inv: RestoreInvoker, m: Member): Promise<MemberPatch> {
    const what = m.ref.name ? `${m.ref.kind} ${m.ref.namespace}/${m.ref.name}` : 'new volumes (volumeClaimTemplates)';
    const model = executionModel(inv, m);
    let found: Condition;
    if (!m.ref.name) {
      found = cond(
        'RestoreTargetFound',
        'True',
        'No target ref: the member restores into new PVCs from volumeClaimTemplates.',
      );
    } else {
      let target: KubeObject | null;
      try {
        target = await getTarget(this.d.kube, m.ref);
      } catch (err) {
        return {
          ref: m.ref,
          conditions: [cond('RestoreTargetFound', 'Unknown', `Could not check target ${what}: ${errorMessage(err)}`)],
        };
      }
      if (!target)
        return { ref: m.ref, conditions: [cond('RestoreTargetFound', 'False', `Target ${what} does not exist.`)] };
      found = cond('RestoreTargetFound', 'True', `Target ${what} exists.`);
    }
    if (model.model === 'unsupported')
      return {
        ref: m.ref,
        conditions: [found, cond('RestoreExecutorEnsured', 'False', `Cannot restore ${what}: ${model.reason}.`)],
      };
    if (model.model === 'job') {
      try {
        const jobs = await ensureRestoreJobs({ kube: this.d.kube, inject: this.d.inject }, inv, m);
        if (jobs.placement && 'fail' in jobs.placement) {
          // docs/api.md §12.1: no node could run it; the host fails now rather than at the restore's timeOut.
          const reason = `Cannot place the restore Job for ${what}: ${jobs.placement.fail}.`;
          return {
            ref: m.ref,
            totalHosts: 1,
            stats: [{ hostname: memberJobHosts('restore', m)[0] ?? 'host-0', phase: 'Failed', error: reason }],
            conditions: [found, cond('RestoreExecutorEnsured', 'False', reason)],
          };
        }
        const where = jobs.placement ? `, ${jobs.placement.why}` : '';
        return {
          ref: m.ref,
          totalHosts: jobs.totalHosts,
          conditions: [
            found,
            cond(
              'RestoreExecutorEnsured',
              'True',
              `Restore Job(s) ${jobs.names.join(', ')} for ${what} are in place${where}.`,
            ),
          ],
        };
      } catch (err) {
        return {
          ref: m.ref,
          conditions: [
            found,
            cond(
              'RestoreExecutorEnsured',
              'False',
              `Could not create the restore Job for ${what}: ${errorMessage(err)}`,
            ),
          ],
        };
      }
    }
    try {
      const r = await syncWorkload(this.d.workloads, m.ref);
      if (!r.found)
        return { ref: m.ref, conditions: [cond('RestoreTargetFound', 'False', `Target ${what} does not exist.`)] };
      if (!injectedFor(r.object, 'restore', inv)) {
        const msg = `The stash-init container of ${what} belongs to another restore invoker.`;
        return {
          ref: m.ref,
          conditions: [
            found,
            cond('StashInitContainerInjected', 'False', msg),
            cond('RestoreExecutorEnsured', 'False', msg),
          ],
        };
      }
      // Found on real pods: stash-init reads its RestoreSession with the workload's own token.
      await ensureSidecarRbac(this.d.kube, inv, m.ref, r.object, 'stash-restore-init-container');
      return {
        ref: m.ref,
        totalHosts: totalHostsOf(r.object as Workload),
        conditions: [
          found,
          cond('StashInitContainerInjected', 'True', `The stash-init container is in the pod template of ${what}.`),
          cond('RestoreExecutorEnsured', 'True', `The restore executor of ${what} is in place.`),
        ],
      };
    } catch (err) {
      const msg = `Could not inject the stash-init container into ${what}: ${errorMessage(err)}`;
      return {
        ref: m.ref,
        conditions: [
          found,
          cond('StashInitContainerInjected', 'False', msg),
          cond('RestoreExecutorEnsured', 'False', msg),
        ],
      };
    }
  }

  async #initiate(key: string, inv: RestoreInvoker, members: Member[]): Promise<RestoreInvoker> {
    const final = new Map<number, boolean>();
    const views = memberViews(inv, members);
    for (const v of views) final.set(v.m.index, memberFinal(v.st));
    const patches: MemberPatch[] = [];
    let waitTarget = false;
    for (const v of views) {
      if (hasCondition(v.st?.conditions, CONDITION.RestoreExecutorEnsured)) continue;
      const progress = views.map((x) => ({
        initiated: x === v ? false : hasCondition(x.st?.conditions, CONDITION.RestoreExecutorEnsured),
        final: final.get(x.m.index) ?? false,
      }));
      if (!mayStart(isBatch(inv) ? inv.spec.executionOrder : undefined, progress, v.m.index)) {
        if (!v.st && inv.kind === 'RestoreBatch') patches.push({ ref: v.m.ref });
        continue;
      }
      const p = await this.#ensureExecutor(inv, v.m);
      patches.push(p);
      const probe: RestoreMemberStatus = { ref: v.m.ref, conditions: p.conditions, totalHosts: p.totalHosts };
      final.set(v.m.index, isFinalMemberPhase(restoreMemberPhase(probe)));
      if (p.conditions?.some((c) => c.type === CONDITION.RestoreTargetFound && c.status !== 'True')) waitTarget = true;
    }
    if (waitTarget) this.queue.addAfter(key, this.d.tuning.requeueMs);
    if (patches.length === 0) return inv;
    const deadline = deadlineFor(Date.parse(inv.metadata?.creationTimestamp ?? '') || Date.now(), inv.spec?.timeOut);
    const out = await this.write(inv, [], patches, (st) => {
      if (deadline && !st.sessionDeadline) st.sessionDeadline = deadline;
    });
    const dl = (out.status as { sessionDeadline?: string } | undefined)?.sessionDeadline;
    if (dl) this.queue.addAfter(key, Math.max(0, Date.parse(dl) - Date.now()));
    for (const p of patches) {
      const c = p.conditions?.find((x) => x.type === CONDITION.RestoreExecutorEnsured);
      if (c)
        void recordEvent(
          this.d.events,
          out,
          c.status === 'True' ? 'Normal' : 'Warning',
          c.reason ?? c.type,
          c.status === 'True' ? `Initiated restore of ${p.ref.kind} ${p.ref.name}.` : (c.message ?? ''),
        );
    }
    return out;
  }

  /** Hosts that can no longer finish are failed (rules.ts hostsToFail), so the restore always ends. */
  async #checkHosts(key: string, inv: RestoreInvoker, members: Member[]): Promise<void> {
    const ns = inv.metadata?.namespace ?? '';
    const { hostGoneGraceMs, hostLivenessMs, hostStartMs } = this.d.tuning;
    const patches: MemberPatch[] = [];
    let next: number | undefined;
    const pods = this.pods.list();
    for (const { m, st } of memberViews(inv, members)) {
      const model = executionModel(inv, m).model;
      if (
        !st ||
        (st.phase ?? restoreMemberPhase(st)) !== 'Running' ||
        st.totalHosts === undefined ||
        model === 'unsupported'
      )
        continue;
      const reported = new Set((st.stats ?? []).filter((x) => x.phase !== 'Running').map((x) => x.hostname ?? ''));
      const { hosts } = await observeHosts({
        kube: this.d.kube,
        purpose: 'restore',
        inv,
        m,
        model,
        heartbeatKind: inv.kind as 'RestoreSession' | 'RestoreBatch',
        session: inv.metadata?.name ?? '',
        namespace: ns,
        totalHosts: st.totalHosts,
        reported,
        pods,
        leases: this.leases,
        missing: this.#missing,
        prefix: `${key}|${targetKey(m.ref, ns)}|`,
      });
      const verdict = hostsToFail({
        now: Date.now(),
        eligibleSince: eligibleSince(st.conditions, CONDITION.RestoreExecutorEnsured, inv.metadata?.creationTimestamp),
        boundMs: hostLivenessMs,
        // stash-init starts only once the member's pods are rolled out (docs/decisions/0002-lease-heartbeats.md).
        ...(model === 'workload' ? { startBoundMs: hostStartMs ?? HOST_START_FACTOR * hostLivenessMs } : {}),
        // An ended Job never comes back, unlike a pod being replaced: its grace only covers the agent's last write.
        goneGraceMs: model === 'workload' ? hostGoneGraceMs : Math.min(hostGoneGraceMs, JOB_REPORT_GRACE_MS),
        // A pod the scheduler cannot place yet is not an ended Job: a claim may still be binding (docs/api.md §12.1).
        unschedulableGraceMs: hostGoneGraceMs,
        target: m.ref.name ? `${m.ref.kind} ${m.ref.namespace}/${m.ref.name}` : 'new volumes (volumeClaimTemplates)',
        hosts,
      });
      if (verdict.recheckInMs !== undefined) next = Math.min(next ?? verdict.recheckInMs, verdict.recheckInMs);
      if (verdict.failed.length > 0)
        patches.push({
          ref: m.ref,
          stats: verdict.failed.map((f): HostRestoreStats => ({ hostname: f.host, phase: 'Failed', error: f.reason })),
        });
    }
    if (patches.length > 0) {
      const out = await this.write(inv, [], patches);
      for (const p of patches)
        for (const s of p.stats ?? [])
          void recordEvent(this.d.events, out, 'Warning', 'HostFailed', `Host ${s.hostname}: ${s.error}`);
    }
    if (next !== undefined) this.queue.addAfter(key, next + 50);
  }

  /**
   * A restore that ends before its members did (deadline, failed global pre-hook) leaves nothing open: every host
   * without a final entry gets a Failed one and a member that cannot be closed by hosts fails (rules.ts closeOutMember).
   */
  async #closeOut(inv: RestoreInvoker, views: MemberView[], why: string): Promise<RestoreInvoker> {
    const patches: MemberPatch[] = [];
    for (const { m, st } of views) {
      if (!st || memberFinal(st)) continue;
      const total = st.totalHosts;
      const initiated =
        total !== undefined && total !== null && isTrue(st.conditions, CONDITION.RestoreExecutorEnsured);
      const reported = new Set((st.stats ?? []).filter((x) => x.phase !== 'Running').map((x) => x.hostname ?? ''));
      const model = executionModel(inv, m).model;
      const named = initiated && model !== 'unsupported' ? (expectedHostNames('restore', model, m, total) ?? []) : [];
      const running = (st.stats ?? []).filter((x) => x.phase === 'Running').map((x) => x.hostname ?? '');
      const open = [...new Set([...named, ...running])].filter((h) => h && !reported.has(h));
      const c = closeOutMember({
        initiated,
        openHosts: open,
        missingCount: initiated ? Math.max(0, total - reported.size) : 1,
      });
      const what = m.ref.name ? `${m.ref.kind} ${m.ref.name}` : 'new volumes';
      const p: MemberPatch = {
        ref: m.ref,
        stats: c.failHosts.map((h): HostRestoreStats => ({
          hostname: h,
          phase: 'Failed',
          error: `${why} before host ${h} of ${what} reported`,
        })),
      };
      if (c.failMember)
        p.conditions = [
          cond(
            'RestoreExecutorEnsured',
            'False',
            initiated
              ? `${why} before every host of ${what} reported.`
              : `Not started: ${why} before the turn of ${what}.`,
          ),
        ];
      patches.push(p);
    }
    if (patches.length === 0) return inv;
    const out = await this.write(inv, [], patches);
    void recordEvent(
      this.d.events,
      out,
      'Warning',
      'SessionEndedEarly',
      `${why}: ${patches.map((p) => `${p.ref.kind ?? 'member'} ${p.ref.name ?? ''}${p.stats?.length ? ` (hosts ${p.stats.map((x) => x.hostname).join(', ')})` : ''}`).join('; ')} marked Failed.`,
    );
    return out;
  }

  async #finish(key: string, inv: RestoreInvoker, views: MemberView[]): Promise<void> {
    const conds = inv.status?.conditions;
    const preFailed = isFalse(conds, CONDITION.GlobalPreRestoreHookSucceeded);
    const deadline = isTrue(conds, CONDITION.DeadlineExceeded);
    if (deadline || preFailed) {
      inv = await this.#closeOut(
        inv,
        views,
        deadline
          ? `the restore deadline (timeOut ${inv.spec?.timeOut ?? '?'}) passed`
          : 'the global preRestore hook failed',
      );
      views = memberViews(
        inv,
        views.map((v) => v.m),
      );
    }
    if (!preFailed && !deadline) {
      const waiting = views.filter(({ m, st }) => {
        const hook = (m.member.hooks as { postRestore?: unknown } | undefined)?.postRestore;
        return (
          hook &&
          st &&
          isTrue(st.conditions, CONDITION.RestoreExecutorEnsured) &&
          !isFalse(st.conditions, CONDITION.PreRestoreHookExecutionSucceeded) &&
          !hasCondition(st.conditions, CONDITION.PostRestoreHookExecutionSucceeded) &&
          !(st.stats ?? []).some((s) => s.phase === 'Failed' && /gone|deleted|no live pod/.test(s.error ?? ''))
        );
      });
      if (waiting.length > 0 && this.#missing.seen(`${key}|post-hooks`) < this.d.tuning.hookTimeoutMs) {
        this.queue.addAfter(key, this.d.tuning.hookTimeoutMs);
        return;
      }
    }
    const post =
      inv.kind === 'RestoreBatch'
        ? (inv.spec?.hooks as { postRestore?: HookHandler } | undefined)?.postRestore
        : undefined;
    const anyFailed =
      preFailed ||
      deadline ||
      views.some(({ st }) => (st?.phase ?? (st ? restoreMemberPhase(st) : 'Pending')) !== 'Succeeded');
    if (post && !preFailed && !hasCondition(conds, CONDITION.GlobalPostRestoreHookSucceeded)) {
      const outcome = anyFailed ? 'Failed' : 'Succeeded';
      const c = postHookAllowed(post.executionPolicy, outcome)
        ? await this.#runHook(inv, post, 'postRestore', 'GlobalPostRestoreHookSucceeded', outcome)
        : cond(
            'GlobalPostRestoreHookSucceeded',
            'True',
            `Skipped the global postRestore hook: executionPolicy ${post.executionPolicy} does not apply to a ${outcome} restore.`,
          );
      inv = await this.write(inv, [c], []);
    }
    inv = await this.write(
      inv,
      [cond('MetricsPushed', 'True', 'Metrics are exported by the operator on /metrics.')],
      [],
    );
    this.#missing.clear(`${key}|`);
    const phase = inv.status?.phase ?? 'Unknown';
    void recordEvent(
      this.d.events,
      inv,
      phase === 'Succeeded' ? 'Normal' : 'Warning',
      `Restore${phase}`,
      `${inv.kind} ${inv.metadata?.name} finished: ${phase} after ${(inv.status as { sessionDuration?: string }).sessionDuration ?? '?'}.`,
    );
  }

  async #finalize(inv: RestoreInvoker): Promise<void> {
    if (!(inv.metadata?.finalizers ?? []).includes(FINALIZER)) return;
    for (const m of membersOf(inv)) {
      if (!m.ref.name || executionModel(inv, m).model !== 'workload') continue;
      await syncWorkload(this.d.workloads, m.ref, { excludeUid: inv.metadata?.uid });
    }
    await removeFinalizer(this.d.kube, inv, FINALIZER);
    void recordEvent(
      this.d.events,
      inv,
      'Normal',
      'InvokerDeleted',
      `Removed the stash-init container of ${inv.kind} ${inv.metadata?.name} from targeted workloads.`,
    );
  }
}

export async function runRestores(deps: ControllerDeps, signal: AbortSignal): Promise<void> {
  const d = resolveDeps(deps);
  const loop = new RestoreLoop(d, signal);
  await loop.start();
  await waitForAbort(signal);
  await loop.stop();
}
