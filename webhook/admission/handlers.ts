// The admission handlers: each takes a decoded AdmissionRequest and returns a named outcome (allowed, patched,
// denied, errored), in the manner of controller-runtime's admission package. They know nothing of HTTP; app.ts
// decodes the body, calls one, and turns the outcome into the AdmissionReview the apiserver reads.
//
// Workloads are failurePolicy Ignore by design: a failure inside workload mutation admits the workload unchanged,
// with a warning, and the operator's reconcile path heals it later. Failures on our own kinds are errored answers.
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import type { Logger } from 'pino';
import { GROUP, KINDS } from '../../shared/api/constants.ts';
import { errorMessage } from '../../shared/errors.ts';
import { templateEngine } from '../../shared/template/engine.ts';
import type { InjectOptions } from './inject.ts';
import { migrateRestoreRules, mutateWorkload } from './mutate.ts';
import { workloadGroup } from '../../shared/api/target.ts';
import { allow, deny, type AdmissionRequest, type AdmissionReviewOut } from './review.ts';
import type { InvokerIndex, Obj, WorkloadRef } from './types.ts';
import { problemsMessage, validateStash } from './validate.ts';
import { isRecord } from '../../shared/is-record.ts';

/** What a handler decided; `note` is the access line's word on why. */
export type Outcome =
  | { outcome: 'allowed'; note: string; warnings?: string[] }
  | { outcome: 'patched'; note: string; patch: Operation[] }
  | { outcome: 'denied'; note: string; code: number; reason: string; message: string }
  | { outcome: 'errored'; note: string; code: number; reason: string; message: string };

export const allowed = (note: string, warnings?: string[]): Outcome => ({
  outcome: 'allowed',
  note,
  ...(warnings ? { warnings } : {}),
});

/** Allowed with `patch`, or plainly allowed when the patch is empty. */
export const patched = (note: string, patch: Operation[]): Outcome =>
  patch.length === 0 ? allowed(note) : { outcome: 'patched', note, patch };

export const denied = (note: string, code: number, reason: string, message: string): Outcome => ({
  outcome: 'denied',
  note,
  code,
  reason,
  message,
});

export const errored = (code: number, message: string): Outcome => ({
  outcome: 'errored',
  note: 'error',
  code,
  reason: code === 400 ? 'BadRequest' : 'InternalError',
  message,
});

/** The AdmissionReview that answers request `uid` with `o`. */
export function reviewOf(uid: string, o: Outcome): AdmissionReviewOut {
  switch (o.outcome) {
    case 'allowed':
      return allow(uid, undefined, o.warnings);
    case 'patched':
      return allow(uid, o.patch);
    default:
      return deny(uid, o.code, o.message, o.reason);
  }
}

/** `log` is the root logger (redacted); a handler's lines name the request's uid. */
export type Handler = (r: AdmissionRequest, log: Logger) => Outcome | Promise<Outcome>;

export interface HandlerDeps {
  invokers: InvokerIndex;
  inject: InjectOptions;
}

const isWrite = (r: AdmissionRequest): boolean => r.operation === 'CREATE' || r.operation === 'UPDATE';

function workloadRef(r: AdmissionRequest, obj: Obj): WorkloadRef {
  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  return {
    apiVersion: typeof obj.apiVersion === 'string' ? obj.apiVersion : `${r.kind.group}/${r.kind.version}`,
    kind: r.kind.kind,
    name: typeof meta.name === 'string' ? meta.name : (r.name ?? ''),
    namespace: typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : (r.namespace ?? ''),
  };
}

/** /mutate-workload: the agent injected into, or removed from, a workload's pod template. */
export function workloadMutator({ invokers, inject }: HandlerDeps): Handler {
  const repository = (ns: string, name: string) => invokers.repository(ns, name);
  return (r, log) => {
    if (!isWrite(r)) return allowed('operation');
    const object = r.object;
    if (workloadGroup(r.kind.kind) !== r.kind.group || !isRecord(object)) return allowed('not a workload');
    try {
      const w = workloadRef(r, object);
      const result = mutateWorkload(
        object,
        {
          backup: invokers.backupInvokersFor(w),
          restore: invokers.restoreInvokersFor(w),
          repository,
        },
        inject,
        { namespace: w.namespace },
      );
      if ('skip' in result) return allowed(result.skip);
      return patched(result.actions.join(','), fastJsonPatch.compare(object, result.mutated));
    } catch (err) {
      log.error({ uid: r.uid, err: errorMessage(err) }, 'workload mutation failed');
      return allowed('error', [`stash: sidecar injection skipped: ${errorMessage(err)}`]);
    }
  };
}

/** /mutate-stash: RestoreSession's deprecated spec.rules moved to spec.target.rules. */
export function stashMutator(): Handler {
  return (r) => {
    if (r.kind.group !== GROUP || !isWrite(r) || !isRecord(r.object)) return allowed('not ours');
    try {
      const migrated = r.kind.kind === KINDS.RestoreSession.kind ? migrateRestoreRules(r.object) : undefined;
      if (!migrated) return allowed('unchanged');
      return patched('rules moved to spec.target.rules', fastJsonPatch.compare(r.object, migrated));
    } catch (err) {
      return errored(500, `stash: mutation failed: ${errorMessage(err)}`);
    }
  };
}

/** /validate-stash: our kinds checked against their schema and the rules a schema cannot say. */
export function stashValidator({ invokers }: HandlerDeps): Handler {
  const repository = (ns: string, name: string) => invokers.repository(ns, name);
  return async (r, log) => {
    if (r.kind.group !== GROUP) return allowed('not ours');
    try {
      // The template engine (≈1 s to compile once) is loaded only for an object that has a template.
      const engine = JSON.stringify(r.object ?? null).includes('{{') ? await templateEngine() : undefined;
      const templateError = engine && ((text: string) => engine.parseError(text));
      const problems = validateStash(
        {
          kind: r.kind.kind,
          operation: r.operation,
          namespace: r.namespace,
          object: r.object,
          oldObject: r.oldObject,
        },
        { repository, templateError },
      );
      if (problems.length === 0) return allowed('valid');
      const meta = isRecord(r.object) && isRecord(r.object.metadata) ? r.object.metadata : {};
      const name = `${r.namespace ?? ''}/${typeof meta.name === 'string' ? meta.name : (r.name ?? '')}`;
      return denied(`${problems.length} problem(s)`, 422, 'Invalid', problemsMessage(r.kind.kind, name, problems));
    } catch (err) {
      log.error({ uid: r.uid, err: errorMessage(err) }, 'validation failed');
      return errored(500, `stash: validation failed: ${errorMessage(err)}`);
    }
  };
}
