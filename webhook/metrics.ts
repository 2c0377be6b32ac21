// Prometheus metrics of the operator (docs/architecture.md §4: no pushgateway). Every family is computed at
// scrape time from object status in the caches every replica keeps (webhook/metrics-source.ts), so the leader
// and a standby serve the same values and a failover or restart loses nothing: Stash's own families
// (webhook/stash-metrics.ts), two of ours where Stash has no equivalent, and prom-client's process and Node.js
// defaults.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CronExpressionParser } from 'cron-parser';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { renderFamilies, stashFamilies, type MetricsSource, type Obj } from './stash-metrics.ts';

export type { MetricsSource };

const EMPTY: MetricsSource = {
  backupInvokers: () => [],
  backupSessions: () => [],
  restoreInvokers: () => [],
  repositories: () => [],
};

/** The operator-run (global) hooks whose outcome a condition of the session or restore records. */
const HOOK_CONDITIONS: Record<string, string> = {
  GlobalPreBackupHookSucceeded: 'preBackup',
  GlobalPostBackupHookSucceeded: 'postBackup',
  GlobalPreRestoreHookSucceeded: 'preRestore',
  GlobalPostRestoreHookSucceeded: 'postRestore',
};

function invokerOf(o: Obj): { invoker_kind: string; invoker_name: string } {
  const ref = (o.spec as { invoker?: { kind?: string; name?: string } } | undefined)?.invoker;
  return ref
    ? { invoker_kind: ref.kind ?? '', invoker_name: ref.name ?? '' }
    : { invoker_kind: o.kind ?? '', invoker_name: o.metadata?.name ?? '' };
}

function* sessionsOf(src: MetricsSource): Iterable<Obj> {
  for (const s of src.backupSessions()) yield { ...s, kind: s.kind ?? 'BackupSession' };
  yield* src.restoreInvokers();
}

/** Seconds between the next two runs of a cron schedule; undefined when it does not parse. */
export function scheduleInterval(schedule: string, now = new Date()): number | undefined {
  try {
    const it = CronExpressionParser.parse(schedule, { currentDate: now });
    const a = it.next().getTime();
    return (it.next().getTime() - a) / 1000;
  } catch {
    return undefined;
  }
}

export class StashMetrics {
  readonly registry = new Registry();
  #source: MetricsSource = EMPTY;

  constructor(opts: { defaults?: boolean } = {}) {
    if (opts.defaults !== false) collectDefaultMetrics({ register: this.registry });
    const source = () => this.#source;
    new Gauge({
      name: 'stash_sessions',
      help: 'BackupSessions, RestoreSessions and RestoreBatches kept in the cluster, by kind, namespace, invoker and phase.',
      labelNames: ['kind', 'namespace', 'invoker_kind', 'invoker_name', 'phase'],
      registers: [this.registry],
      collect() {
        this.reset();
        const counts = new Map<string, { labels: Record<string, string>; n: number }>();
        for (const s of sessionsOf(source())) {
          const labels = {
            kind: s.kind ?? '',
            namespace: s.metadata?.namespace ?? '',
            ...invokerOf(s),
            phase: (s.status as { phase?: string } | undefined)?.phase || 'Pending',
          };
          const key = JSON.stringify(labels);
          const e = counts.get(key) ?? { labels, n: 0 };
          e.n++;
          counts.set(key, e);
        }
        for (const { labels, n } of counts.values()) this.set(labels, n);
      },
    });
    new Gauge({
      name: 'stash_hook_failed_sessions',
      help: 'Kept BackupSessions, RestoreSessions and RestoreBatches whose global hook (run by the operator) failed, by invoker and hook.',
      labelNames: ['namespace', 'invoker_kind', 'invoker_name', 'hook'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of sessionsOf(source())) {
          const conds = (s.status as { conditions?: Array<{ type?: string; status?: string }> } | undefined)
            ?.conditions;
          for (const c of conds ?? []) {
            const hook = HOOK_CONDITIONS[c.type ?? ''];
            if (hook && c.status === 'False')
              this.inc({ namespace: s.metadata?.namespace ?? '', ...invokerOf(s), hook });
          }
        }
      },
    });
    new Gauge({
      name: 'stash_backend_repository_initialized',
      help: 'Whether the newest BackupSession of this invoker that tried could reach and initialize its backend repository (1) or not (0).',
      labelNames: ['namespace', 'invoker_kind', 'invoker_name'],
      registers: [this.registry],
      collect() {
        this.reset();
        const newest = new Map<string, { at: string; labels: Record<string, string>; ok: boolean }>();
        for (const s of source().backupSessions()) {
          const conds = (s.status as { conditions?: Array<{ type?: string; status?: string }> } | undefined)
            ?.conditions;
          const c = conds?.find((x) => x.type === 'BackendRepositoryInitialized');
          if (!c || (c.status !== 'True' && c.status !== 'False')) continue;
          const labels = { namespace: s.metadata?.namespace ?? '', ...invokerOf(s) };
          const key = JSON.stringify(labels);
          const at = `${s.metadata?.creationTimestamp ?? ''}|${s.metadata?.name ?? ''}`;
          const prev = newest.get(key);
          if (!prev || at > prev.at) newest.set(key, { at, labels, ok: c.status === 'True' });
        }
        for (const { labels, ok } of newest.values()) this.set(labels, ok ? 1 : 0);
      },
    });
    new Gauge({
      name: 'stash_backup_schedule_interval_seconds',
      help: "Seconds between the next two runs of this invoker's schedule (unpaused invokers); alerts compare the age of the last success with it.",
      labelNames: ['namespace', 'invoker_kind', 'invoker_name'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const inv of source().backupInvokers()) {
          const spec = (inv.spec ?? {}) as { schedule?: string; paused?: boolean };
          const secs = spec.schedule && !spec.paused ? scheduleInterval(spec.schedule) : undefined;
          if (secs !== undefined)
            this.set(
              {
                namespace: inv.metadata?.namespace ?? '',
                invoker_kind: inv.kind ?? '',
                invoker_name: inv.metadata?.name ?? '',
              },
              secs,
            );
        }
      },
    });
  }

  /** Where every family reads its objects from (the informer caches); until set, only process metrics. */
  setSource(src: MetricsSource): void {
    this.#source = src;
  }

  async text(): Promise<string> {
    // prom-client's defaults include gauges named `_total` (nodejs_active_handles_total, …): exposed untyped, as
    // Stash's are (webhook/stash-metrics.ts), since a gauge so named fails the exposition lint.
    const own = (await this.registry.metrics()).replace(/^# TYPE (\S+_total) gauge$/gm, '# TYPE $1 untyped');
    return own + renderFamilies(stashFamilies(this.#source));
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** The process-wide metrics `serveMetrics` exposes by default. */
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
