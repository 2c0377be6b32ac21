// BackupConfiguration / BackupBatch reconcile (docs/api.md §14.1, §14.2, §14.8, §13.4): finalizer, repository and secret
// checks, Repository references, per-target existence and injection (through the same mutateWorkload that
// admission uses), the trigger CronJob, the derived phase, and Events for every condition that changes.
// Deletion removes the sidecars, the CronJob and the Repository reference before the finalizer is dropped.
import fjp from 'fast-json-patch';
import { CONTAINER, FINALIZER, LABEL, LABEL_VALUE } from '../../shared/api/index.ts';
import type { Condition } from '../../shared/api/index.ts';
import { errorMessage } from '../../shared/errors.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { isFalse, isTrue, mergeConditions } from '../../shared/status/index.ts';
import {
  checkRepository,
  cond,
  copyPodSettings,
  eventsForTransitions,
  executionModel,
  getTarget,
  invokerApiVersion,
  invokerKey,
  invokerLabels,
  isUnknownOrFalse,
  ownerRef,
  parseKey,
  recordEvent,
  setRepositoryReference,
  removeFinalizer,
  ensureFinalizer,
  ensureSidecarRbac,
} from './common.ts';
import { RESTRICTED_SECURITY_CONTEXT, podRunsAsRoot } from '../admission/inject.ts';
import { isBatch, isBatchKind, membersOf, servedApiVersion, WORKLOAD_KINDS } from '../../shared/api/target.ts';
import type { BackupInvoker } from '../../shared/api/types.ts';
import { WorkQueue } from './queue.ts';
import { injectedFor, syncWorkload, type WorkloadSyncResult } from './workload.ts';
import { resolveDeps, scoped, waitForAbort, type ControllerDeps, type ResolvedDeps } from './deps.ts';

export const BACKUP_INVOKER_KINDS = ['BackupConfiguration', 'BackupBatch'] as const;

/** docs/api.md §14.8: the invoker phase, from its own conditions only (batch member conditions are ignored). */
export function backupInvokerPhase(
  conds: readonly Condition[] | undefined,
  driver = 'Restic',
): 'Ready' | 'NotReady' | 'Invalid' {
  if (isUnknownOrFalse(conds, 'RepositoryFound') || isUnknownOrFalse(conds, 'BackendSecretFound')) return 'NotReady';
  if (isFalse(conds, 'ValidationPassed')) return 'Invalid';
  const repoOk = driver !== 'Restic' || (isTrue(conds, 'RepositoryFound') && isTrue(conds, 'BackendSecretFound'));
  if (isTrue(conds, 'ValidationPassed') && isTrue(conds, 'CronJobCreated') && repoOk) return 'Ready';
  return 'NotReady';
}

/** docs/api.md §11: `stash-trigger-<name>` (dots to dashes, at most 52 characters), prefixed by the target namespace when it differs. */
export function cronJobName(inv: BackupInvoker): string {
  const name = (inv.metadata?.name ?? '').replace(/\./g, '-');
  const targetNs = 'target' in inv.spec ? inv.spec.target?.ref?.namespace : undefined;
  const base =
    targetNs && targetNs !== inv.metadata?.namespace ? `stash-trigger-${targetNs}-${name}` : `stash-trigger-${name}`;
  return base.slice(0, 52).replace(/-+$/, '');
}

/** Labels of everything created for an invoker (docs/api.md §11): its own labels plus component and managed-by. */
/** docs/api.md §14.2: the CronJob that creates a BackupSession at each slot. */
export function buildTriggerCronJob(inv: BackupInvoker, image: string): KubeObject {
  const name = cronJobName(inv);
  const rs = (inv.spec?.runtimeSettings ?? {}) as {
    pod?: Record<string, unknown>;
    container?: Record<string, unknown>;
  };
  const pod = rs.pod ?? {};
  const container: Record<string, unknown> = {
    name: CONTAINER.trigger,
    image,
    imagePullPolicy: 'IfNotPresent',
    args: ['create-backupsession', `--invoker-name=${inv.metadata?.name ?? ''}`, `--invoker-kind=${inv.kind ?? ''}`],
  };
  for (const k of ['resources', 'env', 'envFrom', 'securityContext'] as const)
    if (rs.container?.[k] !== undefined) container[k] = rs.container[k];
  // docs/api.md §13.5: the trigger pod passes the restricted Pod Security level like the agent's containers.
  if (container.securityContext === undefined && !podRunsAsRoot(pod.securityContext))
    container.securityContext = structuredClone(RESTRICTED_SECURITY_CONTEXT);
  const podSpec: Record<string, unknown> = {
    restartPolicy: 'Never',
    serviceAccountName: (pod.serviceAccountName as string | undefined) || name,
    containers: [container],
  };
  copyPodSettings(pod, podSpec);
  const own = inv.metadata?.labels ?? {};
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: {
      name,
      namespace: inv.metadata?.namespace,
      labels: invokerLabels(inv, LABEL_VALUE.componentBackup),
      ownerReferences: [ownerRef(inv)],
    },
    spec: {
      schedule: inv.spec?.schedule ?? '',
      suspend: inv.spec?.paused === true,
      concurrencyPolicy: 'Forbid',
      jobTemplate: {
        metadata: { labels: { ...own, [LABEL.deleteJobOnCompletion]: 'true' } },
        spec: {
          backoffLimit: 0,
          template: {
            metadata: { labels: { ...own }, ...(pod.podAnnotations ? { annotations: pod.podAnnotations } : {}) },
            spec: podSpec,
          },
        },
      },
    },
  };
}

async function ensureCronJob(d: ResolvedDeps, inv: BackupInvoker): Promise<string> {
  const cj = buildTriggerCronJob(inv, d.config.agentImage);
  const ns = inv.metadata?.namespace;
  if (!inv.spec?.schedule) {
    await d.kube.delete('batch/v1', 'CronJob', ns, cj.metadata!.name!);
    return 'No schedule: BackupSessions are created on demand only.';
  }
  const rs = (inv.spec?.runtimeSettings ?? {}) as { pod?: { serviceAccountName?: string } };
  if (!rs.pod?.serviceAccountName) {
    // The trigger pod creates BackupSessions, so its own service account gets exactly stash-cron-job.
    const meta = {
      name: cj.metadata!.name,
      namespace: ns,
      labels: cj.metadata!.labels,
      ownerReferences: [ownerRef(inv)],
    };
    await d.kube.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta });
    await d.kube.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'stash-cron-job' },
      subjects: [{ kind: 'ServiceAccount', name: cj.metadata!.name, namespace: ns }],
    });
  }
  await d.kube.apply(cj);
  return `CronJob ${ns}/${cj.metadata!.name} ${inv.spec.paused ? 'is suspended (paused)' : `runs on "${inv.spec.schedule}"`}.`;
}

/** docs/api.md §13.4 plus §14.1: what deleting an invoker must undo before its finalizer goes. */
async function finalizeBackupInvoker(d: ResolvedDeps, inv: BackupInvoker): Promise<void> {
  if (!(inv.metadata?.finalizers ?? []).includes(FINALIZER)) return;
  const uid = inv.metadata?.uid;
  for (const m of membersOf(inv)) {
    if (executionModel(inv, m).model !== 'workload') continue;
    await syncWorkload(d.workloads, m.ref, { excludeUid: uid });
  }
  const name = cronJobName(inv);
  await d.kube.delete('batch/v1', 'CronJob', inv.metadata?.namespace, name);
  await d.kube.delete('rbac.authorization.k8s.io/v1', 'RoleBinding', inv.metadata?.namespace, name);
  await d.kube.delete('v1', 'ServiceAccount', inv.metadata?.namespace, name);
  await setRepositoryReference(d.kube, inv, false);
  await removeFinalizer(d.kube, inv, FINALIZER);
  await recordEvent(
    d.events,
    inv,
    'Normal',
    'InvokerDeleted',
    `Removed the stash sidecar from targeted workloads, the trigger CronJob and the Repository reference of ${inv.kind} ${inv.metadata?.name}.`,
  );
}

/**
 * A target changed (`kubectl apply` fixing a wrong one): workloads of the invoker's namespace that still carry
 * its sidecar but are no longer among its targets are synced, which removes the sidecar (the index no longer
 * lists the invoker for them, and the sync excludes this invoker even where the index still holds an older copy
 * of it); the new target gets it from the member loop. Only when the spec changed since
 * the last reconcile wrote status, so a resync lists nothing. Sidecar-model targets live in the invoker's
 * namespace (admission rejects others). Every workload kind is looked at, OpenShift's DeploymentConfig too
 * where its API is served (docs/api.md §13.1).
 */
async function releaseFormerTargets(d: ResolvedDeps, inv: BackupInvoker): Promise<void> {
  const seen = inv.status?.observedGeneration as number | undefined;
  if (seen === undefined || seen === inv.metadata?.generation) return;
  const ns = inv.metadata?.namespace;
  const current = new Set(membersOf(inv).map((m) => `${m.ref.kind}/${m.ref.namespace}/${m.ref.name}`));
  for (const kind of WORKLOAD_KINDS) {
    const apiVersion = servedApiVersion({ kind });
    for (const w of await listIfServed(d, apiVersion, kind, ns)) {
      const name = w.metadata?.name ?? '';
      if (current.has(`${kind}/${ns}/${name}`) || !injectedFor(w, 'backup', inv)) continue;
      // The invoker in hand has dropped this target even when the index's copy of it is older and still lists
      // it: this is the only pass over former targets (gated on the generation), so it must not defer to the index.
      const r = await syncWorkload(
        d.workloads,
        { apiVersion, kind, name, namespace: ns },
        { excludeUid: inv.metadata?.uid },
      );
      // Still ours (an admission webhook whose informers lag put the sidecar back): fail this reconcile, so the
      // queue retries before status records the generation as seen.
      if (r.found && injectedFor(r.object, 'backup', inv))
        throw new Error(`${kind} ${ns}/${name} still carries the stash sidecar of ${inv.kind} ${inv.metadata?.name}`);
      await recordEvent(
        d.events,
        inv,
        'Normal',
        'SidecarRemoved',
        `${kind} ${ns}/${name} is no longer a target of ${inv.kind} ${inv.metadata?.name}: removed its stash sidecar.`,
      );
    }
  }
}

/** The kind's objects in `ns`; none where the API server does not serve the kind (DeploymentConfig off OpenShift). */
async function listIfServed(
  d: ResolvedDeps,
  apiVersion: string,
  kind: string,
  ns: string | undefined,
): Promise<KubeObject[]> {
  try {
    return (await d.kube.list(apiVersion, kind, ns)).items;
  } catch (err) {
    if ((err as { status?: number }).status === 404) return [];
    throw err;
  }
}

interface MemberConditions {
  target: { apiVersion?: string; kind?: string; name?: string; namespace?: string };
  conditions?: Condition[];
}

export async function reconcileBackupInvoker(
  d: ResolvedDeps,
  key: string,
): Promise<{ requeueMs?: number; gone?: boolean }> {
  const { kind, namespace, name } = parseKey(key);
  const apiVersion = invokerApiVersion(kind);
  let inv = await d.kube.getOrNull<BackupInvoker>(apiVersion, kind, namespace, name);
  if (!inv) return { gone: true };
  if (inv.metadata?.deletionTimestamp) {
    await finalizeBackupInvoker(d, inv);
    return { gone: true };
  }
  inv = await ensureFinalizer(d.kube, inv);
  const driver = inv.spec?.driver || 'Restic';
  const conds: Condition[] = [];
  let requeue = false;
  if (driver === 'Restic') {
    // A Repository used by many invokers lists them all in its status, so reading it on every reconcile is the
    // costliest call there is; the index's informer copy answers both whether it exists and whether our
    // reference is already there (a cache miss still reads the API).
    const repos = d.index.informers.get('Repository');
    const rc = await checkRepository(d.kube, inv, (ns, name) => repos?.get(ns, name), { refuseDeleting: true });
    conds.push(...rc.conditions);
    if (rc.repository && !referencedBy(repos?.get(repoNamespaceOf(inv), inv.spec?.repository?.name ?? ''), inv)) {
      await setRepositoryReference(d.kube, inv, true);
    }
    if (!rc.ready) requeue = true;
  } else {
    conds.push(cond('ValidationPassed', 'True', 'The invoker passed validation.'));
  }

  await releaseFormerTargets(d, inv);
  const memberConds: MemberConditions[] = [];
  for (const m of membersOf(inv)) {
    const c: Condition[] = [];
    const what = `${m.ref.kind} ${m.ref.namespace}/${m.ref.name}`;
    const workload = executionModel(inv, m).model === 'workload';
    // For a workload the sync reads the target anyway (and answers whether it exists); a separate read is
    // needed only for other kinds, or to tell "missing" from "could not patch" when the sync failed.
    let synced: WorkloadSyncResult | undefined;
    let syncError: unknown;
    if (workload) {
      try {
        synced = await syncWorkload(d.workloads, m.ref);
      } catch (err) {
        syncError = err;
      }
    }
    let exists = false;
    try {
      exists = synced ? synced.found : (await getTarget(d.kube, m.ref)) !== null;
      c.push(
        exists
          ? cond('BackupTargetFound', 'True', `Target ${what} exists.`)
          : cond('BackupTargetFound', 'False', `Target ${what} does not exist.`),
      );
      if (!exists) requeue = true;
    } catch (err) {
      c.push(cond('BackupTargetFound', 'Unknown', `Could not check target ${what}: ${errorMessage(err)}`));
      requeue = true;
    }
    if (exists && workload) {
      try {
        if (!synced) throw syncError;
        const mine = synced.found && injectedFor(synced.object, 'backup', inv);
        c.push(
          mine
            ? cond('StashSidecarInjected', 'True', `The stash sidecar is in the pod template of ${what}.`)
            : cond('StashSidecarInjected', 'False', `A newer backup invoker owns the sidecar of ${what}.`),
        );
        if (mine && synced.found) await ensureSidecarRbac(d.kube, inv, m.ref, synced.object);
      } catch (err) {
        c.push(
          cond(
            'StashSidecarInjected',
            'False',
            `Could not inject the stash sidecar into ${what}: ${errorMessage(err)}`,
          ),
        );
        requeue = true;
      }
    }
    memberConds.push({ target: m.ref, conditions: c });
  }

  try {
    conds.push(cond('CronJobCreated', 'True', await ensureCronJob(d, inv)));
  } catch (err) {
    conds.push(cond('CronJobCreated', 'False', `Could not create the trigger CronJob: ${errorMessage(err)}`));
    requeue = true;
  }

  const batch = isBatchKind(inv.kind);
  const beforeConds = inv.status?.conditions;
  const beforeMembers: MemberConditions[] = (isBatch(inv) ? inv.status?.memberConditions : undefined) ?? [];
  let after: BackupInvoker | null;
  try {
    after = await d.kube.update<BackupInvoker>(
      apiVersion,
      kind,
      namespace,
      name,
      (cur) => {
        const status = { ...(cur.status ?? {}) } as Record<string, unknown> & {
          conditions?: Condition[];
          memberConditions?: MemberConditions[];
        };
        if (batch) {
          status.conditions = mergeConditions(status.conditions, conds) ?? [];
          const prev = status.memberConditions ?? [];
          status.memberConditions = memberConds.map((mc) => {
            const old = prev.find(
              (p) =>
                p.target.kind === mc.target.kind &&
                p.target.name === mc.target.name &&
                (p.target.namespace || namespace) === mc.target.namespace,
            );
            return { target: mc.target, conditions: mergeConditions(old?.conditions, mc.conditions) ?? [] };
          });
        } else {
          status.conditions =
            mergeConditions(status.conditions, [...conds, ...(memberConds[0]?.conditions ?? [])]) ?? [];
        }
        status.phase = backupInvokerPhase(status.conditions, driver);
        // The generation this reconcile acted on, not the one read back now: a spec change that landed meanwhile
        // must stay unobserved, so the next reconcile releases its former targets.
        status.observedGeneration = inv.metadata?.generation;
        // A resync that finds everything as it was writes nothing (and wakes no watcher).
        if (fjp.compare(cur.status ?? {}, status).length === 0) return null;
        cur.status = status;
        return cur;
      },
      { subresource: 'status' },
    );
  } catch (err) {
    if ((err as { status?: number }).status === 404) return { gone: true };
    throw err;
  }
  if (after) {
    await eventsForTransitions(d.events, after, beforeConds, after.status?.conditions);
    if (batch) {
      for (const mc of (isBatch(after) ? after.status?.memberConditions : undefined) ?? []) {
        const old = beforeMembers.find((p) => p.target.kind === mc.target.kind && p.target.name === mc.target.name);
        await eventsForTransitions(
          d.events,
          after,
          old?.conditions,
          mc.conditions,
          `member ${mc.target.kind}/${mc.target.name}`,
        );
      }
    }
  }
  return requeue ? { requeueMs: d.tuning.requeueMs } : {};
}

/** The namespace of the Repository an invoker names (its own when the reference leaves it out). */
function repoNamespaceOf(inv: BackupInvoker): string {
  return inv.spec?.repository?.namespace || inv.metadata?.namespace || '';
}

/** True when the Repository's status.references already lists this invoker. */
export function referencedBy(repo: KubeObject | undefined, inv: KubeObject): boolean {
  const refs =
    (repo?.status as { references?: Array<{ kind?: string; namespace?: string; name?: string }> } | undefined)
      ?.references ?? [];
  return refs.some(
    (r) => r.kind === inv.kind && r.namespace === inv.metadata?.namespace && r.name === inv.metadata?.name,
  );
}

/** True when `after` equals `before`, or is `before` plus our finalizer (the one change reconcile makes itself). */
export function sameOrOurFinalizerAdded(
  before: readonly string[] | undefined,
  after: readonly string[] | undefined,
): boolean {
  const b = before ?? [];
  const a = after ?? [];
  if (a.length === b.length) return a.every((f, i) => f === b[i]);
  return (
    a.length === b.length + 1 && !b.includes(FINALIZER) && a.filter((f) => f !== FINALIZER).every((f, i) => f === b[i])
  );
}

export async function runBackupInvokers(deps: ControllerDeps, signal: AbortSignal): Promise<void> {
  const d = resolveDeps(deps);
  const queue = new WorkQueue(
    async (key) => {
      const r = await reconcileBackupInvoker(d, key);
      if (!r.gone) queue.addAfter(key, r.requeueMs ?? d.tuning.resyncMs * (0.9 + Math.random() / 5));
    },
    { name: 'backup-invoker', log: d.log, signal },
  );
  for (const kind of BACKUP_INVOKER_KINDS) {
    const inf = d.index.informers.get(kind);
    if (!inf) throw new Error(`invoker index has no ${kind} informer`);
    const poke = (o: KubeObject): void => {
      if (scoped(d, o)) queue.add(invokerKey(kind, o.metadata?.namespace, o.metadata?.name));
    };
    inf.on('add', poke);
    inf.on('update', (o, old) => {
      // Status-only writes (our own) change neither generation nor metadata we react to; nor does the finalizer
      // we add at the start of a reconcile that then carries on with the updated object.
      if (
        old &&
        o.metadata?.generation === old.metadata?.generation &&
        !o.metadata?.deletionTimestamp &&
        sameOrOurFinalizerAdded(old.metadata?.finalizers, o.metadata?.finalizers) &&
        JSON.stringify(o.metadata?.labels) === JSON.stringify(old.metadata?.labels)
      )
        return;
      poke(o);
    });
    for (const o of inf.list()) poke(o);
  }
  // A Repository or Secret appearing later is seen through the 5 s requeue; a Repository change is immediate.
  // Only a change of its spec (or its deletion) counts: its status is where every invoker writes its reference,
  // and waking all its invokers on each of those writes made N invokers cost N² reconciles.
  d.index.informers.get('Repository')?.on('update', (repo, old) => {
    if (old && repo.metadata?.generation === old.metadata?.generation && !repo.metadata?.deletionTimestamp) return;
    for (const kind of BACKUP_INVOKER_KINDS) {
      for (const o of d.index.informers.get(kind)?.list() ?? []) {
        const r = (o as BackupInvoker).spec?.repository;
        if (
          r?.name === repo.metadata?.name &&
          (r?.namespace || o.metadata?.namespace) === repo.metadata?.namespace &&
          scoped(d, o)
        ) {
          queue.add(invokerKey(kind, o.metadata?.namespace, o.metadata?.name));
        }
      }
    }
  });
  await waitForAbort(signal);
}
