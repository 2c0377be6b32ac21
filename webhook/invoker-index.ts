// The operator's in-memory view of invokers and repositories, fed by informers, indexed by the workload
// each invoker targets so an admission lookup is a map read, never an API call.
import type { Logger } from 'pino';
import { GROUP, KINDS } from '../shared/api/constants.ts';
import { membersOf, targetKey } from '../shared/api/target.ts';
import type { Invoker } from '../shared/api/types.ts';
import type { Kube, KubeObject } from '../shared/kube/client.ts';
import { Informer, keyOf } from '../shared/kube/informer.ts';
import type {
  BackupInvoker,
  InvokerIndex,
  Repository,
  RestoreInvoker,
  TargetRef,
  WorkloadRef,
} from './admission/types.ts';

type AnyInvoker = BackupInvoker | RestoreInvoker;

const BACKUP_KINDS = ['BackupConfiguration', 'BackupBatch'] as const;
const RESTORE_KINDS = ['RestoreSession', 'RestoreBatch'] as const;

/** Target refs an invoker names (namespace defaulted), one per member that has a ref. */
export function targetRefsOf(inv: Invoker): TargetRef[] {
  return membersOf(inv)
    .map((m) => m.ref)
    .filter((r) => r.kind !== '' && r.name !== '');
}

export class InformerInvokerIndex implements InvokerIndex {
  readonly informers: Map<string, Informer<KubeObject>>;
  readonly #byWorkload = new Map<string, Map<string, AnyInvoker>>();
  readonly #keysOf = new Map<string, string[]>();

  constructor(kube: Kube, log?: Logger) {
    this.informers = new Map();
    for (const kind of [...BACKUP_KINDS, ...RESTORE_KINDS, 'Repository'] as const) {
      const info = KINDS[kind];
      const inf = new Informer<KubeObject>(kube, { apiVersion: `${GROUP}/${info.version}`, kind, log });
      if (kind !== 'Repository') {
        inf.on('add', (o) => this.#index(o as AnyInvoker));
        inf.on('update', (o) => this.#index(o as AnyInvoker));
        inf.on('delete', (o) => this.#unindex(o as AnyInvoker));
      }
      this.informers.set(kind, inf);
    }
  }

  #id(inv: AnyInvoker): string {
    return `${inv.kind}/${keyOf(inv as KubeObject)}`;
  }

  #index(inv: AnyInvoker): void {
    this.#unindex(inv);
    const id = this.#id(inv);
    const keys = targetRefsOf(inv).map((r) => targetKey(r));
    this.#keysOf.set(id, keys);
    for (const k of keys) {
      let m = this.#byWorkload.get(k);
      if (!m) this.#byWorkload.set(k, (m = new Map()));
      m.set(id, inv);
    }
  }

  #unindex(inv: AnyInvoker): void {
    const id = this.#id(inv);
    for (const k of this.#keysOf.get(id) ?? []) {
      const m = this.#byWorkload.get(k);
      m?.delete(id);
      if (m?.size === 0) this.#byWorkload.delete(k);
    }
    this.#keysOf.delete(id);
  }

  #for(workload: WorkloadRef, kinds: readonly string[]): AnyInvoker[] {
    const m = this.#byWorkload.get(targetKey(workload));
    return m ? [...m.values()].filter((i) => kinds.includes(i.kind ?? '')) : [];
  }

  backupInvokersFor(workload: WorkloadRef): BackupInvoker[] {
    return this.#for(workload, BACKUP_KINDS) as BackupInvoker[];
  }

  restoreInvokersFor(workload: WorkloadRef): RestoreInvoker[] {
    return this.#for(workload, RESTORE_KINDS) as RestoreInvoker[];
  }

  repository(namespace: string, name: string): Repository | undefined {
    return this.informers.get('Repository')?.get(namespace, name) as Repository | undefined;
  }

  start(): this {
    for (const inf of this.informers.values()) inf.start();
    return this;
  }

  get synced(): boolean {
    return [...this.informers.values()].every((i) => i.synced);
  }

  async waitForSync(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }
}
