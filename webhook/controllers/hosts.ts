// What the session loops observe about the hosts of one running member, for the liveness rules in rules.ts:
// the hosts it expects, which of them can no longer report (pod or Job gone), and each host's heartbeat
// Lease (shared/api/heartbeat.ts). Shared by the backup-session and restore loops.
import { CONTAINER } from '../../shared/api/constants.ts';
import { HEARTBEAT, heartbeatLeaseName, type HeartbeatSessionKind } from '../../shared/api/heartbeat.ts';
import type { Kube, KubeObject } from '../../shared/kube/client.ts';
import { Informer } from '../../shared/kube/informer.ts';
import type { Logger } from 'pino';
import { aliasOf, missingHosts, slimPod, type ExecutionModel, type Member, type MissingSince } from './common.ts';
import type { Invoker } from '../../shared/api/types.ts';
import { memberJobHosts, missingJobHosts } from './jobs.ts';
import type { HostObservation } from './rules.ts';

interface LeaseObj extends KubeObject {
  spec?: { renewTime?: string; acquireTime?: string };
}

/**
 * What a session loop watches its hosts with: the namespace's Pods (slimmed) and the heartbeat Leases of its
 * session kinds, each pod kept as `transform` makes it (slimPod, or more for the restore loop). `podGone` runs when a pod is deleted, starts terminating, or terminates, since that may leave a
 * host unreported.
 */
export function hostInformers(
  d: { kube: Kube; namespace: string | undefined; log: Logger },
  kinds: readonly HeartbeatSessionKind[],
  transform: (pod: KubeObject) => KubeObject,
  podGone: (pod: KubeObject) => void,
): { pods: Informer<KubeObject>; leases: Informer<KubeObject> } {
  const pods = new Informer<KubeObject>(d.kube, {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: d.namespace,
    log: d.log,
    transform,
  });
  pods.on('delete', podGone);
  pods.on('update', (p, old) => {
    const st = (x: KubeObject | undefined) => (x as { status?: { phase?: string } } | undefined)?.status?.phase;
    if (
      (p.metadata?.deletionTimestamp && !old?.metadata?.deletionTimestamp) ||
      (st(p) !== st(old) && (st(p) === 'Failed' || st(p) === 'Succeeded'))
    )
      podGone(p);
  });
  return { pods, leases: heartbeatInformer(d.kube, d.namespace, kinds, d.log) };
}

/** What the restore loop keeps of a pod with a stash-init container: for which invoker and target, and when it first started. */
interface StashInitView {
  /** "RestoreBatch/name", from the container's flags. */
  invoker: string;
  /** "Deployment/namespace/name", from the container's flags. */
  target: string;
  /** Earliest start of the container this pod saw (RFC 3339), across its restarts; undefined: not started yet. */
  startedAt?: string;
}

type PodWithInit = KubeObject & {
  metadata?: { name?: string };
  spec?: { nodeName?: string; initContainers?: Array<{ name?: string; args?: string[] }> };
  status?: {
    initContainerStatuses?: Array<{
      name?: string;
      state?: { running?: { startedAt?: string }; terminated?: { startedAt?: string } };
      lastState?: { terminated?: { startedAt?: string } };
    }>;
  };
  stashInit?: StashInitView;
};

/** Whose agent container `c` is, from the flags injection gave it ("Kind/name" and "Kind/namespace/name"). */
function agentIdentity(c: { args?: string[] }): { invoker: string; target: string } {
  const flag = (name: string) => c.args?.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? '';
  return {
    invoker: `${flag('invoker-kind')}/${flag('invoker-name')}`,
    target: `${flag('target-kind')}/${flag('target-namespace')}/${flag('target-name')}`,
  };
}

/** Whether the agent a kept pod view names is invoker `inv`'s, for member `m`, in the member's namespace. */
function agentOfMember(v: { invoker: string; target: string }, p: KubeObject, inv: KubeObject, m: Member): boolean {
  const ref = m.ref;
  return (
    v.invoker === `${inv.kind}/${inv.metadata?.name}` &&
    v.target === `${ref.kind}/${ref.namespace}/${ref.name}` &&
    p.metadata?.namespace === ref.namespace
  );
}

/**
 * The restore loop's pod informer transform: slimPod (what missingHosts needs) plus, for a pod with a stash-init
 * container, whose it is and when it first started, so the loop can tell a host whose pod is still being rolled
 * out from an agent that started and then never took the session up (rules.ts hostsToFail, startBoundMs).
 */
export function slimRestorePod(p: KubeObject): KubeObject {
  const pod = p as PodWithInit;
  const slim = slimPod(p) as PodWithInit;
  const c = pod.spec?.initContainers?.find((x) => x.name === CONTAINER.initContainer);
  if (!c) return slim;
  const st = pod.status?.initContainerStatuses?.find((x) => x.name === CONTAINER.initContainer);
  const starts = [st?.state?.running?.startedAt, st?.state?.terminated?.startedAt, st?.lastState?.terminated?.startedAt]
    .filter((x): x is string => !!x && !Number.isNaN(Date.parse(x)))
    .sort((a, b) => Date.parse(a) - Date.parse(b));
  slim.stashInit = {
    ...agentIdentity(c),
    ...(starts[0] ? { startedAt: starts[0] } : {}),
  };
  return slim;
}

/** Whether pod `p` of the member's workload is the one for `host`: a Deployment's any, a StatefulSet's by ordinal, a DaemonSet's by node. */
function podServesHost(p: KubeObject & { spec?: { nodeName?: string } }, m: Member, host: string): boolean {
  const ref = m.ref;
  const alias = aliasOf(m);
  if (ref.kind === 'StatefulSet') {
    const ordinal = (p.metadata?.name ?? '').slice((ref.name ?? '').length + 1);
    return `${alias || 'host'}-${ordinal}` === host;
  }
  if (ref.kind === 'DaemonSet') {
    const node = p.spec?.nodeName ?? '';
    return (alias ? `${alias}-${node}` : node) === host;
  }
  return true;
}

/**
 * When the stash-init of `host` first started for this invoker (epoch ms), from the live pods slimRestorePod kept;
 * undefined when none has. Deployment: any of its pods (one host); StatefulSet: the pod of the host's ordinal;
 * DaemonSet: the pod on the host's node.
 */
export function restoreAgentStartedAt(
  pods: readonly KubeObject[],
  inv: KubeObject,
  m: Member,
  host: string,
): number | undefined {
  let best: number | undefined;
  for (const p of pods as readonly PodWithInit[]) {
    const v = p.stashInit;
    if (!v?.startedAt || !agentOfMember(v, p, inv, m)) continue;
    if (p.metadata?.deletionTimestamp) continue;
    if (!podServesHost(p, m, host)) continue;
    const at = Date.parse(v.startedAt);
    best = best === undefined ? at : Math.min(best, at);
  }
  return best;
}

/** What the backup loop keeps of a pod with the stash sidecar: whose it is, and its last OOM kill. */
interface SidecarView {
  /** "BackupBatch/name", from the container's flags. */
  invoker: string;
  /** "Deployment/namespace/name", from the container's flags. */
  target: string;
  /** When the kubelet last reported the container OOMKilled (RFC 3339), from state or lastState. */
  oomKilledAt?: string;
  /** resources.limits.memory of the container in the pod spec. */
  memoryLimit?: string;
}

type Terminated = { reason?: string; finishedAt?: string };
type PodWithSidecar = KubeObject & {
  metadata?: { name?: string };
  spec?: {
    nodeName?: string;
    containers?: Array<{ name?: string; args?: string[]; resources?: { limits?: { memory?: string } } }>;
  };
  status?: {
    containerStatuses?: Array<{
      name?: string;
      state?: { terminated?: Terminated };
      lastState?: { terminated?: Terminated };
    }>;
  };
  stashSidecar?: SidecarView;
};

/**
 * The backup loop's pod informer transform: slimPod plus, for a pod with the stash sidecar, whose it is and when
 * the kubelet last OOM-killed it, so a host that stops renewing because its agent was killed for memory is failed
 * with that reason and the limit (rules.ts oomNote) instead of only "stale heartbeat".
 */
export function slimBackupPod(p: KubeObject): KubeObject {
  const pod = p as PodWithSidecar;
  const slim = slimPod(p) as PodWithSidecar;
  const c = pod.spec?.containers?.find((x) => x.name === CONTAINER.sidecar);
  if (!c) return slim;
  const st = pod.status?.containerStatuses?.find((x) => x.name === CONTAINER.sidecar);
  const oom = [st?.state?.terminated, st?.lastState?.terminated]
    .filter((x): x is Terminated => x?.reason === 'OOMKilled' && !Number.isNaN(Date.parse(x.finishedAt ?? '')))
    .map((x) => x.finishedAt!)
    .sort((a, b) => Date.parse(b) - Date.parse(a));
  const limit = c.resources?.limits?.memory;
  slim.stashSidecar = {
    ...agentIdentity(c),
    ...(oom[0] ? { oomKilledAt: oom[0] } : {}),
    ...(limit ? { memoryLimit: String(limit) } : {}),
  };
  return slim;
}

/** The latest OOM kill of the stash sidecar serving `host`, from the pods slimBackupPod kept; undefined when none. */
export function backupAgentOomKilled(
  pods: readonly KubeObject[],
  inv: KubeObject,
  m: Member,
  host: string,
): HostObservation['agentOomKilled'] {
  let best: HostObservation['agentOomKilled'];
  for (const p of pods as readonly PodWithSidecar[]) {
    const v = p.stashSidecar;
    if (!v?.oomKilledAt || !agentOfMember(v, p, inv, m)) continue;
    if (!podServesHost(p, m, host)) continue;
    const at = Date.parse(v.oomKilledAt);
    if (best === undefined || at > best.at)
      best = {
        at,
        pod: p.metadata?.name ?? '',
        container: CONTAINER.sidecar,
        ...(v.memoryLimit ? { limit: v.memoryLimit } : {}),
      };
  }
  return best;
}

/** Heartbeat Leases of the given session kinds, cached by an informer on the heartbeat label. */
export function heartbeatInformer(
  kube: Kube,
  namespace: string | undefined,
  kinds: readonly HeartbeatSessionKind[],
  log: Logger,
): Informer<KubeObject> {
  return new Informer<KubeObject>(kube, {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    namespace,
    log,
    labelSelector: `${HEARTBEAT.label.sessionKind} in (${kinds.join(',')})`,
    // Only the renewal time matters here; holder and durations stay out of memory.
    transform: (l: LeaseObj) =>
      ({
        apiVersion: l.apiVersion,
        kind: l.kind,
        metadata: {
          name: l.metadata?.name,
          namespace: l.metadata?.namespace,
          resourceVersion: l.metadata?.resourceVersion,
          creationTimestamp: l.metadata?.creationTimestamp,
        },
        spec: { renewTime: l.spec?.renewTime, acquireTime: l.spec?.acquireTime },
      }) as LeaseObj,
  });
}

/** When a host last showed it works on the session (epoch ms), or undefined when it has no Lease. */
export function heartbeatAt(
  leases: Informer<KubeObject>,
  namespace: string,
  kind: HeartbeatSessionKind,
  session: string,
  host: string,
): number | undefined {
  const l = leases.get(namespace, heartbeatLeaseName(kind, session, host)) as LeaseObj | undefined;
  if (!l) return undefined;
  const t = Date.parse(l.spec?.renewTime ?? l.spec?.acquireTime ?? l.metadata?.creationTimestamp ?? '');
  return Number.isNaN(t) ? undefined : t;
}

/**
 * Host names a member is expected to report, when they can be named without pods: a Deployment's alias (or
 * host-0), a StatefulSet's per-ordinal names, a Job's hosts. Undefined for a DaemonSet (one host per node).
 */
export function expectedHostNames(
  purpose: 'backup' | 'restore',
  model: ExecutionModel['model'],
  m: Member,
  totalHosts: number,
): string[] | undefined {
  if (model === 'job') return memberJobHosts(purpose, m);
  const alias = aliasOf(m);
  if (m.ref.kind === 'DaemonSet') return undefined;
  if (m.ref.kind === 'StatefulSet')
    return Array.from({ length: totalHosts }, (_, i) => (alias ? `${alias}-${i}` : `host-${i}`));
  return [alias ?? 'host-0'];
}

export interface ObserveInput {
  kube: Kube;
  purpose: 'backup' | 'restore';
  inv: Invoker;
  m: Member;
  model: 'workload' | 'job';
  heartbeatKind: HeartbeatSessionKind;
  /** The session's name: the BackupSession's, or the restore invoker's own. */
  session: string;
  /** Namespace of the session (its Leases live there). */
  namespace: string;
  totalHosts: number;
  /** Hosts with a final entry. */
  reported: ReadonlySet<string>;
  pods: readonly KubeObject[];
  leases: Informer<KubeObject>;
  missing: MissingSince;
  /** Key prefix of this member in `missing`. */
  prefix: string;
}

/** The unreported hosts of a running member with what the rules need to judge them; unknownHosts: unnamed missing hosts. */
export async function observeHosts(o: ObserveInput): Promise<{ hosts: HostObservation[]; unknownHosts: number }> {
  const {
    missing: gone,
    unknownHosts,
    expected,
  } = o.model === 'workload'
    ? await missingHosts(o.kube, o.m.ref, aliasOf(o.m), o.totalHosts, o.reported, o.pods)
    : {
        missing: await missingJobHosts(
          o.kube,
          o.purpose,
          o.inv,
          o.m,
          o.purpose === 'backup' ? o.session : '',
          o.reported,
          o.pods,
        ),
        unknownHosts: 0,
        expected: memberJobHosts(o.purpose, o.m),
      };
  const still = new Set<string>();
  const hosts: HostObservation[] = [];
  for (const host of expected) {
    if (o.reported.has(host)) continue;
    const g = gone.find((x) => x.host === host);
    if (g) still.add(o.prefix + host);
    hosts.push({
      host,
      ...(g
        ? { gone: { reason: g.reason, forMs: o.missing.seen(o.prefix + host), unschedulable: g.unschedulable } }
        : {}),
      heartbeatAt: heartbeatAt(o.leases, o.namespace, o.heartbeatKind, o.session, host),
      ...(o.purpose === 'restore' && o.model === 'workload'
        ? { agentStartedAt: restoreAgentStartedAt(o.pods, o.inv, o.m, host) }
        : {}),
      ...(o.purpose === 'backup' && o.model === 'workload'
        ? optional('agentOomKilled', backupAgentOomKilled(o.pods, o.inv, o.m, host))
        : {}),
    });
  }
  if (unknownHosts > 0) still.add(`${o.prefix}*`);
  o.missing.retain(o.prefix, still);
  return { hosts, unknownHosts };
}

function optional<K extends string, V>(key: K, v: V | undefined): { [k in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [k in K]?: V };
}

/**
 * When a member's hosts were due to start: the last transition of its executor condition (set when the operator
 * initiated it: its turn in Sequential order, the session's start in Parallel), else the session's creation.
 */
export function eligibleSince(
  conds: ReadonlyArray<{ type: string; lastTransitionTime?: string }> | undefined,
  type: string,
  sessionCreated: string | undefined,
  now = Date.now(),
): number {
  const at = Date.parse(conds?.find((c) => c.type === type)?.lastTransitionTime ?? sessionCreated ?? '');
  return Number.isNaN(at) ? now : at;
}
