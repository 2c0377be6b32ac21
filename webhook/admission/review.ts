// AdmissionReview (admission.k8s.io/v1) in and out. The apiserver treats anything but a well-formed review as a
// webhook failure, so every path here ends in a review or, when there is no uid to echo, a plain 400 JSON body.
import type { Operation } from 'fast-json-patch';

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

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// A uid is echoed back verbatim into JSON we build; anything that is not a short plain string is not a uid.
function usableUid(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 && v.length <= 256 ? v : undefined;
}

// The apiserver encodes a review's request in Go field order: ..., object, oldObject, dryRun, options. A `"` inside
// a JSON string is always escaped, so these texts with their bare quotes can only be keys of some object in the
// document, never string content.
const OLD_OBJECT_KEY = ',"oldObject":';
const DRY_RUN_KEY = ',"dryRun":';

/**
 * JSON.parse(text), except that for handlers that never read request.oldObject (workload mutation) the decoded
 * review may lack it: on an UPDATE it is a second full copy of the workload, and building it was a third of the
 * decoding. The cut is taken only for the apiserver's shape of body, checked by decoding the two other parts:
 * the text before the first `,"oldObject":`, closed with `}}`, must decode to a review whose request has an object
 * (so the key belongs to request itself); the text from the last `,"dryRun":` to the review's closing brace must
 * decode as the rest of request (so it too sits at request level, and the body is complete: a truncated body fails
 * here); and the value in between must open as an object. Anything else, including every body that is not
 * JSON, is decoded whole, so errors read as before. What the cut path does not look at is the inside of
 * oldObject's value: it is not checked, and a duplicate request key hidden there (which JSON leaves undefined and
 * the apiserver never writes) is not seen. Handlers that read oldObject must not ask for the cut.
 * Throws what JSON.parse throws.
 */
export function decodeReview(text: string, withOldObject: boolean): unknown {
  if (!withOldObject) {
    // Only an object is worth cutting out (a CREATE's null is not), and only an object or null may be there.
    const cut = findCut(text, OLD_OBJECT_KEY);
    const review = cut && decodeAround(text, cut, (request) => Object.hasOwn(request, 'object'));
    if (review) return review;
  }
  return JSON.parse(text);
}

/** Where a body may be cut: `key` (its value opens an object), request's `,"dryRun":`, and the review's last brace. */
interface Cut {
  at: number;
  dry: number;
  end: number;
}

/**
 * Forward for `key` (a skipping search), backward for dryRun (a few dozen bytes from the end); undefined unless the
 * key comes first, its value opens as an object and the text ends with a brace. A first match that is not
 * request's own key fails decodeAround.
 */
function findCut(text: string, key: string): Cut | undefined {
  const at = text.indexOf(key);
  const dry = text.lastIndexOf(DRY_RUN_KEY);
  if (at === -1 || dry < at || text.charCodeAt(at + key.length) !== 0x7b /* { */) return undefined;
  let end = text.length - 1;
  while (end > dry && isJsonSpace(text.charCodeAt(end))) end--;
  return text.charCodeAt(end) === 0x7d /* } */ ? { at, dry, end } : undefined;
}

/**
 * The review from the text before the cut, closed with `}}`, with the rest of request (`{` + `"dryRun":…,
 * "options":{…}}`, one object exactly when dryRun is a key of request) added to its request; undefined when either
 * part does not decode, or `accept` rejects what they decode to.
 */
function decodeAround(
  text: string, cut: Cut, accept: (request: Record<string, unknown>, rest: Record<string, unknown>) => boolean,
): Record<string, unknown> | undefined {
  try {
    const rest: unknown = JSON.parse(`{${text.slice(cut.dry + 1, cut.end)}`);
    const head: unknown = JSON.parse(`${text.slice(0, cut.at)}}}`);
    if (!isRecord(rest) || !isRecord(head) || !isRecord(head.request) || !accept(head.request, rest)) return undefined;
    Object.assign(head.request, rest);
    return head;
  } catch {
    return undefined; // not the apiserver's shape after all
  }
}

const OBJECT_KEY = ',"object":';

/** A review decoded except for request.object and request.oldObject (see reviewShell). */
export interface ReviewShell {
  /** The review with request.object and request.oldObject left out. */
  review: Record<string, unknown>;
  /** The JSON text from request.object's value to the end of request.oldObject's, neither decoded nor checked. */
  objectsText: string;
}

/**
 * The review around its objects, for a handler that can often answer from the envelope and a search of the objects'
 * text (workload mutation of a workload nobody targets). Taken only for the apiserver's shape of body, checked as in
 * decodeReview: the text before the first `,"object":`, closed with `}}`, must decode to a review whose request
 * has neither object nor oldObject yet (so the key is request's own), and the text from the last `,"dryRun":` must
 * decode as the rest of request; object's value must open as an object. Undefined for anything else, and (before
 * any decoding) when `wanted` rejects the objects' text. That text is not checked: a caller that needs
 * request.object decodes the body with decodeReview.
 */
export function reviewShell(text: string, wanted: (objectsText: string) => boolean = () => true): ReviewShell | undefined {
  const cut = findCut(text, OBJECT_KEY);
  if (!cut) return undefined;
  const objectsText = text.slice(cut.at + OBJECT_KEY.length, cut.dry);
  if (!wanted(objectsText)) return undefined;
  const review = decodeAround(text, cut, (request, rest) =>
    !OBJECT_KEYS.some((key) => Object.hasOwn(request, key) || Object.hasOwn(rest, key)));
  return review && { review, objectsText };
}

const OBJECT_KEYS = ['object', 'oldObject'];

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
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
  if (!isRecord(kind) || typeof kind.kind !== 'string' || typeof kind.group !== 'string' || typeof kind.version !== 'string') {
    return fail('request.kind must have group, version and kind');
  }
  if (typeof req.operation !== 'string' || !OPERATIONS.has(req.operation)) return fail('request.operation is not a known operation');
  if (req.object !== undefined && req.object !== null && !isRecord(req.object)) return fail('request.object is not an object');
  if (req.oldObject !== undefined && req.oldObject !== null && !isRecord(req.oldObject)) return fail('request.oldObject is not an object');
  if (req.namespace !== undefined && typeof req.namespace !== 'string') return fail('request.namespace is not a string');
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

// The allowing answers of the workload hot path, written as text: the same JSON that JSON.stringify(allow(...))
// gives, without building the object and walking it again (for a patch, the long base64 string above all).
const ALLOW_HEAD = `{"apiVersion":"${REVIEW_API_VERSION}","kind":"AdmissionReview","response":{"uid":`;

/** JSON.stringify(allow(uid)), given JSON.stringify(uid). */
export function allowText(uidJson: string): string {
  return `${ALLOW_HEAD}${uidJson},"allowed":true}}`;
}

/** JSON.stringify(allow(uid, ops)) for a non-empty patch already written as JSON text (patch.ts). */
export function allowPatchText(uidJson: string, patchJson: string): string {
  // Base64 needs no JSON escaping.
  return `${ALLOW_HEAD}${uidJson},"allowed":true,"patchType":"JSONPatch","patch":"${Buffer.from(patchJson, 'utf8').toString('base64')}"}}`;
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
