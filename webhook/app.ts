// The operator's HTTPS admission server (docs/architecture.md §2, docs/api.md §13, §18): the HTTP wiring around the handlers
// in admission/handlers.ts. buildApp() returns the fastify instance without listening, so tests drive it with
// inject() and main.ts decides where it listens.
//
// Every admission answer is a well-formed AdmissionReview echoing the request's uid; when a body has no uid to
// echo (not JSON, not a review, too large), the answer is an HTTP 4xx with a JSON body.
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import fastifyFactory, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import { errorMessage } from '../shared/errors.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import {
  reviewOf,
  stashMutator,
  stashValidator,
  workloadMutator,
  errored,
  type Handler,
  type HandlerDeps,
  type Outcome,
} from './admission/handlers.ts';
import type { InjectOptions } from './admission/inject.ts';
import { parseReview } from './admission/review.ts';
import type { InvokerIndex } from './admission/types.ts';
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
  /** The root logger; for production, one on a buffered destination (see main.ts): one line per admission. */
  logger?: Logger;
  /** Serve HTTPS with this pair, reloaded when the files change. Without it the app speaks plain HTTP (tests). */
  tls?: TlsFiles;
  /** Readiness beyond "the process is up", e.g. informers synced. */
  ready?: () => boolean;
  /** Largest accepted body; an UPDATE review carries two objects of up to ~1.5 MiB each. */
  bodyLimit?: number;
}

const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;
/** How long the rest of an oversized body is read (and dropped) before the 413 goes out regardless. */
const TOO_LARGE_DRAIN_MS = 10_000;

/** Resolves once `body` has been read to its end (its data dropped), or after `ms`. */
function drained(body: IncomingMessage, ms: number): Promise<void> {
  if (body.complete || body.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      body.off('end', done).off('close', done);
      resolve();
    }
    body.on('end', done).on('close', done).resume();
  });
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const log = deps.logger ?? createLogger({ level: 'silent' });
  const reloader = deps.tls ? new CertificateReloader(deps.tls, log) : undefined;
  const bodyLimit = deps.bodyLimit ?? DEFAULT_BODY_LIMIT;
  // fastify gets no logger: with one it builds a child logger and hooks the response's finish for every request,
  // for request logging we switch off anyway. Each admission writes its own access line below.
  const app = fastifyFactory({
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    ...(reloader ? { https: reloader.current() } : {}),
  }) as unknown as FastifyInstance;
  if (reloader) {
    reloader.attach(app.server as unknown as import('node:tls').Server);
    app.addHook('onClose', async () => reloader.close());
  }

  // Bodies reach the handler as text, whatever their content type, so that a body that is not JSON, or JSON with
  // the wrong content type, still gets a proper answer.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.setErrorHandler(async (err: { statusCode?: number; message?: string }, request, reply) => {
    const code =
      typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    log.warn({ err: errorMessage(err), code, url: request.url }, 'request failed');
    if (code === 413) {
      // fastify stops reading an oversized body. Answering and closing with the rest still on its way resets the
      // connection, and a client still sending (the apiserver, curl) sees the reset, not the 413: read the rest
      // first, discarding it, for a bounded time.
      await drained(request.raw, TOO_LARGE_DRAIN_MS);
      return reply
        .code(413)
        .header('connection', 'close')
        .send({ error: 'payload too large', message: `request body is larger than the limit of ${bodyLimit} bytes` });
    }
    return reply
      .code(code)
      .send({ error: code === 500 ? 'internal error' : 'bad request', message: err.message ?? 'unknown error' });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: 'not found', message: `no route ${request.method} ${request.url}` });
  });

  const handlerDeps: HandlerDeps = { invokers: deps.invokers, inject: deps.inject };

  // One access line per request. It carries only fields that are never secret (uid, route, kind, names, outcome),
  // so it is written by a child without the root's redaction, which measured at ten times the cost of the line
  // itself; the child is made per request so that it takes the root's level of the moment. Everything else is
  // logged through the root, redacted. The object's name is `object`, since the root may bind `name` (the process's).
  const accessLog = (bindings: { uid?: string; path: string }) => log.child(bindings, { redact: [] });

  function admissionRoute(path: string, handle: Handler): void {
    app.post(path, async (request, reply) => {
      const start = performance.now();
      const text = typeof request.body === 'string' ? request.body : '';
      let body: unknown;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch (err) {
        return badRequest(reply, path, 'body is not valid JSON', `body is not valid JSON: ${errorMessage(err)}`);
      }
      if (body === undefined) return badRequest(reply, path, 'body is empty');
      const parsed = parseReview(body);
      if (!parsed.ok && parsed.uid === undefined) return badRequest(reply, path, parsed.message);
      const uid = parsed.ok ? parsed.request.uid : parsed.uid!;
      let outcome: Outcome;
      if (parsed.ok) {
        outcome = await handle(parsed.request, log);
      } else {
        log.warn({ uid, path, reason: parsed.message }, 'malformed admission review');
        outcome = errored(400, `malformed AdmissionReview: ${parsed.message}`);
      }
      const out = reviewOf(uid, outcome);
      const r = parsed.ok ? parsed.request : undefined;
      accessLog({ uid, path }).info(
        {
          op: r?.operation,
          kind: r?.kind.kind,
          ns: r?.namespace,
          object: r?.name,
          outcome: outcome.outcome,
          allowed: out.response.allowed,
          patched: out.response.patch !== undefined,
          note: outcome.note,
          ms: Math.round((performance.now() - start) * 1000) / 1000,
        },
        'admission',
      );
      return void reply.send(out);
    });
  }

  /** `note` is what the access line says: never the body's text, which JSON.parse's message may quote. */
  function badRequest(reply: FastifyReply, path: string, note: string, message = note): void {
    accessLog({ path }).info({ outcome: 'bad request', note }, 'admission');
    void reply.code(400).send({ error: 'bad request', message });
  }

  admissionRoute(ROUTES.mutateWorkload, workloadMutator(handlerDeps));
  admissionRoute(ROUTES.mutateStash, stashMutator());
  admissionRoute(ROUTES.validateStash, stashValidator(handlerDeps));

  app.get(ROUTES.healthz, (_req, reply) => void reply.send({ status: 'ok' }));
  app.get(ROUTES.readyz, (_req, reply) => {
    const ok = deps.ready ? deps.ready() : true;
    void reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'not ready' });
  });
  return app;
}
