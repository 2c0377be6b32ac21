// The controller half of injection (docs/api.md §13.1 b): patches a workload with the same pure decision admission makes
// (mutateWorkload), so the result is identical whichever path ran. Invokers poke it when they are created,
// changed or deleted; workload events poke it too, so a workload created while the webhook was down (its
// failurePolicy is Ignore) gets its sidecar or init-container as soon as the operator sees it.
import fjp from 'fast-json-patch';
import type { Logger } from 'pino';
import { ANNOTATION, CONTAINER, GROUP } from '../../shared/api/index.ts';
import type { Kube, KubeObject } from '../../shared/kube/client.ts';
import { Informer } from '../../shared/kube/informer.ts';
import { mutateWorkload } from '../admission/mutate.ts';
import type { InjectOptions } from '../admission/inject.ts';
import type { BackupInvoker, RestoreInvoker, WorkloadRef } from '../admission/types.ts';
import type { InformerInvokerIndex } from '../invoker-index.ts';
import { WorkQueue } from './queue.ts';
import { KUBERNETES_WORKLOAD_KINDS, servedApiVersion } from '../../shared/api/target.ts';
import type { TargetRef } from '../../shared/api/index.ts';

export interface WorkloadSyncDeps {
  kube: Kube;
  log: Logger;
  index: InformerInvokerIndex;
  inject: InjectOptions;
}

export type WorkloadSyncResult =
  { found: false } | { found: true; changed: boolean; actions: string[]; object: KubeObject };

/**
 * Brings one workload in line with the invokers targeting it. `excludeUid` leaves out an invoker being deleted
 * (its cached copy may not carry the deletionTimestamp yet).
 */
export async function syncWorkload(
  deps: WorkloadSyncDeps,
  ref: TargetRef,
  opts: { excludeUid?: string } = {},
): Promise<WorkloadSyncResult> {
  const apiVersion = servedApiVersion(ref);
  const kind = ref.kind ?? '';
  const w: WorkloadRef = { apiVersion, kind, name: ref.name ?? '', namespace: ref.namespace ?? '' };
  const keep = (i: KubeObject) => !opts.excludeUid || i.metadata?.uid !== opts.excludeUid;
  let actions: string[] = [];
  let changed = false;
  let found = true;
  let object: KubeObject | null = null;
  try {
    object = await deps.kube.update<KubeObject>(apiVersion, kind, w.namespace, w.name, (cur) => {
      const r = mutateWorkload(
        cur,
        {
          backup: deps.index.backupInvokersFor(w).filter(keep) as BackupInvoker[],
          restore: deps.index.restoreInvokersFor(w).filter(keep) as RestoreInvoker[],
          repository: (ns, name) => deps.index.repository(ns, name),
        },
        deps.inject,
      );
      if (!('mutated' in r)) return null;
      actions = r.actions;
      // mutateWorkload states the whole desired object; write only when it differs from what is stored.
      if (fjp.compare(cur, r.mutated).length === 0) return null;
      changed = true;
      return r.mutated as KubeObject;
    });
  } catch (err) {
    if ((err as { status?: number }).status === 404) found = false;
    else throw err;
  }
  if (!found || !object) return { found: false };
  if (changed) deps.log.info({ workload: `${kind}/${w.namespace}/${w.name}`, actions }, 'workload patched');
  return { found: true, changed, actions, object };
}

/** True when the workload's pod template carries the named stash container. */
export function hasAgentContainer(obj: KubeObject, role: 'backup' | 'restore'): boolean {
  const spec = (
    obj as {
      spec?: {
        template?: { spec?: { containers?: Array<{ name?: string }>; initContainers?: Array<{ name?: string }> } };
      };
    }
  ).spec;
  const list = role === 'backup' ? spec?.template?.spec?.containers : spec?.template?.spec?.initContainers;
  const name = role === 'backup' ? CONTAINER.sidecar : CONTAINER.initContainer;
  return (list ?? []).some((c) => c.name === name);
}

/** Which invoker the workload's last-applied annotations say is injected (docs/api.md §11), if any. */
export function injectedInvoker(
  obj: KubeObject,
  role: 'backup' | 'restore',
): { kind: string; name: string } | undefined {
  const ann = obj.metadata?.annotations ?? {};
  const raw = ann[role === 'backup' ? ANNOTATION.lastAppliedBackupInvoker : ANNOTATION.lastAppliedRestoreInvoker];
  const kind =
    ann[role === 'backup' ? ANNOTATION.lastAppliedBackupInvokerKind : ANNOTATION.lastAppliedRestoreInvokerKind];
  if (!raw || !hasAgentContainer(obj, role)) return undefined;
  try {
    const inv = JSON.parse(raw) as { kind?: string; metadata?: { name?: string } };
    return { kind: kind || inv.kind || '', name: inv.metadata?.name ?? '' };
  } catch {
    return undefined;
  }
}

/** True when the workload carries the agent of exactly this invoker. */
export function injectedFor(obj: KubeObject, role: 'backup' | 'restore', inv: KubeObject): boolean {
  const i = injectedInvoker(obj, role);
  return i !== undefined && i.kind === inv.kind && i.name === inv.metadata?.name;
}

/**
 * What the workload informers keep of a Deployment, StatefulSet or DaemonSet: the workload queue decides from
 * the name, generation, our annotations and the names of the pod template's containers, and syncWorkload
 * always reads the full object from the API before it writes. Everything else (the rest of the pod template,
 * status, other annotations and labels) would only be held, thousands of times over, for nobody.
 */
export function slimWorkload(obj: KubeObject): KubeObject {
  const m = obj.metadata ?? {};
  const ours = Object.entries(m.annotations ?? {}).filter(([k]) => k.startsWith(STASH_ANNOTATION_PREFIX));
  const names = (list: unknown) =>
    Array.isArray(list) ? list.map((c: { name?: string }) => ({ name: c?.name })) : undefined;
  const podSpec = (obj as { spec?: { template?: { spec?: { containers?: unknown; initContainers?: unknown } } } }).spec
    ?.template?.spec;
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      generation: m.generation,
      ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
      ...(ours.length > 0 ? { annotations: Object.fromEntries(ours) } : {}),
    },
    spec: {
      template: {
        spec: {
          containers: names(podSpec?.containers) ?? [],
          ...(podSpec?.initContainers ? { initContainers: names(podSpec.initContainers) } : {}),
        },
      },
    },
  };
}

const STASH_ANNOTATION_PREFIX = `${GROUP}/`;

function carriesOurMarks(obj: KubeObject): boolean {
  const ann = obj.metadata?.annotations ?? {};
  return (
    Object.values(ANNOTATION).some((k) => k in ann) ||
    hasAgentContainer(obj, 'backup') ||
    hasAgentContainer(obj, 'restore')
  );
}

/** Watches workloads and re-applies the injection decision to any that an invoker targets or that we touched. */
export function startWorkloadWatch(
  deps: WorkloadSyncDeps,
  signal: AbortSignal,
  opts: { namespace?: string } = {},
): { informers: Informer<KubeObject>[]; queue: WorkQueue } {
  const queue = new WorkQueue(
    async (key) => {
      const [kind = '', namespace = '', name = ''] = key.split('/');
      await syncWorkload(deps, { apiVersion: 'apps/v1', kind, namespace, name });
    },
    { name: 'workload', log: deps.log, signal, concurrency: 4 },
  );
  const informers = KUBERNETES_WORKLOAD_KINDS.map((kind) => {
    const inf = new Informer<KubeObject>(deps.kube, {
      apiVersion: 'apps/v1',
      kind,
      namespace: opts.namespace,
      log: deps.log,
      transform: slimWorkload,
    });
    const poke = (o: KubeObject): void => {
      const w: WorkloadRef = {
        apiVersion: 'apps/v1',
        kind,
        name: o.metadata?.name ?? '',
        namespace: o.metadata?.namespace ?? '',
      };
      const targeted = deps.index.backupInvokersFor(w).length > 0 || deps.index.restoreInvokersFor(w).length > 0;
      if (targeted || carriesOurMarks(o)) queue.add(`${kind}/${w.namespace}/${w.name}`);
    };
    inf.on('add', poke);
    inf.on('update', (o, old) => {
      // Status churn (replica counts) cannot undo an injection; a spec change or one of our annotations can.
      if (
        old &&
        o.metadata?.generation === old.metadata?.generation &&
        JSON.stringify(o.metadata?.annotations ?? {}) === JSON.stringify(old.metadata?.annotations ?? {})
      )
        return;
      poke(o);
    });
    inf.start();
    return inf;
  });
  signal.addEventListener(
    'abort',
    () => {
      for (const i of informers) void i.stop();
    },
    { once: true },
  );
  return { informers, queue };
}

/** What the workloads loop takes of ControllerDeps (named here, so this module needs neither deps.ts nor index.ts). */
export interface WorkloadLoopDeps {
  kube: Kube;
  log: Logger;
  index: InformerInvokerIndex;
  config: { agentImage: string };
  namespace?: string;
  inject?: InjectOptions;
}

/** The `workloads` control loop: heals workloads admitted while the webhook was unavailable. */
export async function runWorkloads(deps: WorkloadLoopDeps, signal: AbortSignal): Promise<void> {
  const inject = deps.inject ?? {
    image: deps.config.agentImage,
    pushgatewayUrl: '',
    useKubeapiserverFqdnForAks: false,
  };
  startWorkloadWatch({ kube: deps.kube, log: deps.log, index: deps.index, inject }, signal, {
    namespace: deps.namespace,
  });
  if (signal.aborted) return;
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
