// The control loops that run only on the elected leader. Each loop owns one concern; they share the
// operator's informers and client, and stop when `signal` aborts (leadership lost or shutdown).
import type { Logger } from 'pino';
import type { OperatorConfig } from '../../shared/config.ts';
import type { Kube } from '../../shared/kube/client.ts';
import type { InjectOptions } from '../admission/inject.ts';
import type { InformerInvokerIndex } from '../invoker-index.ts';
import type { StashMetrics } from '../metrics.ts';
import type { Tuning } from './deps.ts';
import { runBackupInvokers } from './invoker.ts';
import { runBackupSessions } from './backup-session.ts';
import { runRestores } from './restore.ts';
import { runWorkloads } from './workload.ts';

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

export type Controller = (deps: ControllerDeps, signal: AbortSignal) => Promise<void>;

/** Registered loops. */
export const CONTROLLERS: Array<{ name: string; run: Controller }> = [
  { name: 'workloads', run: runWorkloads },
  { name: 'backup-invokers', run: runBackupInvokers },
  { name: 'backup-sessions', run: runBackupSessions },
  { name: 'restores', run: runRestores },
];

export async function startControllers(deps: ControllerDeps, signal: AbortSignal): Promise<void> {
  for (const c of CONTROLLERS) {
    deps.log.info({ controller: c.name }, 'starting controller');
    void c.run(deps, signal).catch((err: unknown) => deps.log.error({ controller: c.name, err: String(err) }, 'controller stopped with an error'));
  }
}
