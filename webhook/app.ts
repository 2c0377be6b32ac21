// The operator's HTTPS admission server (DESIGN.md §2, stash-api.md §13, §18). buildApp() returns the fastify
// instance without listening, so tests drive it with inject() and main.ts decides where it listens.
//
// Every admission answer is a well-formed AdmissionReview echoing the request's uid; when a body has no uid to
// echo, the answer is an HTTP 400 with a JSON body. A failure inside workload mutation admits the workload unchanged
// (with a warning): workloads are failurePolicy Ignore by design, and the operator's reconcile path heals them later.
import { performance } from 'node:perf_hooks';
import fastifyFactory, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import fastJsonPatch from 'fast-json-patch';
import { pino } from 'pino';
import { GROUP, KINDS } from '../shared/api/constants.ts';
import { errorMessage } from '../shared/errors.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import type { InjectOptions } from './admission/inject.ts';
import { INJECTABLE, migrateRestoreRules, mutateWorkloadShared } from './admission/mutate.ts';
import { allow, allowJsonPatch, deny, parseReview, type AdmissionRequest, type AdmissionReviewOut } from './admission/review.ts';
import type { InvokerIndex, WorkloadRef } from './admission/types.ts';
import { patchJson } from './admission/patch.ts';
import { problemsMessage, validateStash } from './admission/validate.ts';
import { CertificateReloader, type TlsFiles } from './tls.ts';

export const ROUTES = {
  mutateWorkload: '/mutate-workload',
  mutateStash: '/mutate-stash',
  validateStash: '/validate-stash',
  healthz: '/healthz',
  readyz: '/readyz',
} as const;

export interface AppDeps {
  invokers: InvokerIndex;
  inject: InjectOptions;
  logger?: Logger;
  /** Serve HTTPS with this pair, reloaded when the files change. Without it the app speaks plain HTTP (tests). */
  tls?: TlsFiles;
  /** Readiness beyond "the process is up", e.g. informers synced. */
  ready?: () => boolean;
  /** Largest accepted body; an UPDATE review carries two objects of up to ~1.5 MiB each. */
  bodyLimit?: number;
}

type AnyApp = FastifyInstance;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function workloadRef(req: AdmissionRequest, obj: Record<string, unknown>): WorkloadRef {
  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  return {
    apiVersion: typeof obj.apiVersion === 'string' ? obj.apiVersion : `${req.kind.group}/${req.kind.version}`,
    kind: req.kind.kind,
    name: typeof meta.name === 'string' ? meta.name : (req.name ?? ''),
    namespace: typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : (req.namespace ?? ''),
  };
}

interface LineSink { write(line: string): unknown }

/**
 * Holds the access lines of one event-loop turn and hands them to the logger's stream as one write. Under load a
 * turn answers several reviews, and a stream write (a syscall with pino's default synchronous stdout, buffer
 * bookkeeping with an asynchronous one) cost more than formatting the line. Lines keep their order and their
 * timestamps (taken when logged); they reach the stream at the end of the turn, or at once past MAX_LINES.
 */
class TurnBatch implements LineSink {
  private static readonly MAX_LINES = 256;
  private lines: string[] = [];
  private pending: NodeJS.Immediate | undefined;
  private readonly target: LineSink;
  private readonly flushBound = () => this.flush();

  constructor(target: LineSink) {
    this.target = target;
  }

  write(line: string): boolean {
    this.lines.push(line);
    if (this.lines.length >= TurnBatch.MAX_LINES) this.flush();
    else if (!this.pending) this.pending = setImmediate(this.flushBound);
    return true;
  }

  flush(): void {
    if (this.pending) clearImmediate(this.pending);
    this.pending = undefined;
    if (this.lines.length === 0) return;
    const text = this.lines.length === 1 ? this.lines[0]! : this.lines.join('');
    this.lines = [];
    try {
      this.target.write(text);
    } catch {
      // A stream closed under us (shutdown): losing access lines must not take the process down from a timer.
    }
  }
}

interface AccessRecord {
  uid: string;
  path: string;
  op: string;
  kind: string;
  ns: string | undefined;
  name: string | undefined;
  allowed: boolean;
  patched: boolean;
  note: string;
  ms: number;
}

/**
 * The one info line per admission. It carries only fixed, non-secret fields (uid, kind, names, outcome), so it
 * skips the root logger's redaction, which costs more than the whole mutation on the hot path; and since its shape
 * never changes it is written here, as the exact line pino writes for `info(record, 'admission')` (level, time, the
 * root's bindings, the fields in this order with undefined ones left out, msg), rather than through pino's generic
 * serialiser, which measured several times the cost of the line's own JSON. It goes to the root logger's own
 * stream through a TurnBatch and obeys the root's level.
 */
function accessLogger(log: Logger): { write: (r: AccessRecord) => void; flush: () => void } {
  const syms = log as unknown as Record<symbol, unknown>;
  const stream = syms[pino.symbols.streamSym] as LineSink | undefined;
  const chindings = syms[pino.symbols.chindingsSym];
  if (!stream || typeof stream.write !== 'function' || typeof chindings !== 'string') {
    const child = log.child({}, { redact: [] });
    return { write: (r) => child.info(r, 'admission'), flush: () => undefined };
  }
  const batch = new TurnBatch(stream);
  const info = log.levels.values.info ?? 30;
  const str = JSON.stringify;
  return {
    write(r) {
      if (!log.isLevelEnabled('info')) return;
      let line = `{"level":${info},"time":${Date.now()}${chindings},"uid":${str(r.uid)},"path":${str(r.path)},"op":${str(r.op)},"kind":${str(r.kind)}`;
      if (r.ns !== undefined) line += `,"ns":${str(r.ns)}`;
      if (r.name !== undefined) line += `,"name":${str(r.name)}`;
      line += `,"allowed":${r.allowed},"patched":${r.patched},"note":${str(r.note)},"ms":${r.ms},"msg":"admission"}\n`;
      batch.write(line);
    },
    flush: () => batch.flush(),
  };
}

export function buildApp(deps: AppDeps): AnyApp {
  const log = deps.logger ?? createLogger({ level: 'silent' });
  const reloader = deps.tls ? new CertificateReloader(deps.tls, log) : undefined;
  const app = fastifyFactory({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    // No per-request child logger: request context goes into the one admission line, and creating a redacting
    // child for every request was a measurable share of the hot path.
    childLoggerFactory: (logger) => logger,
    bodyLimit: deps.bodyLimit ?? 8 * 1024 * 1024,
    ...(reloader ? { https: reloader.current() } : {}),
  }) as unknown as AnyApp;
  if (reloader) {
    reloader.attach(app.server as unknown as import('node:tls').Server);
    app.addHook('onClose', async () => reloader.close());
  }

  // Bodies are decoded here rather than by fastify's JSON parser, so that a body that is not JSON, or JSON with
  // the wrong content type, still reaches the handler and gets a proper answer.
  app.removeAllContentTypeParsers();
  // application/json is named on its own because fastify finds an exact match faster than the catch-all.
  const asString = (_req: unknown, body: string | Buffer, done: (err: null, body: string | Buffer) => void) => done(null, body);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, asString);
  app.addContentTypeParser('*', { parseAs: 'string' }, asString);

  app.setErrorHandler((err: { statusCode?: number; message?: string }, request, reply) => {
    const code = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    request.log.warn({ err: errorMessage(err), code, url: request.url }, 'request failed');
    void reply.code(code).send({ error: code === 500 ? 'internal error' : 'bad request', message: err.message ?? 'unknown error' });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: 'not found', message: `no route ${request.method} ${request.url}` });
  });

  // Anything logged here other than the access line goes through `log` and stays redacted.
  const accessLog = accessLogger(log);
  app.addHook('onClose', async () => accessLog.flush());
  const injectOpts = deps.inject;
  const invokers = deps.invokers;
  const repository = (ns: string, name: string) => invokers.repository(ns, name);

  function mutateWorkloadReview(r: AdmissionRequest): { out: AdmissionReviewOut; note: string } {
    if (r.operation !== 'CREATE' && r.operation !== 'UPDATE') return { out: allow(r.uid), note: 'operation' };
    if (INJECTABLE[r.kind.kind] !== r.kind.group || !isRecord(r.object)) return { out: allow(r.uid), note: 'not a workload' };
    try {
      const w = workloadRef(r, r.object);
      // The shared variant copies only what it edits, so the diff below walks just that spine.
      const result = mutateWorkloadShared(r.object, {
        backup: invokers.backupInvokersFor(w),
        restore: invokers.restoreInvokersFor(w),
        repository,
      }, injectOpts, { namespace: w.namespace });
      if ('skip' in result) return { out: allow(r.uid), note: result.skip };
      // Written straight to JSON text: the same operations fast-json-patch's compare() gives, without its deep
      // copies of every added value and the second serialisation (see patch.ts).
      return { out: allowJsonPatch(r.uid, patchJson(r.object, result.mutated)), note: result.actions.join(',') };
    } catch (err) {
      log.error({ uid: r.uid, err: errorMessage(err) }, 'workload mutation failed');
      return { out: allow(r.uid, undefined, [`stash: sidecar injection skipped: ${errorMessage(err)}`]), note: 'error' };
    }
  }

  function mutateStashReview(r: AdmissionRequest): { out: AdmissionReviewOut; note: string } {
    if (r.kind.group !== GROUP || (r.operation !== 'CREATE' && r.operation !== 'UPDATE') || !isRecord(r.object)) {
      return { out: allow(r.uid), note: 'not ours' };
    }
    try {
      const migrated = r.kind.kind === KINDS.RestoreSession.kind ? migrateRestoreRules(r.object) : undefined;
      if (!migrated) return { out: allow(r.uid), note: 'unchanged' };
      return { out: allow(r.uid, fastJsonPatch.compare(r.object, migrated)), note: 'rules moved to spec.target.rules' };
    } catch (err) {
      return { out: deny(r.uid, 500, `stash: mutation failed: ${errorMessage(err)}`, 'InternalError'), note: 'error' };
    }
  }

  function validateStashReview(r: AdmissionRequest): { out: AdmissionReviewOut; note: string } {
    if (r.kind.group !== GROUP) return { out: allow(r.uid), note: 'not ours' };
    try {
      const problems = validateStash({
        kind: r.kind.kind, operation: r.operation, namespace: r.namespace, object: r.object, oldObject: r.oldObject,
      }, { repository });
      if (problems.length === 0) return { out: allow(r.uid), note: 'valid' };
      const meta = isRecord(r.object) && isRecord(r.object.metadata) ? r.object.metadata : {};
      const name = `${r.namespace ?? ''}/${typeof meta.name === 'string' ? meta.name : (r.name ?? '')}`;
      return { out: deny(r.uid, 422, problemsMessage(r.kind.kind, name, problems), 'Invalid'), note: `${problems.length} problem(s)` };
    } catch (err) {
      log.error({ uid: r.uid, err: errorMessage(err) }, 'validation failed');
      return { out: deny(r.uid, 500, `stash: validation failed: ${errorMessage(err)}`, 'InternalError'), note: 'error' };
    }
  }

  function admissionRoute(path: string, handle: (r: AdmissionRequest) => { out: AdmissionReviewOut; note: string }): void {
    app.post(path, (request, reply) => {
      const start = performance.now();
      let body: unknown;
      try {
        body = typeof request.body === 'string' && request.body !== '' ? JSON.parse(request.body) : undefined;
      } catch (err) {
        return badRequest(reply, `body is not valid JSON: ${errorMessage(err)}`);
      }
      const parsed = parseReview(body);
      if (!parsed.ok) {
        if (parsed.uid === undefined) return badRequest(reply, parsed.message);
        request.log.warn({ uid: parsed.uid, path, reason: parsed.message }, 'malformed admission review');
        return void reply.send(deny(parsed.uid, 400, `malformed AdmissionReview: ${parsed.message}`, 'BadRequest'));
      }
      const r = parsed.request;
      const { out, note } = handle(r);
      const res = out.response;
      accessLog.write({
        uid: r.uid, path, op: r.operation, kind: r.kind.kind, ns: r.namespace, name: r.name,
        allowed: res.allowed, patched: res.patch !== undefined, note, ms: Math.round((performance.now() - start) * 1000) / 1000,
      });
      return void reply.send(out);
    });
  }

  function badRequest(reply: FastifyReply, message: string): void {
    void reply.code(400).send({ error: 'bad request', message });
  }

  admissionRoute(ROUTES.mutateWorkload, mutateWorkloadReview);
  admissionRoute(ROUTES.mutateStash, mutateStashReview);
  admissionRoute(ROUTES.validateStash, validateStashReview);

  app.get(ROUTES.healthz, (_req, reply) => void reply.send({ status: 'ok' }));
  app.get(ROUTES.readyz, (_req, reply) => {
    const ok = deps.ready ? deps.ready() : true;
    void reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'not ready' });
  });
  return app;
}
