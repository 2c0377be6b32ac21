// AdmissionReview (admission.k8s.io/v1) in and out. The apiserver treats anything but a well-formed review as a
// webhook failure, so every path here ends in a review or, when there is no uid to echo, a plain 400 JSON body.
import type { Operation } from 'fast-json-patch';
import { isRecord } from '../../shared/is-record.ts';

export const REVIEW_API_VERSION = 'admission.k8s.io/v1';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** The fields of an AdmissionRequest we use; the rest is carried untouched. */
export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: AdmissionOperation;
  object?: Record<string, unknown> | null;
  oldObject?: Record<string, unknown> | null;
  dryRun?: boolean;
}

export interface AdmissionStatus {
  code: number;
  message: string;
  reason?: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  patch?: string;
  patchType?: 'JSONPatch';
  warnings?: string[];
}

export interface AdmissionReviewOut {
  apiVersion: typeof REVIEW_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export type ParsedReview =
  | { ok: true; request: AdmissionRequest }
  /** `uid` is set when the body carried one, so the answer can still be a review. */
  | { ok: false; uid: string | undefined; message: string };

const OPERATIONS = new Set<string>(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

// A uid is echoed back verbatim into JSON we build; anything that is not a short plain string is not a uid.
function usableUid(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 && v.length <= 256 ? v : undefined;
}

/** Checks the envelope of an already JSON-decoded body. Never throws. */
export function parseReview(body: unknown): ParsedReview {
  if (!isRecord(body)) return { ok: false, uid: undefined, message: 'body is not a JSON object' };
  const req = body.request;
  const uid = isRecord(req) ? usableUid(req.uid) : undefined;
  const fail = (message: string): ParsedReview => ({ ok: false, uid, message });
  if (body.kind !== 'AdmissionReview') return fail('kind must be AdmissionReview');
  if (body.apiVersion !== REVIEW_API_VERSION) return fail(`apiVersion must be ${REVIEW_API_VERSION}`);
  if (!isRecord(req)) return fail('request is missing');
  if (uid === undefined) return fail('request.uid is missing');
  const kind = req.kind;
  if (
    !isRecord(kind) ||
    typeof kind.kind !== 'string' ||
    typeof kind.group !== 'string' ||
    typeof kind.version !== 'string'
  ) {
    return fail('request.kind must have group, version and kind');
  }
  if (typeof req.operation !== 'string' || !OPERATIONS.has(req.operation))
    return fail('request.operation is not a known operation');
  if (req.object !== undefined && req.object !== null && !isRecord(req.object))
    return fail('request.object is not an object');
  if (req.oldObject !== undefined && req.oldObject !== null && !isRecord(req.oldObject))
    return fail('request.oldObject is not an object');
  if (req.namespace !== undefined && typeof req.namespace !== 'string')
    return fail('request.namespace is not a string');
  if (req.name !== undefined && typeof req.name !== 'string') return fail('request.name is not a string');
  return { ok: true, request: req as unknown as AdmissionRequest };
}

export function allow(uid: string, patch?: Operation[], warnings?: string[]): AdmissionReviewOut {
  const response: AdmissionResponse = { uid, allowed: true };
  if (patch && patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(patch)).toString('base64');
  }
  if (warnings && warnings.length > 0) response.warnings = warnings;
  return { apiVersion: REVIEW_API_VERSION, kind: 'AdmissionReview', response };
}

export function deny(uid: string, code: number, message: string, reason?: string): AdmissionReviewOut {
  const status: AdmissionStatus = { code, message };
  if (reason) status.reason = reason;
  return { apiVersion: REVIEW_API_VERSION, kind: 'AdmissionReview', response: { uid, allowed: false, status } };
}

/** Decodes a response patch back into operations (tests and tools). */
export function decodePatch(response: AdmissionResponse): Operation[] {
  if (!response.patch) return [];
  return JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[];
}
