// What every loop gets from ControllerDeps, with defaults filled in once.
import type { Logger } from 'pino';
import { HEARTBEAT } from '../../shared/api/heartbeat.ts';
import type { OperatorConfig } from '../../shared/config.ts';
import type { Kube, KubeObject } from '../../shared/kube/client.ts';
import type { InjectOptions } from '../admission/inject.ts';
import type { InformerInvokerIndex } from '../invoker-index.ts';
import { metrics as defaultMetrics, type StashMetrics } from '../metrics.ts';
import type { EventSink } from './common.ts';
import type { WorkloadSyncDeps } from './workload.ts';

/** What the operator process hands every loop. */
export interface ControllerDeps {
  kube: Kube;
  log: Logger;
  config: OperatorConfig;
  index: InformerInvokerIndex;
  /** Watch only this namespace (tests run one operator per namespace); all namespaces when unset. */
  namespace?: string;
  /** Injection options; defaults to config.agentImage with upstream's empty pushgateway URL. */
  inject?: InjectOptions;
  /** Where session metrics are recorded; defaults to the process-wide registry in webhook/metrics.ts. */
  metrics?: StashMetrics;
  tuning?: Partial<Tuning>;
  /** Executor pod of global exec hooks; defaults to config.namespace/config.identity (POD_NAME). */
  executorPod?: { namespace: string; name: string };
}

export interface Tuning {
  /** Requeue while something the loop waits for is missing (Repository, Secret, target): docs/api.md §14.1 says 5 s. */
  requeueMs: number;
  /** A host without a live pod for this long is marked Failed (a pod being replaced gets this much time). */
  hostGoneGraceMs: number;
  /**
   * A host whose heartbeat Lease (shared/api/heartbeat.ts) has not been renewed for this long, or that has no
   * Lease this long after its member's turn began, is marked Failed. Operator env STASH_HOST_LIVENESS_TIMEOUT.
   */
  hostLivenessMs: number;
  /**
   * How long after its member's turn a restore host's stash-init may take to start (its pods are rolled out
   * first); once it runs, hostLivenessMs applies. Unset: restore.ts HOST_START_FACTOR × hostLivenessMs.
   */
  hostStartMs?: number;
  /** Upper bound for one global hook. */
  hookTimeoutMs: number;
  /** Invokers are reconciled again this often, so a CronJob or sidecar removed by hand comes back. */
  resyncMs: number;
}

// hostGoneGraceMs outlasts the default pod terminationGracePeriodSeconds (30 s), so a pod that is merely being
// replaced is not mistaken for a crash.
export const DEFAULT_TUNING: Tuning = {
  requeueMs: 5_000,
  hostGoneGraceMs: 60_000,
  hostLivenessMs: HEARTBEAT.livenessBoundMs,
  hookTimeoutMs: 60_000,
  resyncMs: 10 * 60_000,
};

export interface ResolvedDeps {
  kube: Kube;
  log: Logger;
  config: OperatorConfig;
  index: InformerInvokerIndex;
  namespace: string | undefined;
  inject: InjectOptions;
  metrics: StashMetrics;
  tuning: Tuning;
  events: EventSink;
  workloads: WorkloadSyncDeps;
  /** The operator's own pod: executor of global exec hooks (docs/api.md §17). */
  executorPod: { namespace: string; name: string } | undefined;
}

export function resolveDeps(deps: ControllerDeps): ResolvedDeps {
  const inject = deps.inject ?? {
    image: deps.config.agentImage,
    pushgatewayUrl: '',
    useKubeapiserverFqdnForAks: false,
  };
  return {
    kube: deps.kube,
    log: deps.log,
    config: deps.config,
    index: deps.index,
    namespace: deps.namespace,
    inject,
    metrics: deps.metrics ?? defaultMetrics,
    tuning: {
      ...DEFAULT_TUNING,
      ...(deps.config.hostLivenessMs !== undefined ? { hostLivenessMs: deps.config.hostLivenessMs } : {}),
      ...(deps.tuning ?? {}),
    },
    events: { kube: deps.kube, log: deps.log, component: 'stash-operator', instance: deps.config.identity },
    workloads: { kube: deps.kube, log: deps.log, index: deps.index, inject },
    executorPod: deps.executorPod ?? { namespace: deps.config.namespace, name: deps.config.identity },
  };
}

/** True when the object is in the namespace this operator instance is scoped to (all when unscoped). */
export function scoped(d: { namespace: string | undefined }, o: KubeObject): boolean {
  return !d.namespace || o.metadata?.namespace === d.namespace;
}

export async function waitForAbort(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
