// BackupSession reconcile (docs/api.md §14.3–§14.6). Every step is driven by the session's own watch events: when an agent
// writes a host's stats and a target becomes final, the same event handler initiates the next Sequential target,
// so a hand-off costs one watch event plus a few API calls (docs/architecture.md §4) instead of a polling interval. Timers
// are used only for real deadlines: `timeOut`, retry delays and the grace given to a host whose pod vanished.
import { CONDITION, LABEL, POST_BACKUP_ACTIONS, PRE_BACKUP_ACTIONS, apiVersionOf } from '../../shared/api/index.ts';
import type { BackupSessionStatus, BackupTargetStatus, Condition, HostBackupStats } from '../../shared/api/index.ts';
import { errorMessage } from '../../shared/errors.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { Informer } from '../../shared/kube/informer.ts';
import {
  findTarget,
  hasCondition,
  isFalse,
  isFinalSessionPhase,
  isTrue,
  mergeBackupSessionStatus,
  parseGoDuration,
  rfc3339,
  type BackupSessionPatch,
  type TargetPatch,
} from '../../shared/status/index.ts';
import { isBatch, isBatchKind, membersOf, sessionInvoker, targetKey } from '../../shared/api/target.ts';
import {
  MissingSince,
  cond,
  executionModel,
  getTarget,
  invokerApiVersion,
  ownerRef,
  recordEvent,
  totalHostsOf,
  type Member,
  type Workload,
} from './common.ts';
import type { BackupInvoker } from '../../shared/api/types.ts';
import { resolveDeps, scoped, waitForAbort, type ControllerDeps, type ResolvedDeps } from './deps.ts';
import { executeHook, postHookAllowed, type HookHandler, type HookSummary } from './hooks.ts';
import { WorkQueue } from './queue.ts';
import { eligibleSince, expectedHostNames, hostInformers, observeHosts, slimBackupPod } from './hosts.ts';
import { JOB_REPORT_GRACE_MS, ensureBackupJob, memberJobHosts } from './jobs.ts';
import {
  closeOutMember,
  deadlineFor,
  deadlineState,
  hostsToFail,
  invokerLabelsToAdd,
  mayStart,
  skipReason,
} from './rules.ts';
import { injectedFor, syncWorkload } from './workload.ts';

export interface SessionObj extends KubeObject {
  spec?: { invoker?: { apiGroup?: string; kind?: string; name?: string }; retryLeft?: number };
  status?: BackupSessionStatus;
}

const SESSION_API = apiVersionOf('BackupSession');
const FINAL_TARGET = ['Succeeded', 'Failed'];

function targetFinal(t: BackupTargetStatus | undefined): boolean {
  return t !== undefined && FINAL_TARGET.includes(t.phase ?? '');
}

function initiated(t: BackupTargetStatus | undefined): boolean {
  return (
    t !== undefined &&
    (hasCondition(t.conditions, CONDITION.BackupExecutorEnsured) ||
      ['Running', 'Succeeded', 'Failed'].includes(t.phase ?? ''))
  );
}

/** docs/api.md §14.3 step 2: every target has an entry and reached a final phase. */
export function allTargetsFinal(
  status: BackupSessionStatus | undefined,
  members: readonly Member[],
  ns: string,
): boolean {
  return (
    members.length > 0 &&
    (status?.targets?.length ?? 0) >= members.length &&
    members.every((m) => targetFinal(findTarget(status, m.ref, ns)))
  );
}

function summary(s: SessionObj, inv: BackupInvoker, phase: string): HookSummary {
  return {
    Name: s.metadata?.name ?? '',
    Namespace: s.metadata?.namespace ?? '',
    Invoker: { APIGroup: 'stash.appscode.com', Kind: inv.kind ?? '', Name: inv.metadata?.name ?? '' },
    Status: { Phase: phase, Duration: s.status?.sessionDuration },
    RetryLeft: s.spec?.retryLeft ?? 0,
  };
}

export class BackupSessionLoop {
  readonly d: ResolvedDeps;
  readonly sessions: Informer<SessionObj>;
  readonly pods: Informer<KubeObject>;
  /** Heartbeat Leases of BackupSession hosts (shared/api/heartbeat.ts). */
  readonly leases: Informer<KubeObject>;
  readonly queue: WorkQueue;
  readonly #missing = new MissingSince();

  constructor(d: ResolvedDeps, signal: AbortSignal) {
    this.d = d;
    this.sessions = new Informer<SessionObj>(d.kube, {
      apiVersion: SESSION_API,
      kind: 'BackupSession',
      namespace: d.namespace,
      log: d.log,
    });
    // A pod that goes away (or terminates) may leave a host unreported: look at running sessions in its namespace.
    ({ pods: this.pods, leases: this.leases } = hostInformers(d, ['BackupSession'], slimBackupPod, (p) => {
      for (const s of this.sessions.list()) {
        if (s.metadata?.namespace === p.metadata?.namespace && s.status?.phase === 'Running')
          this.queue.add(`${s.metadata?.namespace}/${s.metadata?.name}`);
      }
    }));
    this.queue = new WorkQueue((key) => this.reconcile(key), { name: 'backup-session', log: d.log, signal });
    const poke = (o: SessionObj): void => {
      if (!scoped(d, o)) return;
      const phase = o.status?.phase;
      // Final sessions matter only while a retry is owed.
      if (isFinalSessionPhase(phase) && !(phase === 'Failed' && (o.spec?.retryLeft ?? 0) > 0 && !o.status?.retried))
        return;
      this.queue.add(`${o.metadata?.namespace}/${o.metadata?.name}`);
    };
    this.sessions.on('add', poke);
    this.sessions.on('update', poke);
    this.sessions.on('delete', (o) => this.#missing.clear(`${o.metadata?.namespace}/${o.metadata?.name}|`));
  }

  async start(): Promise<void> {
    this.pods.start();
    this.leases.start();
    this.sessions.start();
    await Promise.all([this.pods.waitForSync(), this.leases.waitForSync(), this.sessions.waitForSync()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.sessions.stop(), this.pods.stop(), this.leases.stop()]);
  }

  async #invoker(s: SessionObj): Promise<BackupInvoker | null> {
    const { kind, name } = sessionInvoker(s) ?? { kind: '', name: '' };
    if (kind !== 'BackupConfiguration' && kind !== 'BackupBatch') return null;
    // The index's informer holds every invoker; its copy is at most one watch event old, which is enough for
    // reading spec and phase, and saves a round trip on the hand-off path.
    const cached = this.d.index.informers.get(kind)?.get(s.metadata?.namespace, name) as BackupInvoker | undefined;
    if (cached) return cached;
    return await this.d.kube.getOrNull<BackupInvoker>(invokerApiVersion(kind), kind, s.metadata?.namespace, name);
  }

  /** Merges a patch into the stored status (conflict-retried) and recomputes the phases in the same write. */
  async write(
    s: SessionObj,
    patch: BackupSessionPatch,
    extra?: (st: BackupSessionStatus) => void,
  ): Promise<SessionObj> {
    const ns = s.metadata?.namespace ?? '';
    const out = await this.d.kube.update<SessionObj>(
      SESSION_API,
      'BackupSession',
      ns,
      s.metadata?.name ?? '',
      (cur) => {
        const next = mergeBackupSessionStatus(cur.status, patch, {
          namespace: ns,
          creationTimestamp: cur.metadata?.creationTimestamp,
        });
        extra?.(next);
        cur.status = next;
        return cur;
      },
      { subresource: 'status' },
    );
    return out ?? s;
  }

  async reconcile(key: string): Promise<void> {
    const [ns = '', name = ''] = key.split('/');
    let s = await this.d.kube.getOrNull<SessionObj>(SESSION_API, 'BackupSession', ns, name);
    if (!s || s.metadata?.deletionTimestamp) return;
    const inv = await this.#invoker(s);
    if (!inv) return; // an invoker that is gone takes its sessions with it (ownerReference)
    // A session made by hand (an upstream guide's instant backup) may carry only spec.invoker or the older
    // backup-configuration label; agents find their sessions by the invoker labels, so they are added here.
    const labels = invokerLabelsToAdd(s);
    if (labels && !isFinalSessionPhase(s.status?.phase)) {
      s = await this.d.kube.patch<SessionObj>(SESSION_API, 'BackupSession', ns, name, { metadata: { labels } });
      void recordEvent(
        this.d.events,
        s,
        'Normal',
        'InvokerLabelsAdded',
        `Added labels ${Object.entries(labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')} so that the agents of ${inv.kind} ${inv.metadata?.name} find this session.`,
      );
    }
    const members = membersOf(inv);
    if (isFinalSessionPhase(s.status?.phase)) {
      await this.#retry(s, inv);
      return;
    }
    const conds = s.status?.conditions;
    if (
      isFalse(conds, CONDITION.GlobalPreBackupHookSucceeded) ||
      isTrue(conds, CONDITION.DeadlineExceeded) ||
      allTargetsFinal(s.status, members, ns)
    ) {
      await this.#finish(s, inv, members);
      return;
    }
    const dl = deadlineState(s.status?.sessionDeadline, Date.now());
    if (dl.passed) {
      await this.write(s, {
        conditions: [
          cond(
            'DeadlineExceeded',
            'True',
            `Failed to complete backup within ${inv.spec?.timeOut ?? 'the session deadline'}.`,
          ),
        ],
      });
      void recordEvent(
        this.d.events,
        s,
        'Warning',
        'DeadlineExceeded',
        `BackupSession did not finish within ${inv.spec?.timeOut}.`,
      );
      this.queue.add(key);
      return;
    }
    if (dl.inMs !== undefined) this.queue.addAfter(key, dl.inMs);
    const started = (s.status?.targets?.length ?? 0) > 0 || hasCondition(conds, CONDITION.GlobalPreBackupHookSucceeded);
    if (!started) {
      let why = this.#skipReason(s, inv);
      if (why) {
        // Skipping is final; decide it on the stored invoker, not on a cache that may trail by an event.
        const fresh = await this.d.kube.getOrNull<BackupInvoker>(
          invokerApiVersion(inv.kind ?? ''),
          inv.kind ?? '',
          ns,
          inv.metadata?.name ?? '',
        );
        if (!fresh) return;
        why = this.#skipReason(s, fresh);
      }
      if (why) {
        const cleaned = await this.#cleanHistory(s, inv);
        s = await this.write(s, { conditions: [cond('BackupSkipped', 'True', why), cleaned] });
        void recordEvent(this.d.events, s, 'Normal', 'BackupSkipped', why);
        return;
      }
    }
    const pre = isBatchKind(inv.kind)
      ? (inv.spec?.hooks as { preBackup?: HookHandler } | undefined)?.preBackup
      : undefined;
    if (pre && !hasCondition(conds, CONDITION.GlobalPreBackupHookSucceeded)) {
      const c = await this.#runHook(s, inv, pre, 'preBackup', 'GlobalPreBackupHookSucceeded', 'Running');
      s = await this.write(s, { conditions: [c] });
      if (c.status !== 'True') {
        this.queue.add(key);
        return;
      }
    }
    s = await this.#initiate(s, inv, members);
    await this.#checkHosts(key, s, inv, members);
  }

  #skipReason(s: SessionObj, inv: BackupInvoker): string | undefined {
    const other = this.#sessionsOf(inv).find(
      (o) => o.metadata?.name !== s.metadata?.name && o.status?.phase === 'Running',
    );
    return skipReason({
      invoker: `${inv.kind} ${inv.metadata?.name}`,
      invokerPhase: inv.status?.phase,
      paused: inv.spec?.paused === true,
      otherRunning: other?.metadata?.name,
    });
  }

  /** Sessions of one invoker in its namespace, recognised by spec.invoker (or the older label) as agents do. */
  #sessionsOf(inv: BackupInvoker): SessionObj[] {
    return this.sessions.list().filter((o) => {
      const who = sessionInvoker(o);
      return (
        o.metadata?.namespace === inv.metadata?.namespace && who?.kind === inv.kind && who?.name === inv.metadata?.name
      );
    });
  }

  async #runHook(
    s: SessionObj,
    inv: BackupInvoker,
    h: HookHandler,
    hook: string,
    type: 'GlobalPreBackupHookSucceeded' | 'GlobalPostBackupHookSucceeded',
    phase: string,
  ): Promise<Condition> {
    try {
      const out = await executeHook(h, {
        kube: this.d.kube,
        executorPod: this.d.executorPod,
        timeoutMs: this.d.tuning.hookTimeoutMs,
        summary: summary(s, inv, phase),
      });
      void recordEvent(this.d.events, s, 'Normal', `Global${hook[0]!.toUpperCase()}${hook.slice(1)}HookSucceeded`, out);
      return cond(type, 'True', `Global ${hook} hook succeeded: ${out}`.slice(0, 1024));
    } catch (err) {
      void recordEvent(
        this.d.events,
        s,
        'Warning',
        `Global${hook[0]!.toUpperCase()}${hook.slice(1)}HookFailed`,
        errorMessage(err),
      );
      return cond(type, 'False', `Global ${hook} hook failed: ${errorMessage(err)}`.slice(0, 1024));
    }
  }

  /** Ensures the executor of one target and states what it must do (docs/api.md §14.3 step 6). */
  async #ensureExecutor(s: SessionObj, inv: BackupInvoker, m: Member, count: number): Promise<TargetPatch> {
    const model = executionModel(inv, m);
    const what = `${m.ref.kind} ${m.ref.namespace}/${m.ref.name}`;
    const actions = (p: TargetPatch): TargetPatch => {
      if (m.index === 0) p.preBackupActions = [...PRE_BACKUP_ACTIONS];
      if (m.index === count - 1) p.postBackupActions = [...POST_BACKUP_ACTIONS];
      return p;
    };
    if (model.model === 'unsupported')
      return {
        ref: m.ref,
        conditions: [cond('BackupExecutorEnsured', 'False', `Cannot back up ${what}: ${model.reason}.`)],
      };
    if (model.model === 'job') {
      try {
        if (!(await getTarget(this.d.kube, m.ref)))
          return { ref: m.ref, conditions: [cond('BackupExecutorEnsured', 'False', `Target ${what} does not exist.`)] };
        const job = await ensureBackupJob({ kube: this.d.kube, inject: this.d.inject }, inv, m, s);
        if (job.placement && 'fail' in job.placement) {
          // docs/api.md §12.1: no node could run it; the host fails now rather than at the session's timeOut.
          const reason = `Cannot place the backup Job for ${what}: ${job.placement.fail}.`;
          return actions({
            ref: m.ref,
            totalHosts: 1,
            stats: [{ hostname: memberJobHosts('backup', m)[0] ?? 'host-0', phase: 'Failed', error: reason }],
            conditions: [cond('BackupExecutorEnsured', 'False', reason)],
          });
        }
        const where = job.placement ? `, ${job.placement.why}` : '';
        return actions({
          ref: m.ref,
          totalHosts: 1,
          conditions: [
            cond('BackupExecutorEnsured', 'True', `Backup Job ${job.name} for ${what} is in place${where}.`),
          ],
        });
      } catch (err) {
        return {
          ref: m.ref,
          conditions: [
            cond('BackupExecutorEnsured', 'False', `Could not create the backup Job for ${what}: ${errorMessage(err)}`),
          ],
        };
      }
    }
    try {
      const r = await syncWorkload(this.d.workloads, m.ref);
      if (!r.found)
        return { ref: m.ref, conditions: [cond('BackupExecutorEnsured', 'False', `Target ${what} does not exist.`)] };
      if (!injectedFor(r.object, 'backup', inv)) {
        return {
          ref: m.ref,
          conditions: [
            cond('BackupExecutorEnsured', 'False', `The stash sidecar of ${what} belongs to another backup invoker.`),
          ],
        };
      }
      return actions({
        ref: m.ref,
        totalHosts: totalHostsOf(r.object as Workload),
        conditions: [cond('BackupExecutorEnsured', 'True', `The stash sidecar of ${what} is in place.`)],
      });
    } catch (err) {
      return {
        ref: m.ref,
        conditions: [
          cond('BackupExecutorEnsured', 'False', `Could not ensure the stash sidecar of ${what}: ${errorMessage(err)}`),
        ],
      };
    }
  }

  async #initiate(s: SessionObj, inv: BackupInvoker, members: Member[]): Promise<SessionObj> {
    const ns = s.metadata?.namespace ?? '';
    let working: BackupSessionStatus = structuredClone(s.status ?? {});
    const patches: TargetPatch[] = [];
    const progress = () =>
      members.map((x) => ({
        initiated: initiated(findTarget(working, x.ref, ns)),
        final: targetFinal(findTarget(working, x.ref, ns)),
      }));
    for (const m of members) {
      const t = findTarget(working, m.ref, ns);
      if (initiated(t)) continue;
      if (!mayStart(isBatch(inv) ? inv.spec.executionOrder : undefined, progress(), m.index)) {
        if (!t) {
          patches.push({ ref: m.ref });
          working = mergeBackupSessionStatus(working, { targets: [{ ref: m.ref }] }, { namespace: ns });
        }
        continue;
      }
      const p = await this.#ensureExecutor(s, inv, m, members.length);
      patches.push(p);
      working = mergeBackupSessionStatus(working, { targets: [p] }, { namespace: ns });
    }
    if (patches.length === 0) return s;
    const deadline = deadlineFor(Date.parse(s.metadata?.creationTimestamp ?? '') || Date.now(), inv.spec?.timeOut);
    const out = await this.write(s, { targets: patches }, (st) => {
      if (deadline && !st.sessionDeadline) st.sessionDeadline = deadline;
    });
    if (out.status?.sessionDeadline)
      this.queue.addAfter(
        `${ns}/${s.metadata?.name}`,
        Math.max(0, Date.parse(out.status.sessionDeadline) - Date.now()),
      );
    for (const p of patches) {
      const c = p.conditions?.[0];
      if (!c) continue;
      void recordEvent(
        this.d.events,
        out,
        c.status === 'True' ? 'Normal' : 'Warning',
        c.reason ?? c.type,
        c.status === 'True' ? `Initiated backup of ${p.ref.kind} ${p.ref.name}.` : (c.message ?? ''),
      );
    }
    return out;
  }

  /** Hosts that can no longer finish are failed (rules.ts hostsToFail), so the session always ends. */
  async #checkHosts(key: string, s: SessionObj, inv: BackupInvoker, members: Member[]): Promise<void> {
    const ns = s.metadata?.namespace ?? '';
    const { hostGoneGraceMs, hostLivenessMs } = this.d.tuning;
    const patches: TargetPatch[] = [];
    let next: number | undefined;
    const soon = (ms: number) => {
      next = Math.min(next ?? ms, ms);
    };
    const pods = this.pods.list();
    for (const m of members) {
      const t = findTarget(s.status, m.ref, ns);
      const model = executionModel(inv, m).model;
      if (!t || t.phase !== 'Running' || t.totalHosts === undefined || model === 'unsupported') continue;
      const reported = new Set((t.stats ?? []).map((x) => x.hostname ?? ''));
      const prefix = `${key}|${targetKey(m.ref, ns)}|`;
      const { hosts, unknownHosts } = await observeHosts({
        kube: this.d.kube,
        purpose: 'backup',
        inv,
        m,
        model,
        heartbeatKind: 'BackupSession',
        session: s.metadata?.name ?? '',
        namespace: ns,
        totalHosts: t.totalHosts,
        reported,
        pods,
        leases: this.leases,
        missing: this.#missing,
        prefix,
      });
      const verdict = hostsToFail({
        now: Date.now(),
        eligibleSince: eligibleSince(t.conditions, CONDITION.BackupExecutorEnsured, s.metadata?.creationTimestamp),
        boundMs: hostLivenessMs,
        // An ended Job never comes back, unlike a pod being replaced: its grace only covers the agent's last write.
        goneGraceMs: model === 'workload' ? hostGoneGraceMs : Math.min(hostGoneGraceMs, JOB_REPORT_GRACE_MS),
        // A pod the scheduler cannot place yet is not an ended Job: a claim may still be binding (docs/api.md §12.1).
        unschedulableGraceMs: hostGoneGraceMs,
        target: `${m.ref.kind} ${m.ref.namespace}/${m.ref.name}`,
        hosts,
      });
      if (verdict.recheckInMs !== undefined) soon(verdict.recheckInMs);
      const reasons = verdict.failed.map((f) => f.reason);
      if (unknownHosts > 0) {
        const since = this.#missing.seen(`${prefix}*`);
        if (since >= hostGoneGraceMs)
          reasons.push(`${unknownHosts} host(s) of ${m.ref.kind} ${m.ref.name} have no live pod`);
        else soon(hostGoneGraceMs - since);
      }
      if (reasons.length > 0) {
        const failed: HostBackupStats[] = verdict.failed.map((f) => ({
          hostname: f.host,
          phase: 'Failed',
          error: f.reason,
        }));
        patches.push({ ref: m.ref, stats: failed, conditions: [cond('BackupDisrupted', 'True', reasons.join('; '))] });
      }
    }
    if (patches.length > 0) {
      const out = await this.write(s, { targets: patches });
      for (const p of patches)
        void recordEvent(
          this.d.events,
          out,
          'Warning',
          'FailedToCompleteDueToDisruption',
          p.conditions?.[0]?.message ?? '',
        );
    }
    if (next !== undefined) this.queue.addAfter(key, next + 50);
  }

  /**
   * A session that ends before its members did (deadline, failed global pre-hook) leaves nothing open: every
   * host without a final entry gets a Failed one and a member that never got its turn fails (rules.ts closeOutMember).
   */
  async #closeOut(s: SessionObj, inv: BackupInvoker, members: Member[], why: string): Promise<SessionObj> {
    const ns = s.metadata?.namespace ?? '';
    const patches: TargetPatch[] = [];
    for (const m of members) {
      const t = findTarget(s.status, m.ref, ns);
      // Only what the status lists: a member never mentioned (a pre-hook failed first) stays unmentioned.
      if (!t || targetFinal(t)) continue;
      const total = t.totalHosts;
      const initiated = total !== undefined && total !== null;
      const reported = new Set((t.stats ?? []).map((x) => x.hostname ?? ''));
      const model = executionModel(inv, m).model;
      const names = initiated && model !== 'unsupported' ? (expectedHostNames('backup', model, m, total) ?? []) : [];
      const c = closeOutMember({
        initiated,
        openHosts: names.filter((h) => !reported.has(h)),
        missingCount: initiated ? Math.max(0, total - reported.size) : 1,
      });
      const what = `${m.ref.kind} ${m.ref.name}`;
      const p: TargetPatch = {
        ref: m.ref,
        stats: c.failHosts.map((h) => ({
          hostname: h,
          phase: 'Failed',
          error: `${why} before host ${h} of ${what} reported`,
        })),
      };
      if (c.failMember) {
        p.conditions = [
          initiated
            ? cond('BackupDisrupted', 'True', `${why} before every host of ${what} reported.`)
            : cond('BackupExecutorEnsured', 'False', `Not started: ${why} before the turn of ${what}.`),
        ];
      }
      patches.push(p);
    }
    if (patches.length === 0) return s;
    const out = await this.write(s, { targets: patches });
    void recordEvent(
      this.d.events,
      out,
      'Warning',
      'SessionEndedEarly',
      `${why}: ${patches.map((p) => `${p.ref.kind} ${p.ref.name}${p.stats?.length ? ` (hosts ${p.stats.map((x) => x.hostname).join(', ')})` : ''}`).join('; ')} marked Failed.`,
    );
    return out;
  }

  /** docs/api.md §14.3 step 2: local post hooks, global post hook, history, metrics — the last write makes the phase final. */
  async #finish(s: SessionObj, inv: BackupInvoker, members: Member[]): Promise<void> {
    const ns = s.metadata?.namespace ?? '';
    const key = `${ns}/${s.metadata?.name}`;
    const conds = s.status?.conditions;
    const preFailed = isFalse(conds, CONDITION.GlobalPreBackupHookSucceeded);
    const deadline = isTrue(conds, CONDITION.DeadlineExceeded);
    if (deadline)
      s = await this.#closeOut(s, inv, members, `the session deadline (timeOut ${inv.spec?.timeOut ?? '?'}) passed`);
    else if (preFailed) s = await this.#closeOut(s, inv, members, 'the global preBackup hook failed');
    if (!preFailed && !deadline) {
      const waiting = members.filter((m) => {
        const t = findTarget(s.status, m.ref, ns);
        const hook = (m.member.hooks as { postBackup?: unknown } | undefined)?.postBackup;
        return (
          hook &&
          t &&
          isTrue(t.conditions, CONDITION.BackupExecutorEnsured) &&
          !isFalse(t.conditions, CONDITION.PreBackupHookExecutionSucceeded) &&
          !isTrue(t.conditions, CONDITION.BackupDisrupted) &&
          !hasCondition(t.conditions, CONDITION.PostBackupHookExecutionSucceeded)
        );
      });
      // The agent records its local post hook right after its stats; give it a bounded time to do so.
      if (waiting.length > 0 && this.#missing.seen(`${key}|post-hooks`) < this.d.tuning.hookTimeoutMs) {
        this.queue.addAfter(key, this.d.tuning.hookTimeoutMs);
        return;
      }
    }
    const post = isBatchKind(inv.kind)
      ? (inv.spec?.hooks as { postBackup?: HookHandler } | undefined)?.postBackup
      : undefined;
    const anyFailed = deadline || preFailed || (s.status?.targets ?? []).some((t) => t.phase === 'Failed');
    if (post && !preFailed && !hasCondition(conds, CONDITION.GlobalPostBackupHookSucceeded)) {
      const outcome = anyFailed ? 'Failed' : 'Succeeded';
      const c = postHookAllowed(post.executionPolicy, outcome, s.spec?.retryLeft ?? 0)
        ? await this.#runHook(s, inv, post, 'postBackup', 'GlobalPostBackupHookSucceeded', outcome)
        : cond(
            'GlobalPostBackupHookSucceeded',
            'True',
            `Skipped the global postBackup hook: executionPolicy ${post.executionPolicy} does not apply to a ${outcome} session.`,
          );
      s = await this.write(s, { conditions: [c] });
    }
    const cleaned = await this.#cleanHistory(s, inv);
    s = await this.write(s, {
      conditions: [cleaned, cond('MetricsPushed', 'True', 'Metrics are exported by the operator on /metrics.')],
    });
    this.#missing.clear(`${key}|`);
    const phase = s.status?.phase ?? 'Unknown';
    void recordEvent(
      this.d.events,
      s,
      phase === 'Succeeded' ? 'Normal' : 'Warning',
      `BackupSession${phase}`,
      `BackupSession ${s.metadata?.name} finished: ${phase} after ${s.status?.sessionDuration ?? '?'}.`,
    );
    if (phase === 'Failed') this.queue.add(key); // retry bookkeeping
  }

  /** docs/api.md §14.5: keep `backupHistoryLimit` completed sessions, always the newest Succeeded-or-Failed one. */
  async #cleanHistory(current: SessionObj, inv: BackupInvoker): Promise<Condition> {
    const limit = (inv.spec?.backupHistoryLimit as number | undefined) ?? 1;
    const mine = this.#sessionsOf(inv).filter((o) => o.metadata?.name !== current.metadata?.name);
    const all = [current, ...mine].sort((a, b) => {
      const ta = a.metadata?.creationTimestamp ?? '';
      const tb = b.metadata?.creationTimestamp ?? '';
      return ta !== tb ? (ta < tb ? 1 : -1) : (a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? 1 : -1;
    });
    const done = (o: SessionObj): boolean => o === current || isFinalSessionPhase(o.status?.phase);
    const keep =
      limit > 0
        ? all.find((o) => o === current || o.status?.phase === 'Succeeded' || o.status?.phase === 'Failed')
        : undefined;
    try {
      let deleted = 0;
      for (const [i, o] of all.entries()) {
        if (i < limit || o === current || o === keep || !done(o)) continue;
        await this.d.kube.delete(SESSION_API, 'BackupSession', o.metadata?.namespace, o.metadata?.name ?? '', {
          propagationPolicy: 'Background',
        });
        deleted++;
      }
      return cond(
        'BackupHistoryCleaned',
        'True',
        `Kept at most ${limit} finished BackupSession(s); deleted ${deleted}.`,
      );
    } catch (err) {
      return cond('BackupHistoryCleaned', 'False', `Could not clean up old BackupSessions: ${errorMessage(err)}`);
    }
  }

  /** docs/api.md §14.6: a failed session with retries left gets a successor after retryConfig.delay. */
  async #retry(s: SessionObj, inv: BackupInvoker): Promise<void> {
    const left = s.spec?.retryLeft ?? 0;
    if (s.status?.phase !== 'Failed' || left <= 0 || s.status?.retried) return;
    const key = `${s.metadata?.namespace}/${s.metadata?.name}`;
    if (!s.status.nextRetry) {
      const delay = parseGoDuration((inv.spec?.retryConfig as { delay?: string } | undefined)?.delay ?? '') ?? 0;
      s = await this.write(s, {}, (st) => {
        st.nextRetry = rfc3339(new Date(Date.now() + delay));
      });
    }
    const wait = Date.parse(s.status?.nextRetry ?? '') - Date.now();
    if (wait > 0) {
      this.queue.addAfter(key, wait);
      return;
    }
    const invName = inv.metadata?.name ?? '';
    let created: SessionObj | undefined;
    for (let bump = 0; !created && bump < 5; bump++) {
      const suffix = `-${Math.floor(Date.now() / 1000) + bump}`;
      const body: SessionObj = {
        apiVersion: SESSION_API,
        kind: 'BackupSession',
        metadata: {
          name: `${invName.slice(0, 63 - suffix.length)}${suffix}`,
          namespace: s.metadata?.namespace,
          labels: { ...(s.metadata?.labels ?? {}), [LABEL.invokerType]: inv.kind ?? '', [LABEL.invokerName]: invName },
          ownerReferences: [ownerRef(inv)],
        },
        spec: { invoker: { apiGroup: 'stash.appscode.com', kind: inv.kind, name: invName }, retryLeft: left - 1 },
      };
      try {
        created = await this.d.kube.create(body);
      } catch (err) {
        if ((err as { status?: number }).status !== 409) throw err;
      }
    }
    await this.write(s, {}, (st) => {
      st.retried = true;
    });
    void recordEvent(
      this.d.events,
      s,
      'Normal',
      'BackupRetried',
      `Created retry BackupSession ${created?.metadata?.name} (${left - 1} retries left).`,
    );
  }
}

export async function runBackupSessions(deps: ControllerDeps, signal: AbortSignal): Promise<void> {
  const d = resolveDeps(deps);
  const loop = new BackupSessionLoop(d, signal);
  await loop.start();
  await waitForAbort(signal);
  await loop.stop();
}
