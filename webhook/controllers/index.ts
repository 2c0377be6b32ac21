// The control loops that run only on the elected leader. Each loop owns one concern; they share the
// operator's informers and client, and stop when `signal` aborts (leadership lost or shutdown).
import type { Logger } from 'pino';
import type { OperatorConfig } from '../../shared/config.ts';
import type { Kube } from '../../shared/kube/client.ts';
import type { InformerInvokerIndex } from '../invoker-index.ts';

export interface ControllerDeps {
  kube: Kube;
  log: Logger;
  config: OperatorConfig;
  index: InformerInvokerIndex;
}

export type Controller = (deps: ControllerDeps, signal: AbortSignal) => Promise<void>;

/** Registered loops. Invoker, session and restore reconcilers are added here as they land. */
export const CONTROLLERS: Array<{ name: string; run: Controller }> = [];

export async function startControllers(deps: ControllerDeps, signal: AbortSignal): Promise<void> {
  for (const c of CONTROLLERS) {
    deps.log.info({ controller: c.name }, 'starting controller');
    void c.run(deps, signal).catch((err: unknown) => deps.log.error({ controller: c.name, err: String(err) }, 'controller stopped with an error'));
  }
}
