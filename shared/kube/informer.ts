// A list+watch cache that keeps going: after a watch error or an apiserver restart it relists with
// capped, jittered backoff, and it relists on an interval anyway so an event lost in transit is repaired
// by the next diff. Handlers see add/update/delete derived from that diff as well as from the watch.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { KubeError, errorMessage } from '../errors.ts';
import { resourceFor, resourcePath } from './resources.ts';
import type { Kube, KubeObject, ObjectList } from './client.ts';

export type InformerEvent = 'add' | 'update' | 'delete';
export type Handler<T> = (obj: T, old?: T) => void | Promise<void>;

export interface InformerOptions<T extends KubeObject = KubeObject> {
  apiVersion: string;
  kind: string;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Full relist interval, to repair anything a watch missed. */
  relistMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  log?: Logger;
  /**
   * What the cache keeps of each object, applied once on arrival (list item or watch event) before handlers
   * see it: a controller that reads a few fields of a kind it watches in bulk keeps only those, and the rest
   * of each object becomes garbage at once. Gets a fresh object it may change or replace; must keep
   * metadata.name, namespace and resourceVersion.
   */
  transform?: (obj: T) => T;
}

/**
 * What the cache keeps of an object: everything but metadata.managedFields, which no controller reads and
 * which is often the largest part of an object written by several managers (as our patched workloads are).
 */
function trim<T extends KubeObject>(obj: T): T {
  if (obj.metadata && 'managedFields' in obj.metadata) delete obj.metadata.managedFields;
  return obj;
}

export function keyOf(obj: KubeObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

export class Informer<T extends KubeObject> {
  readonly #kube: Kube;
  readonly #opts: Required<
    Omit<InformerOptions<T>, 'namespace' | 'labelSelector' | 'fieldSelector' | 'log' | 'transform'>
  > &
    InformerOptions<T>;
  readonly #cache = new Map<string, T>();
  readonly #handlers: Record<InformerEvent, Array<Handler<T>>> = { add: [], update: [], delete: [] };
  #stop = new AbortController();
  #watchAbort: AbortController | undefined;
  #running: Promise<void> | undefined;
  #synced = false;
  #syncWaiters: Array<() => void> = [];
  /** Counts (re)lists, useful to tests and metrics. */
  lists = 0;

  constructor(kube: Kube, opts: InformerOptions<T>) {
    this.#kube = kube;
    this.#opts = { relistMs: 5 * 60_000, backoffInitialMs: 200, backoffMaxMs: 15_000, ...opts };
  }

  on(event: InformerEvent, handler: Handler<T>): this {
    this.#handlers[event].push(handler);
    return this;
  }

  off(event: InformerEvent, handler: Handler<T>): this {
    const list = this.#handlers[event];
    const i = list.indexOf(handler);
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#cache.get(`${namespace ?? ''}/${name}`);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Resolves once the first list has been loaded into the cache. */
  async waitForSync(): Promise<void> {
    if (this.#synced) return;
    await new Promise<void>((resolve) => this.#syncWaiters.push(resolve));
  }

  start(): this {
    if (!this.#running) this.#running = this.#loop();
    return this;
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    this.#watchAbort?.abort();
    await this.#running?.catch(() => undefined);
    this.#running = undefined;
  }

  /** An object as it arrived, made whole (list items come without apiVersion/kind) and cut to what is kept. */
  #keep(item: T): T {
    const obj = trim({ apiVersion: this.#opts.apiVersion, kind: this.#opts.kind, ...item } as T);
    return this.#opts.transform ? this.#opts.transform(obj) : obj;
  }

  #path(): string {
    return resourcePath(resourceFor(this.#opts.apiVersion, this.#opts.kind), this.#opts.namespace);
  }

  async #emit(event: InformerEvent, obj: T, old?: T): Promise<void> {
    for (const h of this.#handlers[event]) {
      try {
        await h(obj, old);
      } catch (err) {
        this.#opts.log?.error(
          { err: errorMessage(err), kind: this.#opts.kind, key: keyOf(obj) },
          'informer handler failed',
        );
      }
    }
  }

  async #relist(): Promise<string> {
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page: ObjectList<T> = await this.#kube.request<ObjectList<T>>({
        path: this.#path(),
        query: {
          labelSelector: this.#opts.labelSelector,
          fieldSelector: this.#opts.fieldSelector,
          limit: 500,
          continue: cont,
        },
        signal: this.#stop.signal,
      });
      for (const item of page.items) {
        const obj = this.#keep(item);
        fresh.set(keyOf(obj), obj);
      }
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion ?? rv;
    } while (cont);
    this.lists++;
    const old = new Map(this.#cache);
    this.#cache.clear();
    for (const [k, v] of fresh) this.#cache.set(k, v);
    for (const [k, v] of fresh) {
      const prev = old.get(k);
      if (!prev) await this.#emit('add', v);
      else if (prev.metadata?.resourceVersion !== v.metadata?.resourceVersion) await this.#emit('update', v, prev);
    }
    for (const [k, v] of old) if (!fresh.has(k)) await this.#emit('delete', v);
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w();
    }
    return rv;
  }

  async #watchFrom(rv: string, deadline: number): Promise<'relist'> {
    let resourceVersion = rv;
    while (!this.#stop.signal.aborted && Date.now() < deadline) {
      const abort = new AbortController();
      this.#watchAbort = abort;
      const onStop = () => abort.abort();
      this.#stop.signal.addEventListener('abort', onStop, { once: true });
      const timer = setTimeout(() => abort.abort(), Math.max(0, deadline - Date.now()));
      try {
        const events = this.#kube.watch<T>(
          this.#path(),
          {
            resourceVersion,
            allowWatchBookmarks: true,
            labelSelector: this.#opts.labelSelector,
            fieldSelector: this.#opts.fieldSelector,
            timeoutSeconds: Math.max(1, Math.ceil((deadline - Date.now()) / 1000)),
          },
          abort.signal,
        );
        for await (const ev of events) {
          if (ev.type === 'ERROR') {
            const status = ev.object as unknown as { code?: number; message?: string };
            if (status.code === 410) return 'relist';
            throw new KubeError(`watch ${this.#opts.kind}: ${status.message ?? 'error event'}`, status.code);
          }
          if (ev.type === 'BOOKMARK') {
            resourceVersion = ev.object.metadata?.resourceVersion ?? resourceVersion;
            continue;
          }
          const obj = this.#keep(ev.object);
          resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
          const key = keyOf(obj);
          const prev = this.#cache.get(key);
          if (ev.type === 'DELETED') {
            this.#cache.delete(key);
            await this.#emit('delete', obj);
          } else {
            this.#cache.set(key, obj);
            await this.#emit(prev ? 'update' : 'add', obj, prev);
          }
        }
      } catch (err) {
        if (abort.signal.aborted) continue;
        if (err instanceof KubeError && err.status === 410) return 'relist';
        throw err;
      } finally {
        clearTimeout(timer);
        this.#stop.signal.removeEventListener('abort', onStop);
      }
    }
    return 'relist';
  }

  async #loop(): Promise<void> {
    let backoff = this.#opts.backoffInitialMs;
    while (!this.#stop.signal.aborted) {
      try {
        const rv = await this.#relist();
        backoff = this.#opts.backoffInitialMs;
        await this.#watchFrom(rv, Date.now() + this.#opts.relistMs);
      } catch (err) {
        if (this.#stop.signal.aborted) break;
        const wait = Math.min(this.#opts.backoffMaxMs, backoff) * (0.5 + Math.random() / 2);
        this.#opts.log?.warn(
          { err: errorMessage(err), kind: this.#opts.kind, retryInMs: Math.round(wait) },
          'informer list/watch failed; retrying',
        );
        backoff = Math.min(this.#opts.backoffMaxMs, backoff * 2);
        await sleep(wait, undefined, { signal: this.#stop.signal }).catch(() => undefined);
      }
    }
  }
}
