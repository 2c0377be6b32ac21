// One thin client over the Kubernetes REST API. It speaks HTTP itself so that every call can choose its
// patch content type, target the status subresource, and stream watches with the same connection pool;
// @kubernetes/client-node is loaded only by the few callers that need it (pods/exec). Our own rather than
// client-node's request layer: importing client-node raises a process's RSS by about 80 MiB, which every
// backed-up pod would pay for its sidecar.
//
// Transient failures (no connection, a timeout, a reset, 429, 5xx) are retried here, with capped and
// jittered backoff, so that no caller drops its work because the apiserver restarted under it: until the
// deadline of the view (`withRetry`) or, without one, for `RetryPolicy.capMs`. Other 4xx answers are never
// retried; 409 is the caller's (update re-reads).
import type { Agent as HttpAgent, IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ObjectMeta } from '../api/meta.ts';
import { KubeError, errorMessage } from '../errors.ts';
import { loadConnection, type Connection } from './kubeconfig.ts';
import { resourceFor, resourcePath, type ResourceInfo } from './resources.ts';
import { http, https } from '../node-http.ts';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [k: string]: unknown;
}

export interface ObjectList<T> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface RequestOptions {
  method?: string;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The body as text, not parsed as JSON (a pod's log). */
  raw?: boolean;
}

export const CONTENT = {
  json: 'application/json',
  merge: 'application/merge-patch+json',
  jsonPatch: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

export interface RetryPolicy {
  /** Epoch ms after which a transient failure is final: a session's deadline. Wins over capMs. */
  deadline?: number | undefined;
  /** Without a deadline, how long one call keeps retrying. 0: one attempt only. */
  capMs: number;
  /** First delay; doubles per attempt up to maxDelayMs, each drawn from [half, all] of it (jitter). */
  initialDelayMs: number;
  maxDelayMs: number;
}

/**
 * Longer than an apiserver restart takes (seconds) and shorter than the operator's heartbeat liveness
 * bound (120 s), so a caller without a deadline learns of a real outage while its work still counts.
 */
export const DEFAULT_RETRY: RetryPolicy = { capMs: 60_000, initialDelayMs: 250, maxDelayMs: 8_000 };

/** Worth another attempt: the request may not have reached the apiserver, or it asked us to come back. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof KubeError)) return false;
  if (err.status === undefined) return true;
  return err.status === 429 || err.status >= 500;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
}

export class Kube {
  readonly connection: Connection;
  readonly server: URL;
  readonly fieldManager: string;
  readonly retry: RetryPolicy;
  #agent: HttpAgent;
  /** Views made by withRetry share the connection pool; only its creator closes it. */
  #ownsAgent: boolean;
  #clientNode: Promise<KubeConfig> | undefined;

  constructor(
    connection: Connection,
    fieldManager = 'stash-ts',
    opts: { retry?: Partial<RetryPolicy>; agent?: HttpAgent } = {},
  ) {
    this.connection = connection;
    this.server = new URL(connection.server);
    this.fieldManager = fieldManager;
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.#ownsAgent = !opts.agent;
    this.#agent =
      opts.agent ??
      (this.server.protocol === 'https:'
        ? new https.Agent({
            keepAlive: true,
            maxSockets: 64,
            ca: connection.ca,
            cert: connection.cert,
            key: connection.key,
            rejectUnauthorized: !connection.insecureSkipTlsVerify,
          })
        : new http.Agent({ keepAlive: true }));
  }

  /**
   * The same client with another retry policy (a session run's deadline, a Lease renewal that must give up
   * before its renew deadline). Shares the connection pool; closing the view leaves the pool open.
   */
  withRetry(retry: Partial<RetryPolicy>): Kube {
    return new Kube(this.connection, this.fieldManager, { retry: { ...this.retry, ...retry }, agent: this.#agent });
  }

  /** From an explicit kubeconfig file, else $KUBECONFIG, else the in-cluster service account, else ~/.kube/config. */
  static load(kubeconfigPath?: string, fieldManager?: string): Kube {
    return new Kube(loadConnection(kubeconfigPath), fieldManager);
  }

  /** The same connection as a @kubernetes/client-node KubeConfig, for its Exec; the library loads on first use. */
  async clientNodeConfig(): Promise<KubeConfig> {
    this.#clientNode ??= import('@kubernetes/client-node').then(({ KubeConfig: Config }) => {
      const kc = new Config();
      if (this.connection.source.kind === 'file') kc.loadFromFile(this.connection.source.path);
      else kc.loadFromCluster();
      return kc;
    });
    return await this.#clientNode;
  }

  #headers(): Record<string, string> {
    const { token, tokenFile } = this.connection;
    const bearer = tokenFile ? readFileSync(tokenFile, 'utf8').trim() : token;
    return bearer ? { authorization: `Bearer ${bearer}` } : {};
  }

  #url(path: string, query?: RequestOptions['query']): URL {
    const url = new URL(this.server.pathname.replace(/\/$/, '') + path, this.server);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  async #send(o: RequestOptions): Promise<IncomingMessage> {
    const url = this.#url(o.path, o.query);
    const payload = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
    const headers: Record<string, string> = { accept: o.raw ? '*/*' : 'application/json', ...this.#headers() };
    if (payload !== undefined) {
      headers['content-type'] = o.contentType ?? CONTENT.json;
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const mod = url.protocol === 'https:' ? https : http;
    return await new Promise<IncomingMessage>((resolve, reject) => {
      const req = mod.request(
        url,
        { method: o.method ?? 'GET', headers, agent: this.#agent, signal: o.signal },
        resolve,
      );
      if (o.timeoutMs) req.setTimeout(o.timeoutMs, () => req.destroy(new Error(`timed out after ${o.timeoutMs} ms`)));
      req.on('error', (err) =>
        reject(new KubeError(`${o.method ?? 'GET'} ${o.path}: ${err.message}`, undefined, { cause: err })),
      );
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /**
   * One call; resolves with the decoded body, throws KubeError carrying the HTTP status. Transient failures
   * are retried under this client's policy (see the file comment) until it runs out or `o.signal` aborts.
   */
  async request<T = unknown>(o: RequestOptions): Promise<T> {
    const { capMs, deadline, initialDelayMs, maxDelayMs } = this.retry;
    const giveUpAt = deadline ?? Date.now() + capMs;
    let delay = initialDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.requestOnce<T>(o);
      } catch (err) {
        if (!isTransient(err) || o.signal?.aborted) throw err;
        const retryAfter = err instanceof KubeError ? (err.retryAfterMs ?? 0) : 0;
        const wait = Math.max(retryAfter, delay * (0.5 + Math.random() / 2));
        if (Date.now() + wait > giveUpAt) {
          if (attempt === 1) throw err;
          throw new KubeError(
            `${errorMessage(err)} (still failing after ${attempt} attempts)`,
            (err as KubeError).status,
            { cause: err },
          );
        }
        await sleep(wait, undefined, { signal: o.signal }).catch(() => undefined);
        if (o.signal?.aborted) throw err;
        delay = Math.min(maxDelayMs, delay * 2);
      }
    }
  }

  /** Exactly one attempt of `request`, no retry. */
  async requestOnce<T = unknown>(o: RequestOptions): Promise<T> {
    const res = await this.#send({ timeoutMs: 30_000, ...o });
    // Decoded as it arrives into a V8 string: a large body (a list, a Repository naming a thousand invokers)
    // then never needs a second, contiguous native buffer, which the allocator would keep after it is freed.
    res.setEncoding('utf8');
    let text = '';
    try {
      for await (const c of res) text += c as string;
    } catch (err) {
      // The connection broke mid-body: as transient as one that broke before it.
      throw new KubeError(`${o.method ?? 'GET'} ${o.path}: ${errorMessage(err)}`, undefined, { cause: err });
    }
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return (o.raw ? text : text ? JSON.parse(text) : undefined) as T;
    let message = text;
    try {
      const body = JSON.parse(text) as { message?: string };
      if (body.message) message = body.message;
    } catch {
      // not JSON: keep the raw text
    }
    const retryAfter = Number(res.headers['retry-after']);
    throw new KubeError(`${o.method ?? 'GET'} ${o.path}: ${status} ${message}`, status, {
      retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
    });
  }

  /** Streams a watch; each line is one event. Ends when the server closes or the signal aborts. */
  async *watch<T>(path: string, query: RequestOptions['query'], signal?: AbortSignal): AsyncGenerator<WatchEvent<T>> {
    const res = await this.#send({ path, query: { ...query, watch: true }, signal });
    if (res.statusCode !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      throw new KubeError(`watch ${path}: ${res.statusCode} ${Buffer.concat(chunks).toString('utf8')}`, res.statusCode);
    }
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (!line) continue;
        yield JSON.parse(line) as WatchEvent<T>;
      }
    } finally {
      res.destroy();
    }
  }

  // ---- typed helpers by apiVersion/kind ----

  info(apiVersion: string, kind: string): ResourceInfo {
    return resourceFor(apiVersion, kind);
  }

  async get<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
  ): Promise<T> {
    return await this.request<T>({ path: resourcePath(resourceFor(apiVersion, kind), namespace, name) });
  }

  /** Like get, but a missing object is null rather than an error. */
  async getOrNull<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
  ): Promise<T | null> {
    try {
      return await this.get<T>(apiVersion, kind, namespace, name);
    } catch (err) {
      if (err instanceof KubeError && err.status === 404) return null;
      throw err;
    }
  }

  async list<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    opts: ListOptions = {},
  ): Promise<ObjectList<T>> {
    return await this.request<ObjectList<T>>({
      path: resourcePath(resourceFor(apiVersion, kind), namespace),
      query: { ...opts },
    });
  }

  async create<T extends KubeObject>(obj: T, opts: { dryRun?: boolean } = {}): Promise<T> {
    const info = resourceFor(obj.apiVersion ?? '', obj.kind ?? '');
    return await this.request<T>({
      method: 'POST',
      path: resourcePath(info, obj.metadata?.namespace),
      body: obj,
      query: { fieldManager: this.fieldManager, dryRun: opts.dryRun ? 'All' : undefined },
    });
  }

  async replace<T extends KubeObject>(obj: T): Promise<T> {
    const info = resourceFor(obj.apiVersion ?? '', obj.kind ?? '');
    return await this.request<T>({
      method: 'PUT',
      path: resourcePath(info, obj.metadata?.namespace, obj.metadata?.name),
      body: obj,
      query: { fieldManager: this.fieldManager },
    });
  }

  /** Merge patch (RFC 7386) of the object or, with subresource 'status', of its status. */
  async patch<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    opts: { subresource?: string; contentType?: string } = {},
  ): Promise<T> {
    return await this.request<T>({
      method: 'PATCH',
      path: resourcePath(resourceFor(apiVersion, kind), namespace, name, opts.subresource),
      body: patch,
      contentType: opts.contentType ?? CONTENT.merge,
      query: { fieldManager: this.fieldManager },
    });
  }

  /** Server-side apply: creates or updates the fields this manager owns. */
  async apply<T extends KubeObject>(
    obj: T,
    opts: { force?: boolean; dryRun?: boolean; subresource?: string } = {},
  ): Promise<T> {
    const info = resourceFor(obj.apiVersion ?? '', obj.kind ?? '');
    return await this.request<T>({
      method: 'PATCH',
      path: resourcePath(info, obj.metadata?.namespace, obj.metadata?.name, opts.subresource),
      body: obj,
      contentType: CONTENT.apply,
      query: { fieldManager: this.fieldManager, force: opts.force ?? true, dryRun: opts.dryRun ? 'All' : undefined },
    });
  }

  /** Deletes; a missing object counts as deleted. Returns false when it was already gone. */
  async delete(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
    opts: { propagationPolicy?: 'Background' | 'Foreground' | 'Orphan'; gracePeriodSeconds?: number } = {},
  ): Promise<boolean> {
    try {
      await this.request({
        method: 'DELETE',
        path: resourcePath(resourceFor(apiVersion, kind), namespace, name),
        body: {
          kind: 'DeleteOptions',
          apiVersion: 'v1',
          propagationPolicy: opts.propagationPolicy ?? 'Background',
          gracePeriodSeconds: opts.gracePeriodSeconds,
        },
      });
      return true;
    } catch (err) {
      if (err instanceof KubeError && err.status === 404) return false;
      throw err;
    }
  }

  /**
   * Read-modify-write with optimistic concurrency: `mutate` gets the fresh object and returns the new one
   * (or null to do nothing); a 409 re-reads and tries again. With `current` (this object as read moments
   * ago) the first attempt skips the read: the PUT carries its resourceVersion, so a write by anyone since
   * is a 409 and the re-reads take over. Nothing can be lost either way, and the read it saves does not
   * count against `attempts`.
   */
  async update<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
    mutate: (current: T) => T | null | Promise<T | null>,
    opts: { subresource?: 'status'; attempts?: number; current?: T } = {},
  ): Promise<T | null> {
    const info = resourceFor(apiVersion, kind);
    const c = opts.current;
    const known =
      c?.metadata?.resourceVersion && c.metadata.name === name && c.metadata.namespace === namespace ? c : undefined;
    const attempts = (opts.attempts ?? 10) + (known ? 1 : 0);
    for (let i = 0; ; i++) {
      const current = i === 0 && known ? known : await this.request<T>({ path: resourcePath(info, namespace, name) });
      const next = await mutate(structuredClone(current));
      if (next === null) return current;
      try {
        return await this.request<T>({
          method: 'PUT',
          path: resourcePath(info, namespace, name, opts.subresource),
          body: next,
          query: { fieldManager: this.fieldManager },
        });
      } catch (err) {
        if (err instanceof KubeError && err.status === 409 && i + 1 < attempts) continue;
        throw err;
      }
    }
  }

  close(): void {
    if (this.#ownsAgent) this.#agent.destroy();
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeError && err.status === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeError && err.status === 409;
}
