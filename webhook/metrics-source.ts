// What the metrics are computed from on every replica: the invoker and Repository informers the admission
// index already keeps, plus one BackupSession informer of its own (the session loop's lives on the leader only).
import type { Logger } from 'pino';
import { GROUP, KINDS } from '../shared/api/constants.ts';
import type { Kube, KubeObject } from '../shared/kube/client.ts';
import { Informer } from '../shared/kube/informer.ts';
import type { InformerInvokerIndex } from './invoker-index.ts';
import type { MetricsSource } from './stash-metrics.ts';

/**
 * Keeps what the session families read of a BackupSession (spec.invoker and status, without the conditions'
 * long messages), so the cache of a namespace with a long history stays small.
 */
function slim(o: KubeObject): KubeObject {
  const s = o as KubeObject & { status?: { conditions?: Array<Record<string, unknown>> } };
  if (s.status?.conditions) s.status.conditions = s.status.conditions.map(({ type, status }) => ({ type, status }));
  return s;
}

export class InformerMetricsSource implements MetricsSource {
  readonly sessions: Informer<KubeObject>;
  readonly #index: InformerInvokerIndex;

  constructor(kube: Kube, index: InformerInvokerIndex, opts: { namespace?: string; log?: Logger } = {}) {
    this.#index = index;
    this.sessions = new Informer<KubeObject>(kube, {
      apiVersion: `${GROUP}/${KINDS.BackupSession.version}`,
      kind: 'BackupSession',
      namespace: opts.namespace,
      log: opts.log,
      transform: slim,
    });
  }

  #list(kind: string): KubeObject[] {
    return this.#index.informers.get(kind)?.list() ?? [];
  }

  backupInvokers(): KubeObject[] {
    return [...this.#list('BackupConfiguration'), ...this.#list('BackupBatch')];
  }

  backupSessions(): KubeObject[] {
    return this.sessions.list();
  }

  restoreInvokers(): KubeObject[] {
    return [...this.#list('RestoreSession'), ...this.#list('RestoreBatch')];
  }

  repositories(): KubeObject[] {
    return this.#list('Repository');
  }

  start(): this {
    this.sessions.start();
    return this;
  }

  async stop(): Promise<void> {
    await this.sessions.stop();
  }
}
