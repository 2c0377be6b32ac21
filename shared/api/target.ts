// What a target reference names (docs/api.md §2.1), decided once for every process: the operator's informer
// index and control loops, admission (injection, duplicate-member check) and the agent finding its member all
// ask `sameTarget`/`targetKey`. Also the one list of workload kinds and the one way to list an invoker's members.
// Light on purpose (types only from the schema): the agent imports it.
import { APPBINDING_API_VERSION, KINDS, LABEL } from './constants.ts';
import { isRecord } from '../is-record.ts';
import { withPvcDefaults } from './pvc-target.ts';
import type {
  BackupBatch,
  BackupConfigurationTemplateSpec,
  BackupInvoker,
  Invoker,
  RestoreBatch,
  RestoreInvoker,
  RestoreTargetSpec,
  TargetRef,
} from './types.ts';

/**
 * The target kinds Stash knows, each with the API groups a ref may spell it with: the first is the group the
 * apiserver serves it from today; the others are older groups of the same resource (`extensions/v1beta1`
 * Deployments and DaemonSets), which name the same object. The version is never compared: `apps/v1beta2` and
 * `apps/v1` name the same StatefulSet.
 */
const TARGET_GROUPS = {
  Deployment: ['apps', 'extensions'],
  StatefulSet: ['apps'],
  DaemonSet: ['apps', 'extensions'],
  DeploymentConfig: ['apps.openshift.io'],
  PersistentVolumeClaim: [''],
  AppBinding: ['appcatalog.appscode.com'],
} as const satisfies Record<string, readonly string[]>;

/** Workload kinds whose pods get the agent injected (docs/api.md §12, §13). */
export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'DeploymentConfig'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];
/** The workload kinds a plain Kubernetes cluster serves (DeploymentConfig needs OpenShift). */
export const KUBERNETES_WORKLOAD_KINDS = WORKLOAD_KINDS.filter((k) => k !== 'DeploymentConfig');

const SERVED_VERSION: Readonly<Record<keyof typeof TARGET_GROUPS, string>> = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  DeploymentConfig: 'apps.openshift.io/v1',
  PersistentVolumeClaim: 'v1',
  AppBinding: APPBINDING_API_VERSION,
};

function known(kind: string | undefined): kind is keyof typeof TARGET_GROUPS {
  return kind !== undefined && Object.hasOwn(TARGET_GROUPS, kind);
}

export function isWorkloadKind(kind: string | undefined): kind is WorkloadKind {
  return (WORKLOAD_KINDS as readonly string[]).includes(kind ?? '');
}

/** The API group a workload kind is served from today; undefined for a kind that is not a workload. */
export function workloadGroup(kind: string | undefined): string | undefined {
  return isWorkloadKind(kind) ? TARGET_GROUPS[kind][0] : undefined;
}

/** The group of an apiVersion: `apps/v1` → `apps`, `v1` → `` (core). */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** The groups a ref of this kind may name (empty for kinds Stash does not know). */
export function acceptedGroups(kind: string | undefined): readonly string[] {
  return known(kind) ? TARGET_GROUPS[kind] : [];
}

/**
 * Why a ref's apiVersion cannot name its kind, or undefined. Only known kinds are judged: a Task-driven target
 * of another kind is the Task's business.
 */
export function apiVersionProblem(ref: Partial<Pick<TargetRef, 'apiVersion' | 'kind'>>): string | undefined {
  if (!ref.apiVersion || !known(ref.kind)) return undefined;
  const groups = TARGET_GROUPS[ref.kind];
  if ((groups as readonly string[]).includes(groupOf(ref.apiVersion))) return undefined;
  const spelled = groups.map((g) => (g === '' ? 'the core group (v1)' : g)).join(' or ');
  return `a ${ref.kind} is served by ${spelled}, not by ${ref.apiVersion}`;
}

/**
 * The group that identifies the ref's target. For a known kind: its served group when the ref leaves apiVersion
 * out or spells an accepted group, else the spelled group (which then names nothing Stash serves). For other
 * kinds apiVersion is not part of the identity.
 */
function identityGroup(ref: Partial<Pick<TargetRef, 'apiVersion' | 'kind'>>): string {
  if (!known(ref.kind)) return '';
  const groups: readonly string[] = TARGET_GROUPS[ref.kind];
  if (!ref.apiVersion) return groups[0]!;
  const g = groupOf(ref.apiVersion);
  return groups.includes(g) ? groups[0]! : `${g}?`;
}

/** The identity of a target as a map key: group, kind, namespace (defaulted) and name. */
export function targetKey(ref: Partial<TargetRef> | undefined, defaultNamespace = ''): string {
  const r = ref ?? {};
  return [identityGroup(r), r.kind ?? '', r.namespace || defaultNamespace, r.name ?? ''].join('/');
}

/**
 * Does `ref` (written in an invoker of `defaultNamespace`) name `other`, the identity of an object (its
 * namespace as the object has it)? Kind, name and namespace agree, and the group agrees as `targetKey` reads it.
 */
export function sameTarget(
  ref: Partial<TargetRef> | undefined,
  other: Partial<TargetRef> | undefined,
  defaultNamespace = '',
): boolean {
  if (!ref?.kind || !ref.name || !other?.kind || !other.name) return false;
  return targetKey(ref, defaultNamespace) === targetKey(other);
}

/** The apiVersion to read a ref's target at: the served one for a known kind, else what the ref says. */
export function servedApiVersion(ref: Partial<Pick<TargetRef, 'apiVersion' | 'kind'>>): string {
  if (known(ref.kind) && apiVersionProblem(ref) === undefined) return SERVED_VERSION[ref.kind];
  return ref.apiVersion ?? '';
}

// ------------------------------------------------------------------------------------------------ invokers

export function isBatchKind(kind: string | undefined): boolean {
  return kind === KINDS.BackupBatch.kind || kind === KINDS.RestoreBatch.kind;
}

/** A BackupBatch or RestoreBatch (by kind), narrowing the type for its batch-only fields. */
export function isBatch(inv: BackupInvoker): inv is BackupBatch;
export function isBatch(inv: RestoreInvoker): inv is RestoreBatch;
export function isBatch(inv: Invoker): inv is BackupBatch | RestoreBatch;
export function isBatch(inv: Invoker): boolean {
  return isBatchKind(inv.kind);
}

/** One target of an invoker: a batch member, or the single-target invoker's own spec. */
export interface InvokerMember<M> {
  index: number;
  member: M;
  /** The member's ref with the namespace defaulted to the invoker's; kind and name empty when it has none. */
  ref: TargetRef;
}

/**
 * An invoker's members in order: `spec.members` of a batch, else the spec itself (BackupConfiguration and
 * RestoreSession inline one member's fields). A PVC target gets its mount defaults (docs/api.md §12).
 */
export function membersOf(inv: BackupInvoker): Array<InvokerMember<BackupConfigurationTemplateSpec>>;
export function membersOf(inv: RestoreInvoker): Array<InvokerMember<RestoreTargetSpec>>;
export function membersOf(inv: Invoker): Array<InvokerMember<BackupConfigurationTemplateSpec | RestoreTargetSpec>>;
export function membersOf(inv: Invoker): Array<InvokerMember<BackupConfigurationTemplateSpec | RestoreTargetSpec>> {
  type M = BackupConfigurationTemplateSpec | RestoreTargetSpec;
  const spec: unknown = inv.spec;
  if (!isRecord(spec)) return [];
  // Informer copies passed the apiserver's schema; admission also sees objects that did not, hence the checks.
  const list = (isBatchKind(inv.kind) ? (Array.isArray(spec.members) ? spec.members : []) : [spec]) as unknown[];
  return list.flatMap((m, index) => {
    if (!isRecord(m)) return [];
    const member = m as M;
    const given: unknown = member.target?.ref;
    const ref: TargetRef = isRecord(given) ? { ...(given as TargetRef) } : { kind: '', name: '' };
    if (!ref.namespace) ref.namespace = inv.metadata?.namespace;
    const withDefaults = member.target ? { ...member, target: withPvcDefaults(member.target) } : member;
    return [{ index, member: withDefaults as M, ref }];
  });
}

interface SessionShape {
  metadata?: { labels?: Record<string, string> | undefined };
  spec?: { invoker?: { kind?: string; name?: string } | undefined };
}

/**
 * The invoker a BackupSession runs: `spec.invoker` (kind + name); without it the invoker-type/name labels, or
 * upstream's older `backup-configuration` label (its guides still create sessions with it).
 */
export function sessionInvoker(s: SessionShape): { kind: string; name: string } | undefined {
  const inv = s.spec?.invoker;
  if (inv?.kind && inv.name) return { kind: inv.kind, name: inv.name };
  const l = s.metadata?.labels ?? {};
  const kind = l[LABEL.invokerType];
  const name = l[LABEL.invokerName];
  if (kind && name) return { kind, name };
  const legacy = l[LABEL.legacyBackupConfiguration];
  return legacy ? { kind: KINDS.BackupConfiguration.kind, name: legacy } : undefined;
}
