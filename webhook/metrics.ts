// Prometheus metrics derived from session status (docs/architecture.md §4: no pushgateway). Session counts by phase are
// computed at scrape time from the operator's informer caches; last-success time and duration are recorded
// by the session loops when they set MetricsPushed (the moment a session becomes final).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';

export interface SessionLike {
  kind?: string;
  metadata?: { namespace?: string; labels?: Record<string, string> };
  spec?: { invoker?: { kind?: string; name?: string } };
  status?: { phase?: string };
}

export class StashMetrics {
  readonly registry = new Registry();
  readonly #sources: Array<() => Iterable<SessionLike>> = [];
  readonly lastSuccess: Gauge<string>;
  readonly lastDuration: Gauge<string>;
  readonly targetLastSuccess: Gauge<string>;
  readonly targetLastDuration: Gauge<string>;
  readonly sessionsFinished: Counter<string>;
  readonly hookFailures: Counter<string>;

  constructor() {
    const sources = this.#sources;
    new Gauge({
      name: 'stash_sessions',
      help: 'BackupSessions, RestoreSessions and RestoreBatches known to the operator, by kind, namespace, invoker and phase.',
      labelNames: ['kind', 'namespace', 'invoker_kind', 'invoker_name', 'phase'],
      registers: [this.registry],
      collect() {
        this.reset();
        const counts = new Map<string, { labels: Record<string, string>; n: number }>();
        for (const src of sources) {
          for (const s of src()) {
            const labels = {
              kind: s.kind ?? '',
              namespace: s.metadata?.namespace ?? '',
              invoker_kind: s.spec?.invoker?.kind ?? s.kind ?? '',
              invoker_name: s.spec?.invoker?.name ?? (s.metadata as { name?: string } | undefined)?.name ?? '',
              phase: s.status?.phase || 'Pending',
            };
            const key = JSON.stringify(labels);
            const e = counts.get(key) ?? { labels, n: 0 };
            e.n++;
            counts.set(key, e);
          }
        }
        for (const { labels, n } of counts.values()) this.set(labels, n);
      },
    });
    const inv = ['namespace', 'invoker_kind', 'invoker_name'];
    const tgt = [...inv, 'target_kind', 'target_name', 'target_namespace'];
    this.lastSuccess = new Gauge({
      name: 'stash_last_success_timestamp_seconds',
      help: 'Unix time the last session of this invoker succeeded.',
      labelNames: inv,
      registers: [this.registry],
    });
    this.lastDuration = new Gauge({
      name: 'stash_last_session_duration_seconds',
      help: 'Duration of the last finished session of this invoker.',
      labelNames: [...inv, 'phase'],
      registers: [this.registry],
    });
    this.targetLastSuccess = new Gauge({
      name: 'stash_target_last_success_timestamp_seconds',
      help: 'Unix time this target last finished successfully.',
      labelNames: tgt,
      registers: [this.registry],
    });
    this.targetLastDuration = new Gauge({
      name: 'stash_target_last_duration_seconds',
      help: 'Longest host duration of this target in its last finished session.',
      labelNames: tgt,
      registers: [this.registry],
    });
    this.sessionsFinished = new Counter({
      name: 'stash_sessions_finished_total',
      help: 'Sessions that reached a final phase.',
      labelNames: [...inv, 'phase'],
      registers: [this.registry],
    });
    this.hookFailures = new Counter({
      name: 'stash_hook_failures_total',
      help: 'Hooks run by the operator that failed.',
      labelNames: [...inv, 'hook'],
      registers: [this.registry],
    });
  }

  /** Adds a source of sessions (an informer's list) to count by phase at scrape time; returns its remover. */
  addSessionSource(src: () => Iterable<SessionLike>): () => void {
    this.#sources.push(src);
    return () => {
      const i = this.#sources.indexOf(src);
      if (i >= 0) this.#sources.splice(i, 1);
    };
  }

  async text(): Promise<string> {
    return await this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** The process-wide metrics the controllers record into and `serveMetrics` exposes. */
export const metrics = new StashMetrics();

/**
 * Serves GET /metrics (Prometheus text format) on host:port; resolves once listening. Port 0 picks a free
 * port (see `address`).
 */
export async function serveMetrics(opts: {
  host?: string;
  port: number;
  metrics?: StashMetrics;
}): Promise<{ server: http.Server; port: number; close(): Promise<void> }> {
  const m = opts.metrics ?? metrics;
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    m.text().then(
      (body) => res.writeHead(200, { 'content-type': m.contentType }).end(body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return { server, port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
