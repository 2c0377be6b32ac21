// Helpers every control loop shares: conditions with docs/api.md §10 reasons, Events, invoker members and their
// execution model (docs/api.md §12), repository/secret/usage-policy checks (§14.1 step 2, §16.1 step 4), host counts and
// the liveness of the pods that are supposed to report a host (docs/architecture.md §4: a crashed agent never leaves a
// session Running forever).
import type { Logger } from 'pino';
import {
  CONDITION_REASONS,
  FINALIZER,
  GROUP,
  KINDS,
  LABEL,
  LABEL_VALUE,
  apiVersionOf,
  type StashKind,
} from '../../shared/api/index.ts';
import type {
  BackupConfigurationTemplateSpec,
  Condition,
  ConditionType,
  Invoker,
  Repository,
  RestoreTargetSpec,
  TargetRef,
} from '../../shared/api/index.ts';
import { WORKLOAD_KINDS, servedApiVersion, type InvokerMember } from '../../shared/api/target.ts';
import { errorMessage } from '../../shared/errors.ts';
import type { Kube, KubeObject } from '../../shared/kube/client.ts';
import { resourceFor } from '../../shared/kube/resources.ts';
import { rfc3339 } from '../../shared/status/index.ts';

export type Status = 'True' | 'False' | 'Unknown';

/** A condition with the docs/api.md §10 reason for its status; the message is what a person can act on. */
export function cond(type: ConditionType, status: Status, message: string, now: Date = new Date()): Condition {
  const reasons = CONDITION_REASONS[type];
  const reason = status === 'True' ? reasons.true : status === 'False' ? reasons.false : reasons.unknown;
  const c: Condition = { type, status, message, lastTransitionTime: rfc3339(now) };
  if (reason) c.reason = reason;
  if (status === 'False') c.severity = 'Error';
  return c;
}

export function isUnknownOrFalse(conds: readonly Condition[] | undefined, type: string): boolean {
  const c = conds?.find((x) => x.type === type);
  return c !== undefined && c.status !== 'True';
}

// ------------------------------------------------------------------------------------------------ Events

export interface EventSink {
  kube: Kube;
  log: Logger;
  component?: string;
  instance?: string;
}

/** Records a core/v1 Event on `obj`. Never throws: an Event is a courtesy, not part of the state. */
export async function recordEvent(
  sink: EventSink,
  obj: KubeObject,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
): Promise<void> {
  const m = obj.metadata ?? {};
  const now = new Date().toISOString();
  try {
    await sink.kube.create({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${m.name ?? 'stash'}.`, namespace: m.namespace },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resourceVersion: m.resourceVersion,
      },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: sink.component ?? 'stash-operator' },
      reportingComponent: sink.component ?? 'stash-operator',
      reportingInstance: sink.instance ?? '',
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  } catch (err) {
    sink.log.debug({ err: errorMessage(err), reason }, 'could not record event');
  }
}

/** One Event per condition whose status changed (or that is new), Warning when it is not True. */
export async function eventsForTransitions(
  sink: EventSink,
  obj: KubeObject,
  before: readonly Condition[] | undefined,
  after: readonly Condition[] | undefined,
  scope = '',
): Promise<void> {
  for (const c of after ?? []) {
    const prev = before?.find((p) => p.type === c.type);
    if (prev && prev.status === c.status) continue;
    const what = scope ? `${scope}: ` : '';
    await recordEvent(
      sink,
      obj,
      c.status === 'True' ? 'Normal' : 'Warning',
      c.reason ?? c.type,
      `${what}${c.type}=${c.status}: ${c.message ?? ''}`,
    );
  }
}

// ------------------------------------------------------------------------------------------------ invokers

/** A member (batch) or the inlined single target (BackupConfiguration/RestoreSession) with its defaulted ref. */
export type Member = InvokerMember<BackupConfigurationTemplateSpec | RestoreTargetSpec>;

export function aliasOf(m: Member): string | undefined {
  return m.member.target?.alias || undefined;
}

/** Workload kinds this operator injects into; a DeploymentConfig where OpenShift's API is absent is a missing target. */
const INJECTABLE_HERE: ReadonlySet<string> = new Set(WORKLOAD_KINDS);

/** Targets that are not workloads: backed up and restored by a Job (docs/api.md §12, §16.3). */
const JOB_TARGET_KINDS: ReadonlySet<string> = new Set(['PersistentVolumeClaim', 'AppBinding', 'Namespace']);

export type ExecutionModel = { model: 'workload' } | { model: 'job' } | { model: 'unsupported'; reason: string };

/** docs/api.md §12: sidecar / init-container model for workloads, a Job for volumes, databases and volumeClaimTemplates. */
export function executionModel(inv: Invoker, m: Member): ExecutionModel {
  const driver = inv.spec?.driver || 'Restic';
  const kind = m.ref.kind ?? '';
  if (driver !== 'Restic')
    return {
      model: 'unsupported',
      reason: `driver ${driver} (VolumeSnapshotter job) is not supported by this operator`,
    };
  if (INJECTABLE_HERE.has(kind)) return { model: 'workload' };
  if (JOB_TARGET_KINDS.has(kind)) return { model: 'job' };
  const templates = (m.member.target as { volumeClaimTemplates?: unknown[] } | undefined)?.volumeClaimTemplates;
  if (!m.ref.name && Array.isArray(templates) && templates.length > 0) return { model: 'job' };
  return {
    model: 'unsupported',
    reason: `target kind ${kind || '(none)'} (${m.ref.name ?? ''}) cannot be backed up or restored: use a workload, a PersistentVolumeClaim, an AppBinding or a Namespace (kubedump)`,
  };
}

export function invokerKey(kind: string, namespace: string | undefined, name: string | undefined): string {
  return `${kind}/${namespace ?? ''}/${name ?? ''}`;
}

export function parseKey(key: string): { kind: string; namespace: string; name: string } {
  const [kind = '', namespace = '', ...rest] = key.split('/');
  return { kind, namespace, name: rest.join('/') };
}

export function ownerRef(obj: KubeObject): {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: boolean;
  blockOwnerDeletion: boolean;
} {
  return {
    apiVersion: obj.apiVersion ?? '',
    kind: obj.kind ?? '',
    name: obj.metadata?.name ?? '',
    uid: obj.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function invokerApiVersion(kind: string): string {
  return kind in KINDS ? apiVersionOf(kind as StashKind) : `${GROUP}/v1beta1`;
}

// ------------------------------------------------------------------------------------------------ repository

export interface RepositoryCheck {
  conditions: Condition[];
  repository?: Repository;
  /** Repository and Secret exist and the usage policy allows this namespace. */
  ready: boolean;
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

export function selectorMatches(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!sel) return false;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels;
    const val = labels[e.key];
    const values = e.values ?? [];
    if (e.operator === 'In' && !(has && values.includes(val!))) return false;
    if (e.operator === 'NotIn' && has && values.includes(val!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** RepositoryFound, BackendSecretFound, ValidationPassed (usage policy) for an invoker. */
export async function checkRepository(
  kube: Kube,
  inv: Invoker,
  cached?: (namespace: string, name: string) => KubeObject | undefined,
  o: { refuseDeleting?: boolean } = {},
): Promise<RepositoryCheck> {
  const ns = inv.metadata?.namespace ?? '';
  const ref: { name?: string; namespace?: string } = inv.spec?.repository ?? {};
  const repoNs = ref.namespace || ns;
  const conditions: Condition[] = [];
  let repo: Repository | null;
  try {
    // `cached`: an informer's copy, so a Repository listing many invokers is not read again per reconcile.
    repo = ref.name
      ? ((cached?.(repoNs, ref.name) as (Repository & KubeObject) | undefined) ??
        (await kube.getOrNull<Repository & KubeObject>(apiVersionOf('Repository'), 'Repository', repoNs, ref.name)))
      : null;
    conditions.push(
      repo
        ? cond('RepositoryFound', 'True', `Repository ${repoNs}/${ref.name} exists.`)
        : cond(
            'RepositoryFound',
            'False',
            `Repository ${repoNs}/${ref.name ?? ''} does not exist; create it or fix spec.repository.`,
          ),
    );
  } catch (err) {
    conditions.push(
      cond('RepositoryFound', 'Unknown', `Could not read Repository ${repoNs}/${ref.name}: ${errorMessage(err)}`),
    );
    return { conditions, ready: false };
  }
  if (!repo) return { conditions, ready: false };
  // A Repository being deleted takes no new backup sessions (the invoker goes NotReady, so they are skipped): its
  // data may be wiped out once the running ones end (docs/api.md §3). Restores are not asked this: a running
  // restore re-checks its Repository on every pass and must finish, since the deletion waits for it.
  if (o.refuseDeleting && repo.metadata?.deletionTimestamp) {
    conditions[conditions.length - 1] = cond(
      'RepositoryFound',
      'False',
      `Repository ${repoNs}/${ref.name} is being deleted; no new backup or restore uses it.`,
    );
    return { conditions, ready: false };
  }
  const secretName = repo.spec?.backend?.storageSecretName;
  let secretOk = false;
  try {
    const secret = secretName ? await kube.getOrNull('v1', 'Secret', repoNs, secretName) : null;
    secretOk = secret !== null;
    conditions.push(
      secretOk
        ? cond('BackendSecretFound', 'True', `Backend Secret ${repoNs}/${secretName} exists.`)
        : cond(
            'BackendSecretFound',
            'False',
            secretName
              ? `Backend Secret ${repoNs}/${secretName} named by Repository ${ref.name} does not exist.`
              : `Repository ${repoNs}/${ref.name} has no spec.backend.storageSecretName.`,
          ),
    );
  } catch (err) {
    conditions.push(
      cond('BackendSecretFound', 'Unknown', `Could not read Secret ${repoNs}/${secretName}: ${errorMessage(err)}`),
    );
  }
  let allowed = repoNs === ns;
  let why = `Repository ${repoNs}/${ref.name} allows use only from its own namespace (usagePolicy.allowedNamespaces.from: Same).`;
  if (!allowed) {
    const an = repo.spec?.usagePolicy?.allowedNamespaces;
    if (an?.from === 'All') allowed = true;
    else if (an?.from === 'Selector') {
      const nsObj = await kube.getOrNull('v1', 'Namespace', undefined, ns);
      allowed = selectorMatches(an.selector as LabelSelector | undefined, nsObj?.metadata?.labels ?? {});
      why = `Namespace ${ns} does not match the usagePolicy selector of Repository ${repoNs}/${ref.name}.`;
    }
  }
  conditions.push(
    allowed
      ? cond('ValidationPassed', 'True', 'The invoker passed validation.')
      : cond('ValidationPassed', 'False', why),
  );
  return { conditions, repository: repo, ready: secretOk && allowed };
}

/** Adds or removes an invoker in `Repository.status.references` (docs/api.md §3). */
export async function setRepositoryReference(kube: Kube, inv: Invoker, present: boolean): Promise<void> {
  const ref: { name?: string; namespace?: string } = inv.spec?.repository ?? {};
  if (!ref.name) return;
  const repoNs = ref.namespace || inv.metadata?.namespace;
  const me = {
    apiGroup: GROUP,
    kind: inv.kind ?? '',
    namespace: inv.metadata?.namespace ?? '',
    name: inv.metadata?.name ?? '',
  };
  const same = (r: { kind?: string; namespace?: string; name?: string }) =>
    r.kind === me.kind && r.namespace === me.namespace && r.name === me.name;
  try {
    await kube.update<Repository & KubeObject>(
      apiVersionOf('Repository'),
      'Repository',
      repoNs,
      ref.name,
      (cur) => {
        const refs = [...(cur.status?.references ?? [])] as Array<typeof me>;
        const has = refs.some(same);
        if (has === present) return null;
        const next = present ? [...refs, me] : refs.filter((r) => !same(r));
        return { ...cur, status: { ...(cur.status ?? {}), references: next } };
      },
      { subresource: 'status' },
    );
  } catch (err) {
    // A Repository that is gone has no references to keep.
    if ((err as { status?: number }).status !== 404) throw err;
  }
}

// ------------------------------------------------------------------------------------------------ workloads

export interface Workload extends KubeObject {
  spec?: { replicas?: number; selector?: LabelSelector; template?: unknown };
  status?: { desiredNumberScheduled?: number };
}

/**
 * The workload's pod selector as a LabelSelector. OpenShift's DeploymentConfig states it as a plain label map
 * (`spec.selector: {app: web}`); read as a LabelSelector that map has no matchLabels and would match every pod.
 */
export function workloadSelector(w: Workload): LabelSelector | undefined {
  const sel = w.spec?.selector as (LabelSelector & Record<string, unknown>) | undefined;
  if (w.kind !== 'DeploymentConfig' || !sel) return sel;
  return {
    matchLabels: Object.fromEntries(Object.entries(sel).filter((e): e is [string, string] => typeof e[1] === 'string')),
  };
}

/** The target object, or null when it does not exist. Unknown kinds throw. */
export async function getTarget(kube: Kube, ref: TargetRef): Promise<KubeObject | null> {
  const apiVersion = servedApiVersion(ref);
  resourceFor(apiVersion, ref.kind ?? '');
  return await kube.getOrNull(apiVersion, ref.kind ?? '', ref.namespace, ref.name ?? '');
}

/** docs/api.md §12: how many hosts report for a workload target. */
export function totalHostsOf(w: Workload): number {
  if (w.kind === 'StatefulSet') return w.spec?.replicas ?? 1;
  if (w.kind === 'DaemonSet') return w.status?.desiredNumberScheduled ?? 0;
  return 1;
}

/** A host that can no longer report, and why. */
export interface MissingHost {
  host: string;
  reason: string;
  /** A Job's pod that has not ended but the scheduler cannot place yet, which may pass (a claim still binding). */
  unschedulable?: true;
}

/**
 * What the session loops keep of a Pod: enough to tell which workload or Job it belongs to, where it runs and
 * whether it is still alive. Pods are the most numerous objects a cluster has; their specs stay out of memory.
 */
export function slimPod(p: KubeObject): KubeObject {
  const m = p.metadata ?? {};
  const spec = (p as { spec?: { nodeName?: string } }).spec;
  const status = (p as { status?: { phase?: string } }).status;
  return {
    apiVersion: p.apiVersion,
    kind: p.kind,
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      ...(m.labels ? { labels: m.labels } : {}),
      ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
    },
    spec: spec?.nodeName ? { nodeName: spec.nodeName } : {},
    status: status?.phase ? { phase: status.phase } : {},
  } as KubeObject;
}

function podLive(p: KubeObject & { status?: { phase?: string } }): boolean {
  return !p.metadata?.deletionTimestamp && p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded';
}

/**
 * Hosts of a workload target that have not reported and have no live pod to report them (the pod is gone,
 * terminating, or terminated). `unknownHosts` counts hosts that are missing but whose names cannot be derived
 * (DaemonSet nodes without a pod).
 */
export async function missingHosts(
  kube: Kube,
  ref: TargetRef,
  alias: string | undefined,
  totalHosts: number,
  reported: ReadonlySet<string>,
  podsInNamespace?: readonly KubeObject[],
): Promise<{ missing: MissingHost[]; unknownHosts: number; expected: string[] }> {
  const kind = ref.kind ?? '';
  const w = await kube.getOrNull<Workload>(servedApiVersion(ref), kind, ref.namespace, ref.name ?? '');
  const where = `${kind} ${ref.namespace}/${ref.name}`;
  const hostFor = (suffix: string | number): string =>
    alias ? `${alias}-${suffix}` : typeof suffix === 'number' ? `host-${suffix}` : suffix;
  const expected: string[] =
    kind === 'StatefulSet'
      ? Array.from({ length: totalHosts }, (_, i) => hostFor(i))
      : kind === 'DaemonSet'
        ? []
        : [alias ?? 'host-0'];
  if (!w) {
    return {
      missing: expected
        .filter((h) => !reported.has(h))
        .map((host) => ({ host, reason: `${where} was deleted before host ${host} reported` })),
      unknownHosts: 0,
      expected,
    };
  }
  const podSelector = workloadSelector(w);
  const selector = Object.entries(podSelector?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  type Pod = KubeObject & { spec?: { nodeName?: string }; status?: { phase?: string } };
  const source = (podsInNamespace ??
    (await kube.list<Pod>('v1', 'Pod', ref.namespace, selector ? { labelSelector: selector } : {})).items) as Pod[];
  const pods = source
    .filter((p) => p.metadata?.namespace === ref.namespace)
    .filter((p) => selectorMatches(podSelector, p.metadata?.labels ?? {}));
  const live = pods.filter(podLive);
  if (kind === 'StatefulSet') {
    const missing: MissingHost[] = [];
    for (let i = 0; i < totalHosts; i++) {
      const host = hostFor(i);
      if (reported.has(host)) continue;
      if (!live.some((p) => p.metadata?.name === `${ref.name}-${i}`))
        missing.push({
          host,
          reason: `pod ${ref.name}-${i} of ${where} is gone or terminated before host ${host} reported`,
        });
    }
    return { missing, unknownHosts: 0, expected };
  }
  if (kind === 'DaemonSet') {
    const liveUnreported = live.filter((p) => !reported.has(hostFor(p.spec?.nodeName ?? '')));
    const outstanding = Math.max(0, totalHosts - reported.size);
    return {
      missing: [],
      unknownHosts: Math.max(0, outstanding - liveUnreported.length),
      expected: liveUnreported.map((p) => hostFor(p.spec?.nodeName ?? '')),
    };
  }
  const host = alias ?? 'host-0';
  if (reported.has(host) || live.length > 0) return { missing: [], unknownHosts: 0, expected };
  return {
    missing: [{ host, reason: `no live pod of ${where} is left to back up host ${host} (pods gone or terminated)` }],
    unknownHosts: 0,
    expected,
  };
}

/** Remembers since when a host has been seen without a pod, so a pod being replaced is not called crashed at once. */
export class MissingSince {
  readonly #since = new Map<string, number>();

  /** Milliseconds this host has been missing (0 the first time). */
  seen(key: string, now = Date.now()): number {
    const first = this.#since.get(key);
    if (first === undefined) {
      this.#since.set(key, now);
      return 0;
    }
    return now - first;
  }

  /** Forgets hosts under `prefix` that are no longer missing. */
  retain(prefix: string, stillMissing: ReadonlySet<string>): void {
    for (const k of this.#since.keys()) if (k.startsWith(prefix) && !stillMissing.has(k)) this.#since.delete(k);
  }

  clear(prefix: string): void {
    for (const k of this.#since.keys()) if (k.startsWith(prefix)) this.#since.delete(k);
  }
}

/** Adds the finalizer when missing; returns the stored object. */
export async function ensureFinalizer<T extends Invoker>(kube: Kube, inv: T): Promise<T> {
  if ((inv.metadata?.finalizers ?? []).includes(FINALIZER)) return inv;
  const next = await kube.update<T>(
    invokerApiVersion(inv.kind ?? ''),
    inv.kind ?? '',
    inv.metadata?.namespace,
    inv.metadata?.name ?? '',
    (cur) => {
      if (cur.metadata?.deletionTimestamp || (cur.metadata?.finalizers ?? []).includes(FINALIZER)) return null;
      cur.metadata!.finalizers = [...(cur.metadata?.finalizers ?? []), FINALIZER];
      return cur;
    },
  );
  return next ?? inv;
}

/** Drops our finalizer from an invoker, the last step of its deletion; an invoker already gone is fine. */
export async function removeFinalizer(kube: Kube, inv: Invoker, finalizer: string): Promise<void> {
  await kube
    .update<Invoker>(
      invokerApiVersion(inv.kind ?? ''),
      inv.kind ?? '',
      inv.metadata?.namespace,
      inv.metadata?.name ?? '',
      (cur) => {
        const f = cur.metadata?.finalizers ?? [];
        if (!f.includes(finalizer)) return null;
        cur.metadata!.finalizers = f.filter((x) => x !== finalizer);
        return cur;
      },
    )
    .catch((err: unknown) => {
      if ((err as { status?: number }).status !== 404) throw err;
    });
}

/** Labels of the objects an invoker makes (CronJob, Jobs, service accounts): the invoker's own, plus ours. */
export function invokerLabels(inv: Invoker, component: string): Record<string, string> {
  return { ...(inv.metadata?.labels ?? {}), [LABEL.component]: component, [LABEL.managedBy]: LABEL_VALUE.managedBy };
}

/** runtimeSettings.pod fields that go into the pod spec as they are. */
const POD_SETTINGS = [
  'nodeSelector',
  'nodeName',
  'affinity',
  'tolerations',
  'securityContext',
  'imagePullSecrets',
  'priorityClassName',
  'priority',
  'schedulerName',
  'runtimeClassName',
  'readinessGates',
  'enableServiceLinks',
  'automountServiceAccountToken',
  'topologySpreadConstraints',
] as const;

/** Copies the runtimeSettings.pod fields that a pod spec takes as they are (copies, so the invoker stays untouched). */
export function copyPodSettings(pod: Record<string, unknown>, podSpec: Record<string, unknown>): void {
  for (const k of POD_SETTINGS) if (pod[k] !== undefined) podSpec[k] = structuredClone(pod[k]);
}

/**
 * docs/api.md §11: the sidecar (ClusterRole stash-sidecar) and the restore init-container (stash-restore-init-container) run
 * under the workload's service account (`w`, just read); this binds the role to it in the workload's namespace.
 */
export async function ensureSidecarRbac(
  kube: Kube,
  inv: Invoker,
  ref: { kind?: string; name?: string; namespace?: string },
  w: KubeObject,
  role: 'stash-sidecar' | 'stash-restore-init-container' = 'stash-sidecar',
): Promise<void> {
  const sa =
    (w as { spec?: { template?: { spec?: { serviceAccountName?: string } } } }).spec?.template?.spec
      ?.serviceAccountName || 'default';
  await kube.apply({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: {
      name: `${role}-${(ref.kind ?? '').toLowerCase()}-${ref.name}`.slice(0, 253),
      namespace: ref.namespace,
      labels: invokerLabels(inv, role === 'stash-sidecar' ? LABEL_VALUE.componentBackup : LABEL_VALUE.componentRestore),
      ownerReferences: [{ ...ownerRef(w), controller: false, blockOwnerDeletion: false }],
    },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ref.namespace }],
  });
}
