// The orchestration rules of the session loops, as pure functions of what the loop observed. Both the
// BackupSession loop and the restore loop (RestoreSession, RestoreBatch) decide with these, so a rule lives in
// one place and is unit-tested by table (rules.test.ts): which member may start in Sequential order, which
// hosts to fail (pod gone after a grace, heartbeat Lease stale, never taken up), why a session is skipped,
// when a deadline has passed, and how a session that ends early leaves every member and host final.
import { LABEL } from '../../shared/api/index.ts';
import { sessionInvoker } from '../../shared/api/target.ts';
import { formatMs, parseGoDuration, rfc3339 } from '../../shared/status/index.ts';

// ------------------------------------------------------------------------------------------------ order

export interface MemberProgress {
  /** The operator has initiated it (executor ensured, or it already runs or ended). */
  initiated: boolean;
  /** It reached a final phase. */
  final: boolean;
}

/**
 * True when member `index` should be initiated now: it has not been yet, and in Sequential order every member
 * before it is final (a Failed member hands over like a Succeeded one). Parallel members all start at once.
 */
export function mayStart(order: string | undefined, progress: readonly MemberProgress[], index: number): boolean {
  const me = progress[index];
  if (!me || me.initiated) return false;
  if (order !== 'Sequential') return true;
  return progress.slice(0, index).every((p) => p.final);
}

// ------------------------------------------------------------------------------------------------ sessions

interface SessionLike {
  metadata?: { labels?: Record<string, string> };
  spec?: { invoker?: { kind?: string; name?: string } };
}

/** The invoker-type/invoker-name labels a session lacks (agents select sessions by them), or undefined. */
export function invokerLabelsToAdd(s: SessionLike): Record<string, string> | undefined {
  const who = sessionInvoker(s);
  if (!who) return undefined;
  const have = s.metadata?.labels ?? {};
  const want = { [LABEL.invokerType]: who.kind, [LABEL.invokerName]: who.name };
  return Object.entries(want).every(([k, v]) => have[k] === v) ? undefined : want;
}

// ------------------------------------------------------------------------------------------------ skipping

export interface SkipInput {
  /** "BackupBatch app", for messages. */
  invoker: string;
  invokerPhase: string | undefined;
  paused: boolean;
  /** Name of another session of the same invoker that is still Running, if any. */
  otherRunning: string | undefined;
}

/** Why a session that has not started must be skipped, or undefined when it may run. */
export function skipReason(i: SkipInput): string | undefined {
  if (i.invokerPhase !== 'Ready')
    return `Skipped taking new backup: ${i.invoker} is not Ready (phase ${i.invokerPhase ?? 'unset'}).`;
  // Upstream's docs say a paused invoker skips manual sessions too; we follow the docs.
  if (i.paused) return `Skipped taking new backup: ${i.invoker} is paused.`;
  if (i.otherRunning)
    return `Skipped taking new backup: BackupSession ${i.otherRunning} of ${i.invoker} is still running.`;
  return undefined;
}

// ------------------------------------------------------------------------------------------------ deadlines

/** The session deadline (RFC 3339) for a `timeOut`, counted from the session's creation; undefined without one. */
export function deadlineFor(createdAtMs: number, timeOut: string | undefined): string | undefined {
  const ms = timeOut ? parseGoDuration(timeOut) : undefined;
  return ms !== undefined && ms > 0 ? rfc3339(new Date(createdAtMs + ms)) : undefined;
}

/** `passed` once the deadline is reached; otherwise how long until it is (for a timer). */
export function deadlineState(deadline: string | undefined, now: number): { passed: boolean; inMs?: number } {
  if (!deadline) return { passed: false };
  const left = Date.parse(deadline) - now;
  return Number.isNaN(left) ? { passed: false } : left <= 0 ? { passed: true } : { passed: false, inMs: left };
}

// ------------------------------------------------------------------------------------------------ liveness

export interface HostObservation {
  host: string;
  /**
   * Its pod (or Job) can no longer report: why, and for how long this operator has seen it so. `unschedulable`:
   * not ended, its pod waits on a scheduler that cannot place it yet, which may pass (a claim still binding).
   */
  gone?: { reason: string; forMs: number; unschedulable?: true };
  /** Last renewal of its heartbeat Lease (epoch ms); undefined when it has no Lease. */
  heartbeatAt?: number;
  /**
   * When its agent container first started for this session (epoch ms), where the loop can see it (a restore
   * host's stash-init, which starts only once its pod is rolled out); undefined: not started, or not observed.
   */
  agentStartedAt?: number;
  /**
   * The kubelet's last OOM kill of its agent container (state or lastState terminated, reason OOMKilled): when
   * (epoch ms), in which pod, and the container's memory limit from the pod spec. A sidecar the kernel killed
   * restarts and may just stop renewing; its failure then says why. Only kills since eligibleSince count.
   */
  agentOomKilled?: { at: number; pod: string; container: string; limit?: string };
}

export interface LivenessInput {
  now: number;
  /**
   * When this member's hosts were due to start working: when the operator initiated the member (its turn in
   * Sequential order, the session's start in Parallel order).
   */
  eligibleSince: number;
  /** Liveness bound: a Lease older than this, or no Lease this long after eligibleSince, fails the host. */
  boundMs: number;
  /**
   * For a host whose agent starts only after a pod rollout (a restore's stash-init): how long after
   * eligibleSince it may take to start at all; once it has started (agentStartedAt), boundMs applies from then.
   * Undefined: the agent is already running when the turn begins (a backup sidecar), boundMs from eligibleSince.
   */
  startBoundMs?: number;
  /** Grace for a host whose pod is gone (a pod being replaced is not a crash). */
  goneGraceMs: number;
  /** Grace for a host whose pod the scheduler cannot place yet (gone.unschedulable); goneGraceMs when unset. */
  unschedulableGraceMs?: number;
  /** The target, for messages ("Deployment shop/web"). */
  target: string;
  /** Hosts that have not reported a final phase. */
  hosts: readonly HostObservation[];
}

/** "; its agent was OOMKilled …" when the kubelet says the host's agent container was OOM-killed since `since`. */
export function oomNote(h: Pick<HostObservation, 'agentOomKilled'>, since: number): string {
  const k = h.agentOomKilled;
  if (!k || k.at < since) return '';
  return (
    `; container ${k.container} of pod ${k.pod} was OOMKilled at ${new Date(k.at).toISOString()} ` +
    `(${k.limit ? `memory limit ${k.limit}` : 'no memory limit of its own'}): raise runtimeSettings.container.resources.limits.memory`
  );
}

export interface HostFailure {
  host: string;
  reason: string;
}

/** Hosts to mark Failed now, and when to look again for the others (undefined: nothing to wait for). */
export function hostsToFail(i: LivenessInput): { failed: HostFailure[]; recheckInMs?: number } {
  const failed: HostFailure[] = [];
  let recheck: number | undefined;
  const later = (ms: number) => {
    recheck = Math.min(recheck ?? ms, Math.max(0, ms));
  };
  const bound = formatMs(i.boundMs);
  for (const h of i.hosts) {
    const fail = (reason: string) => failed.push({ host: h.host, reason: reason + oomNote(h, i.eligibleSince) });
    if (h.gone) {
      const grace = (h.gone.unschedulable && i.unschedulableGraceMs) || i.goneGraceMs;
      if (h.gone.forMs >= grace) fail(h.gone.reason);
      else later(grace - h.gone.forMs);
      continue;
    }
    if (h.heartbeatAt !== undefined) {
      const age = i.now - h.heartbeatAt;
      if (age > i.boundMs) {
        fail(
          `host ${h.host} of ${i.target} stopped working on the session: its heartbeat Lease was last renewed ${formatMs(Math.round(age / 1000) * 1000)} ago ` +
            `(${new Date(h.heartbeatAt).toISOString()}), beyond the liveness bound of ${bound}; see the agent's log`,
        );
      } else later(i.boundMs - age + 1);
      continue;
    }
    if (i.startBoundMs !== undefined && h.agentStartedAt === undefined) {
      // Its pod is still being rolled out (scheduling, image pulls, a workload controller that is itself
      // reconnecting after an apiserver restart): that is not a lost agent, and gets its own, longer bound.
      const waited = i.now - i.eligibleSince;
      if (waited > i.startBoundMs) {
        fail(
          `no agent took up the session for host ${h.host} of ${i.target}: its agent container did not start within ${formatMs(i.startBoundMs)} ` +
            `of the member's turn (the liveness bound of ${bound} applies once it runs): check the workload's rollout ` +
            '(kubectl rollout status, kubectl describe pod: scheduling, image pulls) and that the stash-init container is injected into its pod template',
        );
      } else {
        // At least once a bound: an agent that starts meanwhile is judged by the liveness bound from its start.
        later(Math.min(i.startBoundMs - waited + 1, i.boundMs));
      }
      continue;
    }
    // Counted from when the agent started, if that is later than the turn: the time to roll its pod out is not its own.
    const since = Math.max(i.eligibleSince, h.agentStartedAt ?? i.eligibleSince);
    const waited = i.now - since;
    if (waited > i.boundMs) {
      fail(
        h.agentStartedAt !== undefined && h.agentStartedAt > i.eligibleSince
          ? `no agent took up the session for host ${h.host} of ${i.target} within the liveness bound of ${bound}: ` +
              `its agent container started (${new Date(h.agentStartedAt).toISOString()}) but never renewed a heartbeat Lease; see that container's log`
          : `no agent took up the session for host ${h.host} of ${i.target} within the liveness bound of ${bound}: ` +
              "check that the stash container is injected into its pods and running (kubectl get pods, the workload's pod template), " +
              'and that the session carries the invoker-type/invoker-name labels',
      );
    } else later(i.boundMs - waited + 1);
  }
  return { failed, ...(recheck !== undefined ? { recheckInMs: recheck } : {}) };
}

// ------------------------------------------------------------------------------------------------ ending early

export interface OpenMember {
  /** The operator initiated it (its hosts were due to work); false: it never got its turn. */
  initiated: boolean;
  /** Hosts with no final phase yet (known names; may be fewer than expected for a DaemonSet). */
  openHosts: readonly string[];
  /** How many final host entries are still missing for the member to be final. */
  missingCount: number;
}

export interface CloseOut {
  /** Hosts to record as Failed with `reason`. */
  failHosts: string[];
  /** The member cannot be closed by host entries alone (unnamed hosts, or never started): fail it as a whole. */
  failMember: boolean;
}

/**
 * How a member still open when its session ends (deadline passed, pre-hook failed, lost hosts) is made final:
 * every open host gets a Failed entry; a member that never started, or whose missing hosts cannot all be named,
 * is failed as a whole. A session that ended never leaves a member or host Running or Pending.
 */
export function closeOutMember(m: OpenMember): CloseOut {
  if (!m.initiated) return { failHosts: [], failMember: true };
  return { failHosts: [...m.openHosts], failMember: m.openHosts.length < m.missingCount };
}
