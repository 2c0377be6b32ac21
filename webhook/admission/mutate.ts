// The pure injection decision (docs/api.md §13): given a workload and the invokers that target it, either a
// reason to leave it alone or a changed deep copy. The caller diffs the copy against the exact request object,
// so this function only has to state the desired result; it never returns a patch itself.
//
// The desired state is recomputed on every admission rather than only when the last-applied annotation changes:
// an update that dropped the sidecar (kubectl replace of the original manifest) gets it back.
import { ANNOTATION, CONTAINER, KINDS } from '../../shared/api/constants.ts';
import { isWorkloadKind, membersOf, sameTarget, workloadGroup } from '../../shared/api/target.ts';
import { agentParts, covers, injectionHash, isHelperVolume, type AgentContext, type InjectOptions } from './inject.ts';
import type {
  BackupInvoker,
  BackupMember,
  Obj,
  Repository,
  RestoreInvoker,
  RestoreMember,
  WorkloadRef,
} from './types.ts';
import { isRecord } from '../../shared/is-record.ts';

export interface Invokers {
  backup: BackupInvoker[];
  restore: RestoreInvoker[];
  repository(namespace: string, name: string): Repository | undefined;
}

export type MutateResult = { skip: string } | { mutated: Obj; actions: string[] };

/** The decision for a workload no invoker targets and that carries nothing of ours. */
export const UNTARGETED = 'no invoker targets this workload';

type AnyInvoker = BackupInvoker | RestoreInvoker;

/** The member of an invoker that targets the workload, when it is served by an injected agent (sidecar model). */
function memberFor<M extends BackupMember | RestoreMember>(inv: AnyInvoker, w: WorkloadRef): M | undefined {
  const spec = inv.spec;
  if (!isRecord(spec) || !isRecord(inv.metadata) || inv.metadata.deletionTimestamp) return undefined;
  const driver: string | undefined = spec.driver;
  if (driver && driver !== 'Restic') return undefined;
  for (const { member: m } of membersOf(inv)) {
    const member = m as M;
    if (!sameTarget(member.target?.ref, w, inv.metadata.namespace)) continue;
    if (member.task?.name) return undefined; // a Task means the job model: nothing to inject
    return member;
  }
  return undefined;
}

function newestFirst(a: AnyInvoker, b: AnyInvoker): number {
  const ta = a.metadata?.creationTimestamp ?? '';
  const tb = b.metadata?.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? 1 : -1;
  return (a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1;
}

const RESTORE_RANK: Record<string, number> = { Running: 3, Pending: 2, '': 2, Failed: 1 };

function restoreRank(inv: RestoreInvoker): number {
  return RESTORE_RANK[String(inv.status?.phase ?? '')] ?? 0;
}

function pickBackup(
  list: BackupInvoker[],
  w: WorkloadRef,
): { invoker: BackupInvoker; member: BackupMember } | undefined {
  const matches = list
    .filter((inv) => inv.kind === KINDS.BackupConfiguration.kind || inv.kind === KINDS.BackupBatch.kind)
    .map((invoker) => ({ invoker, member: memberFor<BackupMember>(invoker, w) }))
    .filter((x): x is { invoker: BackupInvoker; member: BackupMember } => x.member !== undefined);
  matches.sort((a, b) => newestFirst(a.invoker, b.invoker));
  return matches[0];
}

function pickRestore(
  list: RestoreInvoker[],
  w: WorkloadRef,
): { invoker: RestoreInvoker; member: RestoreMember } | undefined {
  const matches = list
    .filter((inv) => inv.kind === KINDS.RestoreSession.kind || inv.kind === KINDS.RestoreBatch.kind)
    .map((invoker) => ({ invoker, member: memberFor<RestoreMember>(invoker, w) }))
    .filter((x): x is { invoker: RestoreInvoker; member: RestoreMember } => x.member !== undefined);
  matches.sort((a, b) => restoreRank(b.invoker) - restoreRank(a.invoker) || newestFirst(a.invoker, b.invoker));
  return matches[0];
}

const DROPPED_INVOKER_ANNOTATIONS = new Set(['kubectl.kubernetes.io/last-applied-configuration']);

/** The invoker as recorded in the workload's last-applied annotation (docs/api.md §11): trimmed metadata, spec, no status. */
export function lastAppliedInvoker(inv: AnyInvoker): string {
  const m = inv.metadata ?? {};
  const metadata: Obj = { name: m.name, namespace: m.namespace, uid: m.uid, generation: m.generation };
  if (isRecord(m.labels)) metadata.labels = m.labels;
  if (isRecord(m.annotations)) {
    const kept = Object.fromEntries(Object.entries(m.annotations).filter(([k]) => !DROPPED_INVOKER_ANNOTATIONS.has(k)));
    if (Object.keys(kept).length > 0) metadata.annotations = kept;
  }
  if (Array.isArray(m.ownerReferences) && m.ownerReferences.length > 0) metadata.ownerReferences = m.ownerReferences;
  return JSON.stringify({ apiVersion: inv.apiVersion, kind: inv.kind, metadata, spec: inv.spec });
}

function ensureRecord(parent: Obj, key: string): Obj {
  const v = parent[key];
  if (isRecord(v)) return v;
  const fresh: Obj = {};
  parent[key] = fresh;
  return fresh;
}

function containerList(podSpec: Obj, key: 'containers' | 'initContainers'): Obj[] {
  const v = podSpec[key];
  return Array.isArray(v) ? (v as Obj[]) : [];
}

/** Adds or replaces a volume by name; with `keepDefaulted`, a stored volume that carries everything wanted stays. */
function upsertVolume(podSpec: Obj, volume: Obj, keepDefaulted: boolean): void {
  const volumes = Array.isArray(podSpec.volumes) ? (podSpec.volumes as Obj[]) : ((podSpec.volumes = []) as Obj[]);
  const i = volumes.findIndex((v) => isRecord(v) && v.name === volume.name);
  if (i === -1) volumes.push(volume);
  else if (!(keepDefaulted && covers(volumes[i], volume))) volumes[i] = volume;
}

function deleteAnnotation(meta: Obj, key: string): boolean {
  const ann = meta.annotations;
  if (!isRecord(ann) || !(key in ann)) return false;
  delete ann[key];
  if (Object.keys(ann).length === 0) delete meta.annotations;
  return true;
}

/** docs/api.md §13.2: DaemonSets and StatefulSets must roll, or the injected container never reaches running pods. */
function needsRollingUpdate(kind: string, spec: Obj): boolean {
  const s = spec.updateStrategy;
  if (kind === 'StatefulSet') return !isRecord(s) || s.type !== 'RollingUpdate';
  if (kind !== 'DaemonSet') return false;
  const ru = isRecord(s) ? s.rollingUpdate : undefined;
  const mu = isRecord(ru) ? ru.maxUnavailable : undefined;
  return !isRecord(s) || s.type !== 'RollingUpdate' || mu === undefined || mu === 0 || mu === '0' || mu === '0%';
}

function forceRollingUpdate(kind: string, spec: Obj): void {
  if (!needsRollingUpdate(kind, spec)) return;
  if (kind === 'StatefulSet') {
    spec.updateStrategy = { type: 'RollingUpdate' };
  } else {
    const s = spec.updateStrategy;
    const ru = isRecord(s) && isRecord(s.rollingUpdate) ? s.rollingUpdate : {};
    spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { ...ru, maxUnavailable: 1 } };
  }
}

interface Role {
  containerName: string;
  listKey: 'containers' | 'initContainers';
  invokerAnnotation: string;
  kindAnnotation: string;
  hashAnnotation: string;
}

const BACKUP: Role = {
  containerName: CONTAINER.sidecar,
  listKey: 'containers',
  invokerAnnotation: ANNOTATION.lastAppliedBackupInvoker,
  kindAnnotation: ANNOTATION.lastAppliedBackupInvokerKind,
  hashAnnotation: ANNOTATION.lastAppliedBackupInvokerHash,
};

const RESTORE: Role = {
  containerName: CONTAINER.initContainer,
  listKey: 'initContainers',
  invokerAnnotation: ANNOTATION.lastAppliedRestoreInvoker,
  kindAnnotation: ANNOTATION.lastAppliedRestoreInvokerKind,
  hashAnnotation: ANNOTATION.lastAppliedRestoreInvokerHash,
};

interface Target {
  meta: Obj;
  spec: Obj;
  templateMeta: Obj;
  podSpec: Obj;
}

/** What one role (backup or restore) wants in the pod template, derived from the invoker alone. */
interface Plan {
  role: Role;
  invokerKind: string;
  repository: Repository | undefined;
  container: Obj;
  volumes: Obj[];
  hash: string;
  lastApplied: string;
}

// Plans are memoized per options object, invoker object and workload: informers replace an object on every change,
// so object identity is a sound cache key, and the admission hot path (an UPDATE of an already-injected workload)
// then costs a few comparisons instead of rebuilding and hashing the container.
const planCache = new WeakMap<InjectOptions, WeakMap<object, Map<string, Plan>>>();

function plan(
  role: Role,
  invoker: AnyInvoker,
  member: BackupMember | RestoreMember,
  w: WorkloadRef,
  invokers: Invokers,
  opts: InjectOptions,
): Plan {
  const repoRef = invoker.spec?.repository;
  const repoName = isRecord(repoRef) && typeof repoRef.name === 'string' ? repoRef.name : '';
  const repoNs =
    (isRecord(repoRef) && typeof repoRef.namespace === 'string' && repoRef.namespace) ||
    invoker.metadata?.namespace ||
    w.namespace;
  const repository = repoName ? invokers.repository(repoNs, repoName) : undefined;

  let byInvoker = planCache.get(opts);
  if (!byInvoker) planCache.set(opts, (byInvoker = new WeakMap()));
  let byWorkload = byInvoker.get(invoker);
  if (!byWorkload) byInvoker.set(invoker, (byWorkload = new Map()));
  const key = `${role.containerName}|${w.apiVersion}|${w.kind}|${w.namespace}|${w.name}`;
  const hit = byWorkload.get(key);
  if (hit && hit.repository === repository) return hit;

  const ctx: AgentContext = {
    invokerKind: invoker.kind ?? '',
    invokerName: invoker.metadata?.name ?? '',
    workload: w,
    member,
    repository,
  };
  const { container, volumes } = agentParts(role === BACKUP ? 'backup' : 'restore', ctx, opts);
  const p: Plan = {
    role,
    invokerKind: invoker.kind ?? '',
    repository,
    container,
    volumes,
    // A restore hashes its invoker's uid too: a RestoreSession deleted and made again under the same name (same
    // spec) must roll the pods, or their stash-init, already done for the old one, never takes the new one up.
    hash: injectionHash(
      role === RESTORE ? { container, volumes, invoker: invoker.metadata?.uid } : { container, volumes },
    ),
    lastApplied: lastAppliedInvoker(invoker),
  };
  byWorkload.set(key, p);
  return p;
}

function annotation(meta: unknown, key: string): unknown {
  return isRecord(meta) && isRecord(meta.annotations) ? meta.annotations[key] : undefined;
}

/** Read-only: does the workload already carry exactly what `p` wants (apiserver defaults allowed)? */
function planApplied(meta: Obj, templateMeta: unknown, podSpec: Obj, p: Plan): boolean {
  const role = p.role;
  if (annotation(templateMeta, role.hashAnnotation) !== p.hash) return false;
  if (
    annotation(meta, role.invokerAnnotation) !== p.lastApplied ||
    annotation(meta, role.kindAnnotation) !== p.invokerKind
  )
    return false;
  const list = containerList(podSpec, role.listKey);
  const at = list.findIndex((c) => isRecord(c) && c.name === role.containerName);
  if (at === -1 || (role === RESTORE && at !== 0) || !covers(list[at], p.container)) return false;
  if (list.some((c, i) => i !== at && isRecord(c) && c.name === role.containerName)) return false;
  const volumes = Array.isArray(podSpec.volumes) ? podSpec.volumes : [];
  return p.volumes.every((v) => volumes.some((have) => isRecord(have) && have.name === v.name && covers(have, v)));
}

/** Read-only: nothing of this role's is present. */
function roleAbsent(meta: Obj, templateMeta: unknown, podSpec: Obj, role: Role, opts: InjectOptions): boolean {
  return (
    annotation(meta, role.invokerAnnotation) === undefined &&
    annotation(meta, role.kindAnnotation) === undefined &&
    annotation(templateMeta, role.hashAnnotation) === undefined &&
    !containerList(podSpec, role.listKey).some(
      (c) => isRecord(c) && c.name === role.containerName && c.image === opts.image,
    )
  );
}

function inject(t: Target, p: Plan): void {
  const role = p.role;
  const templateAnn = isRecord(t.templateMeta.annotations) ? t.templateMeta.annotations : undefined;
  const list = containerList(t.podSpec, role.listKey);
  const at = list.findIndex((c) => isRecord(c) && c.name === role.containerName);
  // Same hash means the invoker side did not change, so what differs from our build is apiserver defaulting.
  const sameHash = templateAnn?.[role.hashAnnotation] === p.hash;
  const unchanged = at !== -1 && sameHash && covers(list[at], p.container);
  // Plans are cached and shared by later admissions: the copy gets its own container and volumes.
  const wanted = unchanged ? list[at]! : structuredClone(p.container);
  const rest = list.filter((c) => !(isRecord(c) && c.name === role.containerName));
  if (role === RESTORE) {
    // Restore must run before anything else in the pod, so `stash-init` is always first.
    t.podSpec.initContainers = [wanted, ...rest];
  } else if (at === -1) {
    t.podSpec.containers = [...list, wanted];
  } else {
    list[at] = wanted;
    t.podSpec.containers = list.filter((c, i) => i === at || !(isRecord(c) && c.name === role.containerName));
  }
  for (const v of p.volumes) upsertVolume(t.podSpec, structuredClone(v), sameHash);

  ensureRecord(t.templateMeta, 'annotations')[role.hashAnnotation] = p.hash;
  const ann = ensureRecord(t.meta, 'annotations');
  ann[role.invokerAnnotation] = p.lastApplied;
  ann[role.kindAnnotation] = p.invokerKind;
}

/** docs/api.md §13.4: true when something of ours was there to remove. */
function remove(t: Target, role: Role, opts: InjectOptions): boolean {
  const ann = isRecord(t.meta.annotations) ? t.meta.annotations : {};
  const templateAnn = isRecord(t.templateMeta.annotations) ? t.templateMeta.annotations : {};
  const list = containerList(t.podSpec, role.listKey);
  const ours =
    role.invokerAnnotation in ann ||
    role.kindAnnotation in ann ||
    role.hashAnnotation in templateAnn ||
    list.some((c) => isRecord(c) && c.name === role.containerName && c.image === opts.image);
  if (!ours) return false;
  const kept = list.filter((c) => !(isRecord(c) && c.name === role.containerName));
  if (kept.length !== list.length) {
    if (kept.length === 0 && role.listKey === 'initContainers') delete t.podSpec.initContainers;
    else t.podSpec[role.listKey] = kept;
  }
  deleteAnnotation(t.templateMeta, role.hashAnnotation);
  deleteAnnotation(t.meta, role.invokerAnnotation);
  deleteAnnotation(t.meta, role.kindAnnotation);
  return true;
}

function agentMounts(podSpec: Obj): Set<string> {
  const used = new Set<string>();
  for (const key of ['containers', 'initContainers'] as const) {
    for (const c of containerList(podSpec, key)) {
      if (!isRecord(c) || (c.name !== CONTAINER.sidecar && c.name !== CONTAINER.initContainer)) continue;
      for (const m of Array.isArray(c.volumeMounts) ? c.volumeMounts : [])
        if (isRecord(m) && typeof m.name === 'string') used.add(m.name);
    }
  }
  return used;
}

/** Read-only: every helper volume present is still mounted by a stash container. */
function helperVolumesInUse(podSpec: Obj): boolean {
  const volumes = podSpec.volumes;
  if (!Array.isArray(volumes)) return true;
  // A plain scan first: nearly every admission has no helper volume, and then nothing is allocated.
  let used: Set<string> | undefined;
  for (let i = 0; i < volumes.length; i++) {
    const v: unknown = volumes[i];
    if (!isRecord(v) || !isHelperVolume(v.name)) continue;
    used ??= agentMounts(podSpec);
    if (!used.has(String(v.name))) return false;
  }
  return true;
}

/** Drops helper volumes no stash container mounts any more. */
function pruneHelperVolumes(podSpec: Obj): void {
  if (!Array.isArray(podSpec.volumes)) return;
  const used = agentMounts(podSpec);
  const volumes = podSpec.volumes as unknown[];
  const kept = volumes.filter((v) => !(isRecord(v) && isHelperVolume(v.name) && !used.has(String(v.name))));
  if (kept.length !== volumes.length) {
    if (kept.length === 0) delete podSpec.volumes;
    else podSpec.volumes = kept;
  }
}

/**
 * Decides what a Deployment/StatefulSet/DaemonSet (or DeploymentConfig) should look like. Pure: the input is not
 * modified; `mutated` is a deep copy. Restore is handled before backup, as upstream does. `request.namespace` is
 * the admission request's namespace, used when the object does not carry one.
 */
export function mutateWorkload(
  workload: unknown,
  invokers: Invokers,
  opts: InjectOptions,
  request: { namespace?: string } = {},
): MutateResult {
  if (!isRecord(workload)) return { skip: 'object is not a JSON object' };
  const kind = typeof workload.kind === 'string' ? workload.kind : '';
  if (!isWorkloadKind(kind)) return { skip: `kind ${kind || '(none)'} is not an injectable workload` };
  const meta = workload.metadata;
  if (!isRecord(meta)) return { skip: 'object has no metadata' };
  if (meta.deletionTimestamp) return { skip: 'object is being deleted' };
  if (typeof meta.name !== 'string' || meta.name === '') return { skip: 'object has no name yet' };
  const spec = workload.spec;
  if (!isRecord(spec) || !isRecord(spec.template) || !isRecord(spec.template.spec))
    return { skip: 'object has no pod template' };

  const w: WorkloadRef = {
    apiVersion: typeof workload.apiVersion === 'string' ? workload.apiVersion : `${workloadGroup(kind)}/v1`,
    kind,
    name: meta.name,
    // The apiserver fills the namespace in before admission; the request's is the fallback for objects without one.
    namespace: typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : (request.namespace ?? ''),
  };
  // Most workloads no invoker targets: no candidate lists to build and sort for them.
  const restore = invokers.restore.length > 0 ? pickRestore(invokers.restore, w) : undefined;
  const backup = invokers.backup.length > 0 ? pickBackup(invokers.backup, w) : undefined;
  const template = spec.template;
  const podSpec0 = template.spec as Obj;
  const restorePlan = restore ? plan(RESTORE, restore.invoker, restore.member, w, invokers, opts) : undefined;
  const backupPlan = backup ? plan(BACKUP, backup.invoker, backup.member, w, invokers, opts) : undefined;

  // Most admissions change nothing (untargeted workloads, updates of injected ones): decide that without copying.
  const restoreOk = restorePlan
    ? planApplied(meta, template.metadata, podSpec0, restorePlan)
    : roleAbsent(meta, template.metadata, podSpec0, RESTORE, opts);
  const backupOk = backupPlan
    ? planApplied(meta, template.metadata, podSpec0, backupPlan)
    : roleAbsent(meta, template.metadata, podSpec0, BACKUP, opts);
  if (
    restoreOk &&
    backupOk &&
    helperVolumesInUse(podSpec0) &&
    (!(restorePlan || backupPlan) || !needsRollingUpdate(kind, spec))
  ) {
    return { skip: restorePlan || backupPlan ? 'already up to date' : UNTARGETED };
  }

  const copy = structuredClone(workload);
  const cspec = copy.spec as Obj;
  const ctemplate = cspec.template as Obj;
  const t: Target = {
    meta: copy.metadata as Obj,
    spec: cspec,
    templateMeta: ensureRecord(ctemplate, 'metadata'),
    podSpec: ctemplate.spec as Obj,
  };
  const actions: string[] = [];

  if (restorePlan && restore) {
    inject(t, restorePlan);
    actions.push(`restore:${restore.invoker.kind}/${restore.invoker.metadata?.name}`);
  } else if (remove(t, RESTORE, opts)) {
    actions.push('restore:removed');
  }
  if (backupPlan && backup) {
    inject(t, backupPlan);
    actions.push(`backup:${backup.invoker.kind}/${backup.invoker.metadata?.name}`);
  } else if (remove(t, BACKUP, opts)) {
    actions.push('backup:removed');
  }
  pruneHelperVolumes(t.podSpec);
  if (actions.length > 0) forceRollingUpdate(kind, cspec);
  // An empty template metadata we created is noise in the patch.
  if (isRecord(ctemplate.metadata) && Object.keys(ctemplate.metadata).length === 0 && !isRecord(template.metadata))
    delete ctemplate.metadata;
  if (actions.length === 0) return { skip: 'nothing of ours to add or remove' };
  return { mutated: copy, actions };
}

/**
 * docs/api.md §2.3: RestoreSession's deprecated top-level `spec.rules` belong in `spec.target.rules`. Returns the migrated copy,
 * or undefined when there is nothing to move.
 */
export function migrateRestoreRules(obj: unknown): Obj | undefined {
  if (!isRecord(obj) || !isRecord(obj.spec)) return undefined;
  const rules = obj.spec.rules;
  if (!Array.isArray(rules) || rules.length === 0) return undefined;
  const target = obj.spec.target;
  if (isRecord(target) && Array.isArray(target.rules) && target.rules.length > 0) return undefined;
  const copy = structuredClone(obj);
  const spec = copy.spec as Obj;
  const t = isRecord(spec.target) ? spec.target : ((spec.target = {}) as Obj);
  t.rules = spec.rules;
  delete spec.rules;
  return copy;
}
