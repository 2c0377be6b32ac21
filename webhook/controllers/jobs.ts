// Job-model executors (docs/api.md §12, §14.3 step 6, §16.1 step 6, §16.3): volumes (PersistentVolumeClaim),
// databases (AppBinding) and restores into new PVCs (volumeClaimTemplates) have no pod of their own to carry a
// sidecar, so the operator runs the agent in a Job per target (per ordinal for volumeClaimTemplates). The Job
// runs the same agent code as the sidecar/init-container with one more flag that makes it do one session's
// share and exit; its exit code is the outcome, its per-host status is written like any other host's.
import { createHash } from 'node:crypto';
import { CONTAINER, LABEL, LABEL_VALUE, apiVersionOf } from '../../shared/api/index.ts';
import { isConflict, type Kube, type KubeObject } from '../../shared/kube/client.ts';
import { agentParts, type InjectOptions } from '../admission/inject.ts';
import type { BackupMember, Obj, Repository, RestoreMember } from '../admission/types.ts';
import { restoreHostForTemplates } from '../../shared/restic/host.ts';
import { copyPodSettings, invokerLabels, ownerRef, type Member, type MissingHost } from './common.ts';
import type { Invoker } from '../../shared/api/types.ts';

/** How long a host whose Job ended may still take to show its stats (the agent writes them before it exits). */
export const JOB_REPORT_GRACE_MS = 3_000;
const ORDINAL_PLACEHOLDER = '${POD_ORDINAL}';

/** A DNS label (Job names end up in the pods' `job-name` label): readable prefix, hash when too long. */
export function jobName(parts: string[]): string {
  const full = parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-');
  if (full.length <= 63) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${full.slice(0, 54).replace(/-+$/, '')}-${hash}`;
}

export function backupJobName(session: string, index: number): string {
  return jobName(['stash-backup', session, String(index)]);
}

function restoreJobName(invoker: string, index: number, ordinal?: number): string {
  return jobName(['stash-restore', invoker, String(index), ...(ordinal === undefined ? [] : [String(ordinal)])]);
}

/** A kubedump member: its target is the Namespace whose manifests it dumps (agent/kubedump-member.ts). */
function isManifestMember(member: Record<string, unknown>): boolean {
  return (member.target as { ref?: { kind?: string } } | undefined)?.ref?.kind === 'Namespace';
}

/**
 * The service account a job-model agent runs under: the member's (or invoker's) choice, else one per invoker.
 * A kubedump member gets one of its own, because it also holds the broad read (backup) or create (restore)
 * rights of stash-kubedump-<purpose> in the namespace, which the database and volume Jobs need not have.
 */
export function jobServiceAccount(
  inv: Invoker,
  member: Record<string, unknown>,
  purpose: 'backup' | 'restore',
): { name: string; ours: boolean; kubedump: boolean } {
  const pick = (rs: unknown) =>
    (rs as { pod?: { serviceAccountName?: string } } | undefined)?.pod?.serviceAccountName || undefined;
  const chosen =
    pick(member.runtimeSettings) ?? pick((inv.spec as { runtimeSettings?: unknown } | undefined)?.runtimeSettings);
  const kubedump = isManifestMember(member);
  if (chosen) return { name: chosen, ours: false, kubedump };
  return {
    name: jobName([kubedump ? `stash-kubedump-${purpose}` : `stash-${purpose}-job`, inv.metadata?.name ?? '']),
    ours: true,
    kubedump,
  };
}

interface PvcTemplate {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}

/**
 * docs/api.md §16.3: PVC name for an ordinal and its volume name. `${POD_ORDINAL}` is substituted; a plain name gets
 * `-<ordinal>` only when `replicas` asks for ordinals — without it (a Deployment's clone, as in the clone-PVC
 * guide) the claim is named exactly as the template, so the recovered workload can mount it by that name.
 */
export function claimForOrdinal(
  template: PvcTemplate,
  ordinal: number,
  replicasSet: boolean,
): { claim: string; volume: string } {
  const raw = template.metadata?.name ?? '';
  const claim = raw.includes(ORDINAL_PLACEHOLDER)
    ? raw.split(ORDINAL_PLACEHOLDER).join(String(ordinal))
    : replicasSet
      ? `${raw}-${ordinal}`
      : raw;
  const suffix = `-${ordinal}`;
  return { claim, volume: claim.endsWith(suffix) ? claim.slice(0, -suffix.length) : claim };
}

// ------------------------------------------------------------------------------------------------ placement

interface PodObj extends KubeObject {
  spec?: { nodeName?: string; volumes?: Array<{ persistentVolumeClaim?: { claimName?: string } }> };
  status?: { phase?: string };
}

/** Where a job-model pod of a PVC target must run (docs/api.md §12.1): a node, a reason it cannot, or anywhere. */
export type Placement = { node: string; why: string } | { fail: string } | undefined;

/**
 * docs/api.md §12.1: a ReadWriteOnce claim mounted by running pods can only be mounted again on their node, so the Job
 * goes there; on several nodes, or ReadWriteOncePod, or a node that takes no new pods, no pod of ours could ever
 * start, and the host fails at once with the reason. Pods of our own Jobs do not count.
 */
export function placementFor(
  claim: { name: string; accessModes: readonly string[] },
  pods: readonly PodObj[],
  nodes: ReadonlyMap<string, { unschedulable?: boolean }>,
): Placement {
  const rwo = claim.accessModes.includes('ReadWriteOnce');
  const rwop = claim.accessModes.includes('ReadWriteOncePod');
  if (!rwo && !rwop) return undefined;
  const users = pods.filter(
    (p) =>
      p.spec?.nodeName &&
      !p.metadata?.deletionTimestamp &&
      !['Succeeded', 'Failed'].includes(p.status?.phase ?? '') &&
      p.metadata?.labels?.[LABEL.managedBy] !== LABEL_VALUE.managedBy &&
      (p.spec.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === claim.name),
  );
  if (users.length === 0) return undefined;
  const names = users.map((p) => p.metadata?.name).join(', ');
  if (rwop && !rwo)
    return { fail: `claim ${claim.name} is ReadWriteOncePod and pod ${names} uses it: no other pod can mount it` };
  const onNodes = [...new Set(users.map((p) => p.spec!.nodeName!))].sort();
  if (onNodes.length > 1)
    return {
      fail: `claim ${claim.name} (ReadWriteOnce) is mounted on several nodes (${onNodes.join(', ')}, by pods ${names}): no one node can mount it for the backup`,
    };
  const node = onNodes[0]!;
  const n = nodes.get(node);
  if (!n) return { fail: `claim ${claim.name} (ReadWriteOnce) is mounted on node ${node}, which no longer exists` };
  if (n.unschedulable)
    return {
      fail: `claim ${claim.name} (ReadWriteOnce) is mounted on node ${node}, which is cordoned (unschedulable)`,
    };
  return { node, why: `on node ${node}, where pod ${names} mounts the ReadWriteOnce claim ${claim.name}` };
}

/** Reads what placementFor needs for a PVC target; undefined for other targets. */
export async function placeJob(kube: Kube, m: Member): Promise<Placement> {
  if (m.ref.kind !== 'PersistentVolumeClaim' || !m.ref.name) return undefined;
  const ns = m.ref.namespace ?? '';
  const pvc = await kube.getOrNull<KubeObject & { spec?: { accessModes?: string[] } }>(
    'v1',
    'PersistentVolumeClaim',
    ns,
    m.ref.name,
  );
  if (!pvc) return undefined;
  const pods = (await kube.list<PodObj>('v1', 'Pod', ns)).items;
  const nodes = new Map<string, { unschedulable?: boolean }>();
  for (const n of (await kube.list<KubeObject & { spec?: { unschedulable?: boolean } }>('v1', 'Node')).items)
    nodes.set(n.metadata?.name ?? '', { unschedulable: n.spec?.unschedulable === true });
  return placementFor({ name: m.ref.name, accessModes: pvc.spec?.accessModes ?? [] }, pods, nodes);
}

/** Adds "this node only" to every required node-affinity term (terms are ORed, so each must carry it). */
export function pinToNode(podSpec: Obj, node: string): void {
  const field = { key: 'metadata.name', operator: 'In', values: [node] };
  const affinity = (podSpec.affinity ?? {}) as Obj;
  const nodeAffinity = (affinity.nodeAffinity ?? {}) as Obj;
  const required = (nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution ?? {}) as {
    nodeSelectorTerms?: Array<{ matchFields?: unknown[] }>;
  };
  const terms = required.nodeSelectorTerms?.length ? required.nodeSelectorTerms : [{}];
  podSpec.affinity = {
    ...affinity,
    nodeAffinity: {
      ...nodeAffinity,
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: terms.map((t) => ({ ...t, matchFields: [...(t.matchFields ?? []), field] })),
      },
    },
  };
}

interface JobInput {
  purpose: 'backup' | 'restore';
  inv: Invoker;
  m: Member;
  name: string;
  owner: KubeObject;
  repository: Repository | undefined;
  inject: InjectOptions;
  serviceAccountName: string;
  /** Extra agent flags: --backupsession, --restore-model=job, --member-index. */
  extraArgs: string[];
  /** Pod volumes beyond the helper volumes (the target's data). */
  dataVolumes: Obj[];
  ordinal?: number;
  /** The node the pod must run on (a ReadWriteOnce claim in use there). */
  node?: string;
}

/** The Job object; pure so the shape is unit-tested. */
export function buildJob(j: JobInput): KubeObject {
  const member = j.m.member as unknown as BackupMember & RestoreMember;
  const ref = j.m.ref;
  const workload = {
    apiVersion: ref.apiVersion ?? '',
    kind: ref.kind ?? '',
    name: ref.name ?? '',
    namespace: ref.namespace ?? j.inv.metadata?.namespace ?? '',
  };
  const ctx = {
    invokerKind: j.inv.kind ?? '',
    invokerName: j.inv.metadata?.name ?? '',
    workload,
    member,
    repository: j.repository,
    podSecurityContext: (member.runtimeSettings as { pod?: { securityContext?: Obj } } | undefined)?.pod
      ?.securityContext,
  };
  const { container, volumes } = agentParts(j.purpose, ctx, j.inject);
  // One container whatever the purpose; the extra flags make the agent do one session's share and exit.
  container.name = CONTAINER.sidecar;
  container.args = [...(container.args as string[]), ...j.extraArgs];
  if (j.ordinal !== undefined) (container.env as Obj[]).push({ name: 'POD_ORDINAL', value: String(j.ordinal) });
  const rs = (member.runtimeSettings ?? {}) as { pod?: Record<string, unknown> };
  const pod = rs.pod ?? {};
  const labels = {
    ...invokerLabels(j.inv, j.purpose === 'backup' ? LABEL_VALUE.componentBackup : LABEL_VALUE.componentRestore),
    [LABEL.invokerType]: j.inv.kind ?? '',
    [LABEL.invokerName]: j.inv.metadata?.name ?? '',
    ...(ref.kind ? { [LABEL.targetKind]: ref.kind } : {}),
    ...(ref.name ? { [LABEL.targetName]: ref.name, [LABEL.targetNamespace]: workload.namespace } : {}),
  };
  const podSpec: Obj = {
    restartPolicy: 'Never',
    serviceAccountName: j.serviceAccountName,
    containers: [container],
    volumes: [...volumes, ...j.dataVolumes],
  };
  copyPodSettings(pod, podSpec);
  if (j.node) pinToNode(podSpec, j.node);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: j.name, namespace: j.inv.metadata?.namespace, labels, ownerReferences: [ownerRef(j.owner)] },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: {
          labels: { ...labels, ...((pod.podLabels as Record<string, string> | undefined) ?? {}) },
          ...(pod.podAnnotations ? { annotations: structuredClone(pod.podAnnotations) } : {}),
        },
        spec: podSpec,
      },
    },
  };
}

/** Pod volumes that carry a PVC target: every volume name the member mounts refers to that claim. */
export function pvcVolumes(m: Member): Obj[] {
  if (m.ref.kind !== 'PersistentVolumeClaim' || !m.ref.name) return [];
  const mounts = (m.member.target as { volumeMounts?: Array<{ name?: string }> } | undefined)?.volumeMounts ?? [];
  const names = [...new Set(mounts.map((v) => v.name).filter((n): n is string => typeof n === 'string' && n !== ''))];
  return names.map((name) => ({ name, persistentVolumeClaim: { claimName: m.ref.name } }));
}

/** Creates the object unless it exists; an existing one (a repeated reconcile) is left as it is. */
async function createOnce(kube: Kube, obj: KubeObject): Promise<boolean> {
  try {
    await kube.create(obj);
    return true;
  } catch (err) {
    if (isConflict(err)) return false;
    throw err;
  }
}

interface JobEnsureDeps {
  kube: Kube;
  inject: InjectOptions;
}

async function ensureServiceAccount(
  d: JobEnsureDeps,
  inv: Invoker,
  member: Record<string, unknown>,
  purpose: 'backup' | 'restore',
): Promise<string> {
  const sa = jobServiceAccount(inv, member, purpose);
  if (!sa.ours) return sa.name;
  const meta = {
    name: sa.name,
    namespace: inv.metadata?.namespace,
    labels: invokerLabels(inv, purpose === 'backup' ? LABEL_VALUE.componentBackup : LABEL_VALUE.componentRestore),
    ownerReferences: [ownerRef(inv)],
  };
  await d.kube.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta });
  const bind = (name: string, role: string) =>
    d.kube.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { ...meta, name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'ServiceAccount', name: sa.name, namespace: inv.metadata?.namespace }],
    });
  await bind(sa.name, `stash-${purpose}-job`);
  // In the invoker's namespace only (a RoleBinding): the manifests of that namespace, nothing cluster-wide.
  if (sa.kubedump) await bind(jobName([sa.name, 'manifests']), `stash-kubedump-${purpose}`);
  return sa.name;
}

async function repositoryOf(kube: Kube, inv: Invoker): Promise<Repository | undefined> {
  const ref = inv.spec?.repository;
  if (!ref?.name) return undefined;
  const repo = await kube.getOrNull(
    apiVersionOf('Repository'),
    'Repository',
    ref.namespace || inv.metadata?.namespace,
    ref.name,
  );
  return (repo as unknown as Repository | null) ?? undefined;
}

/** docs/api.md §14.3 step 6: the backup Job of one job-model target of a session (owned by the session). */
export async function ensureBackupJob(
  d: JobEnsureDeps,
  inv: Invoker,
  m: Member,
  session: KubeObject,
): Promise<{ name: string; created: boolean; placement: Placement }> {
  const name = backupJobName(session.metadata?.name ?? '', m.index);
  const placement = await placeJob(d.kube, m);
  if (placement && 'fail' in placement) return { name, created: false, placement };
  const job = buildJob({
    purpose: 'backup',
    inv,
    m,
    name,
    owner: session,
    repository: await repositoryOf(d.kube, inv),
    inject: d.inject,
    serviceAccountName: await ensureServiceAccount(d, inv, m.member, 'backup'),
    extraArgs: [`--backupsession=${session.metadata?.name ?? ''}`],
    dataVolumes: pvcVolumes(m),
    node: placement?.node,
  });
  return { name, created: await createOnce(d.kube, job), placement };
}

/**
 * docs/api.md §16.1 step 6 / §16.3: restore Job(s) of one job-model member, owned by the invoker. With volumeClaimTemplates,
 * the PVCs of each ordinal are created first and the Job of that ordinal mounts them. Returns the host count.
 */
export async function ensureRestoreJobs(
  d: JobEnsureDeps,
  inv: Invoker,
  m: Member,
): Promise<{ names: string[]; totalHosts: number; placement?: Placement }> {
  const target = (m.member.target ?? {}) as { volumeClaimTemplates?: PvcTemplate[]; replicas?: number };
  const templates = target.volumeClaimTemplates ?? [];
  const repository = await repositoryOf(d.kube, inv);
  const serviceAccountName = await ensureServiceAccount(d, inv, m.member, 'restore');
  const base = { purpose: 'restore' as const, inv, m, owner: inv, repository, inject: d.inject, serviceAccountName };
  const extraArgs = ['--restore-model=job', `--member-index=${m.index}`];
  if (templates.length === 0) {
    const name = restoreJobName(inv.metadata?.name ?? '', m.index);
    const placement = await placeJob(d.kube, m);
    if (placement && 'fail' in placement) return { names: [], totalHosts: 1, placement };
    await createOnce(d.kube, buildJob({ ...base, name, extraArgs, dataVolumes: pvcVolumes(m), node: placement?.node }));
    return { names: [name], totalHosts: 1, placement };
  }
  const ordinals = Math.max(1, target.replicas ?? 1);
  const names: string[] = [];
  for (let ordinal = 0; ordinal < ordinals; ordinal++) {
    const volumes: Obj[] = [];
    for (const t of templates) {
      const { claim, volume } = claimForOrdinal(t, ordinal, target.replicas !== undefined);
      await createOnce(d.kube, {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: {
          name: claim,
          namespace: inv.metadata?.namespace,
          labels: { ...(t.metadata?.labels ?? {}), [LABEL.managedBy]: LABEL_VALUE.managedBy },
          ...(t.metadata?.annotations ? { annotations: t.metadata.annotations } : {}),
        },
        spec: structuredClone(t.spec ?? {}),
      });
      volumes.push({ name: volume, persistentVolumeClaim: { claimName: claim } });
    }
    const name = restoreJobName(inv.metadata?.name ?? '', m.index, ordinal);
    await createOnce(d.kube, buildJob({ ...base, name, extraArgs, dataVolumes: volumes, ordinal }));
    names.push(name);
  }
  return { names, totalHosts: ordinals };
}

/** Job names of a member, in the order of memberJobHosts, for the crashed-host rule. */
export function memberJobNames(purpose: 'backup' | 'restore', inv: Invoker, m: Member, sessionName: string): string[] {
  if (purpose === 'backup') return [backupJobName(sessionName, m.index)];
  const target = (m.member.target ?? {}) as { volumeClaimTemplates?: unknown[]; replicas?: number };
  if (!target.volumeClaimTemplates?.length) return [restoreJobName(inv.metadata?.name ?? '', m.index)];
  return Array.from({ length: Math.max(1, target.replicas ?? 1) }, (_, o) =>
    restoreJobName(inv.metadata?.name ?? '', m.index, o),
  );
}

interface JobObj extends KubeObject {
  status?: {
    failed?: number;
    succeeded?: number;
    conditions?: Array<{ type?: string; status?: string; message?: string; reason?: string }>;
  };
}

/** The hosts a member's Jobs report (docs/api.md §12): one per Job; `<alias>-<ordinal>` for volumeClaimTemplates with replicas. */
export function memberJobHosts(purpose: 'backup' | 'restore', m: Member): string[] {
  const target = (m.member.target ?? {}) as { alias?: string; volumeClaimTemplates?: unknown[]; replicas?: number };
  if (purpose === 'restore' && target.volumeClaimTemplates?.length) {
    return Array.from({ length: Math.max(1, target.replicas ?? 1) }, (_, o) =>
      restoreHostForTemplates(target.alias, o, target.replicas !== undefined),
    );
  }
  return [target.alias?.trim() || 'host-0'];
}

/** Hosts of a job-model member that have not reported and whose Job can no longer report them. */
export async function missingJobHosts(
  kube: Kube,
  purpose: 'backup' | 'restore',
  inv: Invoker,
  m: Member,
  sessionName: string,
  reported: ReadonlySet<string>,
  pods: readonly KubeObject[],
): Promise<MissingHost[]> {
  const hosts = memberJobHosts(purpose, m);
  const names = memberJobNames(purpose, inv, m, sessionName);
  const out: MissingHost[] = [];
  for (const [i, host] of hosts.entries()) {
    const name = names[i];
    if (reported.has(host) || !name) continue;
    const why = await jobGone(kube, inv.metadata?.namespace ?? '', name, pods);
    if (why) out.push({ host, ...why });
  }
  return out;
}

function jobOfPod(p: KubeObject): string | undefined {
  const l = p.metadata?.labels ?? {};
  return l['batch.kubernetes.io/job-name'] ?? l['job-name'];
}

interface JobPodObj extends KubeObject {
  spec?: { containers?: Array<{ name?: string; resources?: { limits?: { memory?: string } } }> };
  status?: {
    phase?: string;
    containerStatuses?: Array<{
      name?: string;
      state?: { terminated?: { exitCode?: number; reason?: string; signal?: number } };
    }>;
  };
}

/**
 * How the agent container of a Job's pod ended, as the kubelet reports it — above all an OOM kill, which the
 * agent itself can never report (docs/architecture.md §4: a crashed agent is reported with its reason).
 * Undefined while no container of the pod has ended.
 */
export function podTermination(pod: JobPodObj): string | undefined {
  for (const c of pod.status?.containerStatuses ?? []) {
    const term = c.state?.terminated;
    if (!term) continue;
    const limit = pod.spec?.containers?.find((x) => x.name === c.name)?.resources?.limits?.memory;
    if (term.reason === 'OOMKilled')
      return `container ${c.name} of pod ${pod.metadata?.name} was OOMKilled (exit code ${term.exitCode ?? '?'}${limit ? `, memory limit ${limit}` : ''}): raise runtimeSettings.container.resources.limits.memory`;
    if (term.exitCode !== 0)
      return `container ${c.name} of pod ${pod.metadata?.name} ended with exit code ${term.exitCode ?? '?'}${term.reason ? ` (${term.reason})` : ''}`;
  }
  return undefined;
}

/** What the kubelet says about how the Job's pods ended, for the host's error ("" when it says nothing). */
async function jobPodsEnded(kube: Kube, namespace: string, name: string): Promise<string> {
  try {
    const pods = await kube.list<JobPodObj>('v1', 'Pod', namespace, { labelSelector: `job-name=${name}` });
    const notes = pods.items.map(podTermination).filter((n): n is string => !!n);
    return notes.length ? `; ${notes.join('; ')}` : '';
  } catch {
    // The reason is a courtesy: the host fails all the same.
    return '';
  }
}

/**
 * Why a Job can no longer report (deleted, failed, or done without its agent writing stats), or undefined while
 * it may still report. Its pod terminating counts at once: the Job's own status follows a moment later. A pod the
 * scheduler cannot place is reported too, marked, because that may pass (a claim still binding, a node joining).
 */
async function jobGone(
  kube: Kube,
  namespace: string,
  name: string,
  pods: readonly KubeObject[],
): Promise<Omit<MissingHost, 'host'> | undefined> {
  const job = await kube.getOrNull<JobObj>('batch/v1', 'Job', namespace, name);
  if (!job || job.metadata?.deletionTimestamp) return { reason: `Job ${name} was deleted before its host reported` };
  const failed = job.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
  if (failed)
    return {
      reason: `Job ${name} failed (${[failed.reason, failed.message].filter(Boolean).join(': ')}) before its host reported${await jobPodsEnded(kube, namespace, name)}`,
    };
  if (job.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True'))
    return { reason: `Job ${name} completed without its host reporting` };
  const mine = pods.filter((p) => p.metadata?.namespace === namespace && jobOfPod(p) === name);
  if (mine.length > 0 && mine.every((p) => !(p as PodObj).spec?.nodeName)) {
    // Not bound yet: a scheduler that cannot place it says so on the pod (docs/api.md §12.1).
    const full = await kube.list<PodObj & { status?: { conditions?: Array<Record<string, string>> } }>(
      'v1',
      'Pod',
      namespace,
      { labelSelector: `batch.kubernetes.io/job-name=${name}` },
    );
    for (const p of full.items) {
      const c = p.status?.conditions?.find(
        (x) => x.type === 'PodScheduled' && x.status === 'False' && x.reason === 'Unschedulable',
      );
      if (c)
        return {
          reason: `pod ${p.metadata?.name} of Job ${name} cannot be scheduled: ${c.message ?? 'Unschedulable'}`,
          unschedulable: true,
        };
    }
  }
  const pod = pods.find(
    (p) =>
      p.metadata?.namespace === namespace &&
      jobOfPod(p) === name &&
      ['Failed', 'Succeeded'].includes((p as { status?: { phase?: string } }).status?.phase ?? ''),
  );
  if (pod)
    return {
      reason: `pod ${pod.metadata?.name} of Job ${name} ended (${(pod as { status?: { phase?: string } }).status?.phase}) before its host reported${await jobPodsEnded(kube, namespace, name)}`,
    };
  return undefined;
}
