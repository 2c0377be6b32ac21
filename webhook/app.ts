// The operator's HTTPS admission server (docs/architecture.md §2, docs/api.md §13, §18). buildApp() returns the fastify
// instance without listening, so tests drive it with inject() and main.ts decides where it listens.
//
// Every admission answer is a well-formed AdmissionReview echoing the request's uid; when a body has no uid to
// echo, the answer is an HTTP 400 with a JSON body. A failure inside workload mutation admits the workload unchanged
// (with a warning): workloads are failurePolicy Ignore by design, and the operator's reconcile path heals them later.
// First: it must run before the modules below have queued ticks through a full collection (see the module).
import '../shared/tick-shape.ts';
import { performance } from 'node:perf_hooks';
import fastifyFactory, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import fastJsonPatch from 'fast-json-patch';
import { pino } from 'pino';
import { GROUP, KINDS } from '../shared/api/constants.ts';
import { errorMessage } from '../shared/errors.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import type { InjectOptions } from './admission/inject.ts';
import { INJECTABLE, mayHoldStashParts, migrateRestoreRules, mutateWorkloadShared, UNTARGETED } from './admission/mutate.ts';
import {
  allow, allowPatchText, allowText, decodeReview, deny, parseReview, reviewShell, type AdmissionRequest, type AdmissionReviewOut,
} from './admission/review.ts';
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

interface LineSink { write(line: string): unknown; flushSync?: () => void }

/**
 * Holds access lines and hands them to the logger's stream in large writes: at most MAX_DELAY_MS after the first
 * held line, or at once when MAX_BYTES are full. Under load the stream's own flushes (a file or pipe write for every
 * few KiB with pino's asynchronous destination) cost more than formatting the lines, so fewer, larger writes are a
 * real saving per admission. Lines are copied as UTF-8 into one buffer outside the JavaScript heap as they come:
 * a held line kept as a string (a tree of concatenated pieces) would be copied by every young-generation collection
 * it lived through, which measured as much as the writes saved. Lines keep their order and their timestamps (taken
 * when logged); other log lines, written straight to the stream, can land up to MAX_DELAY_MS before access lines of
 * the same moment. Held lines are written on close and, as a last resort, on process exit, so a clean or fatal
 * exit loses none.
 */
class AccessBuffer {
  private static readonly MAX_BYTES = 32 * 1024;
  private static readonly MAX_DELAY_MS = 100;
  private readonly bytes = Buffer.allocUnsafe(AccessBuffer.MAX_BYTES);
  private used = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly target: LineSink;
  private readonly flushBound = () => this.flush();

  constructor(target: LineSink) {
    this.target = target;
  }

  write(line: string): void {
    // A UTF-16 unit takes at most 3 bytes in UTF-8 (a surrogate pair, two units, takes 4).
    if (this.used + line.length * 3 > AccessBuffer.MAX_BYTES) {
      this.flush();
      if (line.length * 3 > AccessBuffer.MAX_BYTES) return this.send(line);
    }
    this.used += this.bytes.write(line, this.used, 'utf8');
    if (!this.timer) {
      this.timer = setTimeout(this.flushBound, AccessBuffer.MAX_DELAY_MS);
      // Idle buffers must not keep a finished process (a test, a drained operator) alive.
      this.timer.unref();
      liveBuffers.add(this);
    }
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    liveBuffers.delete(this);
    if (this.used === 0) return;
    const text = this.bytes.toString('utf8', 0, this.used);
    this.used = 0;
    this.send(text);
  }

  private send(text: string): void {
    try {
      this.target.write(text);
    } catch {
      // A stream closed under us (shutdown): losing access lines must not take the process down from a timer.
    }
  }

  /** On exit: the stream's own exit flush may already have run, so this writes through synchronously. */
  flushAtExit(): void {
    this.flush();
    try {
      this.target.flushSync?.();
    } catch {
      // Nothing left to do on the way out.
    }
  }
}

// Buffers holding lines; one exit listener for all of them, however many apps a process builds (tests build many).
const liveBuffers = new Set<AccessBuffer>();
process.once('exit', () => {
  for (const b of liveBuffers) b.flushAtExit();
});

interface AccessRecord {
  uid: string;
  /** The uid as JSON text (already written for the answer). */
  uidJson: string;
  path: string;
  /** The route path as JSON text. */
  pathJson: string;
  op: string;
  kind: string;
  ns: string | undefined;
  name: string | undefined;
  allowed: boolean;
  patched: boolean;
  note: string;
  /** Handling time in whole microseconds; the line says it in milliseconds. */
  us: number;
}

/**
 * JSON text of strings that repeat from request to request (kinds, outcome notes), so a line does not pay a
 * JSON.stringify call for each. Bounded, since kinds come from requests; past the bound it starts over.
 */
class JsonTextCache {
  private readonly map = new Map<string, string>();
  text(s: string): string {
    let t = this.map.get(s);
    if (t === undefined) {
      if (this.map.size >= 256) this.map.clear();
      t = JSON.stringify(s);
      this.map.set(s, t);
    }
    return t;
  }
}

/**
 * `us / 1000` as JavaScript (and so pino) writes it, from integer arithmetic: formatting a fractional double
 * measured as a visible part of the line's cost.
 */
export function msText(us: number): string {
  // Exact below 1e12 µs (11 days); past that, or for anything odd, the double itself.
  if (!Number.isInteger(us) || us < 0 || us >= 1e12) return String(us / 1000);
  const whole = Math.floor(us / 1000);
  const frac = us - whole * 1000;
  if (frac === 0) return String(whole);
  if (frac % 100 === 0) return `${whole}.${frac / 100}`;
  if (frac % 10 === 0) return `${whole}.${frac < 100 ? '0' : ''}${frac / 10}`;
  return `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

/**
 * The one info line per admission. It carries only fixed, non-secret fields (uid, kind, names, outcome), so it
 * skips the root logger's redaction, which costs more than the whole mutation on the hot path; and since its shape
 * never changes it is written here, as the exact line pino writes for `info(record, 'admission')` (level, time, the
 * root's bindings, the fields in this order with undefined ones left out, msg), rather than through pino's generic
 * serialiser, which measured several times the cost of the line's own JSON. It goes to the root logger's own
 * stream through an AccessBuffer and obeys the root's level.
 */
function accessLogger(log: Logger): { write: (r: AccessRecord) => void; flush: () => void } {
  const syms = log as unknown as Record<symbol, unknown>;
  const stream = syms[pino.symbols.streamSym] as LineSink | undefined;
  const chindings = syms[pino.symbols.chindingsSym];
  if (!stream || typeof stream.write !== 'function' || typeof chindings !== 'string') {
    const child = log.child({}, { redact: [] });
    return {
      write: (r) => child.info({
        uid: r.uid, path: r.path, op: r.op, kind: r.kind, ns: r.ns, name: r.name,
        allowed: r.allowed, patched: r.patched, note: r.note, ms: r.us / 1000,
      }, 'admission'),
      flush: () => undefined,
    };
  }
  const buffer = new AccessBuffer(stream);
  const info = log.levels.values.info ?? 30;
  const head = `{"level":${info},"time":`;
  const cached = new JsonTextCache();
  const str = JSON.stringify;
  return {
    write(r) {
      if (!log.isLevelEnabled('info')) return;
      let line = `${head}${Date.now()}${chindings},"uid":${r.uidJson},"path":${r.pathJson},"op":${cached.text(r.op)},"kind":${cached.text(r.kind)}`;
      if (r.ns !== undefined) line += `,"ns":${str(r.ns)}`;
      if (r.name !== undefined) line += `,"name":${str(r.name)}`;
      line += `,"allowed":${r.allowed},"patched":${r.patched},"note":${cached.text(r.note)},"ms":${msText(r.us)},"msg":"admission"}\n`;
      buffer.write(line);
    },
    flush: () => buffer.flush(),
  };
}

/** An answer some reviews can get from their envelope, when their objects' text is `wanted` (see reviewShell). */
interface EarlyAnswer {
  wanted: (objectsText: string) => boolean;
  answer: (r: AdmissionRequest, uidJson: string) => Answer | undefined;
}

/** What an admission handler answers: the review as JSON text, and what the access line says about it. */
interface Answer {
  text: string;
  allowed: boolean;
  patched: boolean;
  note: string;
}

function answer(out: AdmissionReviewOut, note: string): Answer {
  return { text: JSON.stringify(out), allowed: out.response.allowed, patched: out.response.patch !== undefined, note };
}

const JSON_TYPE = 'application/json; charset=utf-8';

export function buildApp(deps: AppDeps): AnyApp {
  const log = deps.logger ?? createLogger({ level: 'silent' });
  const reloader = deps.tls ? new CertificateReloader(deps.tls, log) : undefined;
  // fastify gets no logger: with one it builds a child logger and hooks the response's finish for every request,
  // which measured a visible share of an admission, for request logging we switch off anyway. Everything this app
  // logs goes through `log` (redacted) or the access line below.
  const app = fastifyFactory({
    logController: new LogController({ disableRequestLogging: true }),
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
    log.warn({ err: errorMessage(err), code, url: request.url }, 'request failed');
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

  function mutateWorkloadReview(r: AdmissionRequest, uidJson: string): Answer {
    if (r.operation !== 'CREATE' && r.operation !== 'UPDATE') return allowedText(uidJson, 'operation');
    if (INJECTABLE[r.kind.kind] !== r.kind.group || !isRecord(r.object)) return allowedText(uidJson, 'not a workload');
    try {
      const w = workloadRef(r, r.object);
      // The shared variant copies only what it edits, so the diff below walks just that spine.
      const result = mutateWorkloadShared(r.object, {
        backup: invokers.backupInvokersFor(w),
        restore: invokers.restoreInvokersFor(w),
        repository,
      }, injectOpts, { namespace: w.namespace });
      if ('skip' in result) return allowedText(uidJson, result.skip);
      // Written straight to JSON text: the same operations fast-json-patch's compare() gives, without its deep
      // copies of every added value and the second serialisation (see patch.ts).
      const patch = patchJson(r.object, result.mutated);
      const note = result.actions.join(',');
      if (patch.count === 0) return allowedText(uidJson, note);
      return { text: allowPatchText(uidJson, patch.json), allowed: true, patched: true, note };
    } catch (err) {
      log.error({ uid: r.uid, err: errorMessage(err) }, 'workload mutation failed');
      return answer(allow(r.uid, undefined, [`stash: sidecar injection skipped: ${errorMessage(err)}`]), 'error');
    }
  }

  /**
   * The answer for a workload that no invoker targets and whose objects' text holds nothing of ours (most workload
   * admissions in a cluster): the decision mutateWorkloadReview would reach, from the envelope alone. Undefined
   * when the objects have to be decoded. The apiserver fills request.name and request.namespace from the object.
   * The objects' text is searched before the envelope is decoded (see admissionRoute).
   */
  const untargetedWorkload: EarlyAnswer = {
    wanted: (objectsText) => !mayHoldStashParts(objectsText),
    answer: untargetedWorkloadAnswer,
  };

  function untargetedWorkloadAnswer(r: AdmissionRequest, uidJson: string): Answer | undefined {
    if ((r.operation !== 'CREATE' && r.operation !== 'UPDATE') || INJECTABLE[r.kind.kind] !== r.kind.group) return undefined;
    if (!r.name || !r.namespace) return undefined;
    const w: WorkloadRef = { apiVersion: `${r.kind.group}/${r.kind.version}`, kind: r.kind.kind, name: r.name, namespace: r.namespace };
    try {
      if (invokers.backupInvokersFor(w).length > 0 || invokers.restoreInvokersFor(w).length > 0) return undefined;
    } catch {
      return undefined; // the full path answers this, with the warning
    }
    return allowedText(uidJson, UNTARGETED);
  }

  function mutateStashReview(r: AdmissionRequest): Answer {
    if (r.kind.group !== GROUP || (r.operation !== 'CREATE' && r.operation !== 'UPDATE') || !isRecord(r.object)) {
      return answer(allow(r.uid), 'not ours');
    }
    try {
      const migrated = r.kind.kind === KINDS.RestoreSession.kind ? migrateRestoreRules(r.object) : undefined;
      if (!migrated) return answer(allow(r.uid), 'unchanged');
      return answer(allow(r.uid, fastJsonPatch.compare(r.object, migrated)), 'rules moved to spec.target.rules');
    } catch (err) {
      return answer(deny(r.uid, 500, `stash: mutation failed: ${errorMessage(err)}`, 'InternalError'), 'error');
    }
  }

  function validateStashReview(r: AdmissionRequest): Answer {
    if (r.kind.group !== GROUP) return answer(allow(r.uid), 'not ours');
    try {
      const problems = validateStash({
        kind: r.kind.kind, operation: r.operation, namespace: r.namespace, object: r.object, oldObject: r.oldObject,
      }, { repository });
      if (problems.length === 0) return answer(allow(r.uid), 'valid');
      const meta = isRecord(r.object) && isRecord(r.object.metadata) ? r.object.metadata : {};
      const name = `${r.namespace ?? ''}/${typeof meta.name === 'string' ? meta.name : (r.name ?? '')}`;
      return answer(deny(r.uid, 422, problemsMessage(r.kind.kind, name, problems), 'Invalid'), `${problems.length} problem(s)`);
    } catch (err) {
      log.error({ uid: r.uid, err: errorMessage(err) }, 'validation failed');
      return answer(deny(r.uid, 500, `stash: validation failed: ${errorMessage(err)}`, 'InternalError'), 'error');
    }
  }

  /**
   * `withOldObject: false` lets the body decoder leave request.oldObject out (see decodeReview). `early`, tried on
   * the review less its objects when the body has the apiserver's shape and its objects' text is `wanted`
   * (reviewShell), may answer without them.
   */
  function admissionRoute(
    path: string, handle: (r: AdmissionRequest, uidJson: string) => Answer, withOldObject: boolean, early?: EarlyAnswer,
  ): void {
    const pathJson = JSON.stringify(path);
    app.post(path, (request, reply) => {
      const start = performance.now();
      const text = typeof request.body === 'string' && request.body !== '' ? request.body : undefined;
      let done: { r: AdmissionRequest; uidJson: string; a: Answer } | undefined;
      const shell = early && text !== undefined ? reviewShell(text, early.wanted) : undefined;
      if (shell) {
        const parsed = parseReview(shell.review);
        if (parsed.ok) {
          const uidJson = JSON.stringify(parsed.request.uid);
          const a = early!.answer(parsed.request, uidJson);
          if (a) done = { r: parsed.request, uidJson, a };
        }
      }
      if (!done) {
        let body: unknown;
        try {
          body = text !== undefined ? decodeReview(text, withOldObject) : undefined;
        } catch (err) {
          return badRequest(reply, `body is not valid JSON: ${errorMessage(err)}`);
        }
        const parsed = parseReview(body);
        if (!parsed.ok) {
          if (parsed.uid === undefined) return badRequest(reply, parsed.message);
          log.warn({ uid: parsed.uid, path, reason: parsed.message }, 'malformed admission review');
          return void reply.send(deny(parsed.uid, 400, `malformed AdmissionReview: ${parsed.message}`, 'BadRequest'));
        }
        const uidJson = JSON.stringify(parsed.request.uid);
        done = { r: parsed.request, uidJson, a: handle(parsed.request, uidJson) };
      }
      const { r, uidJson, a } = done;
      accessLog.write({
        uid: r.uid, uidJson, path, pathJson, op: r.operation, kind: r.kind.kind, ns: r.namespace, name: r.name,
        allowed: a.allowed, patched: a.patched, note: a.note, us: Math.round((performance.now() - start) * 1000),
      });
      // Already JSON: with the content type set, fastify sends the text as is instead of serialising an object.
      return void reply.type(JSON_TYPE).send(a.text);
    });
  }

  function badRequest(reply: FastifyReply, message: string): void {
    void reply.code(400).send({ error: 'bad request', message });
  }

  // Workload mutation decides from the new object alone; validation compares with the old one (BackupSession
  // spec immutability), and /mutate-stash is rare enough not to matter.
  admissionRoute(ROUTES.mutateWorkload, mutateWorkloadReview, false, untargetedWorkload);
  admissionRoute(ROUTES.mutateStash, mutateStashReview, true);
  admissionRoute(ROUTES.validateStash, validateStashReview, true);

  app.get(ROUTES.healthz, (_req, reply) => void reply.send({ status: 'ok' }));
  app.get(ROUTES.readyz, (_req, reply) => {
    const ok = deps.ready ? deps.ready() : true;
    void reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'not ready' });
  });
  return app;
}

function allowedText(uidJson: string, note: string): Answer {
  return { text: allowText(uidJson), allowed: true, patched: false, note };
}
