// AWS Signature Version 4 for the S3 requests made without restic: HEAD/GET/DELETE of one object (the lock
// remover, the preflight) and the bucket listing of a wipe (ListObjectsV2, the only one with a query string).
// Path-style addressing only, like restic's own S3 URLs; no request bodies.
import { createHash, createHmac } from 'node:crypto';

export interface SignInput {
  method: string;
  url: URL;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
  /** For tests; default now. */
  now?: Date;
}

const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** RFC 3986 encoding of one path segment, as S3 expects it (unreserved characters stay). */
export function encodeSegment(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The query part of a URL built with queryString() (already RFC 3986-encoded), sorted by encoded name and then
 * value as SigV4 wants. A URL whose query came from URLSearchParams ('+' for spaces) would not verify.
 */
function canonicalQuery(url: URL): string {
  const pairs = url.search
    .slice(1)
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      return eq < 0 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1)];
    });
  pairs.sort(([ak, av], [bk, bv]) => (ak! < bk! ? -1 : ak! > bk! ? 1 : av! < bv! ? -1 : av! > bv! ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/** `?a=1&b=x%2Fy` with every name and value RFC 3986-encoded, as canonicalQuery() expects. */
export function queryString(params: Record<string, string | undefined>): string {
  const parts = Object.entries(params)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${encodeSegment(k)}=${encodeSegment(v)}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

/** Headers to send (host, x-amz-date, x-amz-content-sha256, authorization, token). */
export function signV4(i: SignInput): Record<string, string> {
  const now = i.now ?? new Date();
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  const date = amzDate.slice(0, 8);
  const headers: Record<string, string> = {
    host: i.url.host,
    'x-amz-content-sha256': EMPTY_SHA256,
    'x-amz-date': amzDate,
  };
  if (i.sessionToken) headers['x-amz-security-token'] = i.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${headers[n]!.trim()}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    i.method,
    i.url.pathname,
    canonicalQuery(i.url),
    canonicalHeaders,
    signedHeaders,
    EMPTY_SHA256,
  ].join('\n');
  const scope = `${date}/${i.region}/s3/aws4_request`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  const kSigning = hmac(hmac(hmac(hmac(`AWS4${i.secretAccessKey}`, date), i.region), 's3'), 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(stringToSign).digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${i.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}
