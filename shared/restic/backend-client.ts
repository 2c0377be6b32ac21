// The one client for requests straight to a repository's backend, without restic: deleting one lock
// file (locks.ts) and asking whether the repository's config exists and our credentials are accepted
// (the agent's preflight). restic needs a key derivation to answer the latter, and 0.17+ retries a
// refused connection or a missing bucket for up to 15 minutes; a direct request answers in
// milliseconds and says exactly what is wrong.
// - local: the file system (stat/unlink under the repository path)
// - rest:  HTTP(S) with Basic auth from REST_SERVER_USERNAME/PASSWORD
// - s3:    path-style requests signed with SigV4 from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
// - gcs, azure, swift, b2 (and S3 without static keys): no direct client; restic decides.
import { stat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { DirectAccess } from './backend.ts';
import { BackendAccessDeniedError, BackendUnreachableError, type ResticFailureDetails } from './errors.ts';
import { encodeSegment, signV4 } from './s3sign.ts';
import { http, https } from '../node-http.ts';

export type RemoteAccess = Extract<DirectAccess, { kind: 'rest' } | { kind: 's3' }>;

export interface BackendAnswer {
  status: number;
  /** S3's error code from an XML error body (GET only), e.g. NoSuchBucket, SignatureDoesNotMatch. */
  code: string | undefined;
}

/** What a direct look at the repository found. */
export type RepositoryProbe =
  | { state: 'exists' }
  | { state: 'missing'; what: string }
  /** No direct client for this backend, or an answer we do not interpret (restic decides). */
  | { state: 'unknown' };

const NO_DETAILS: ResticFailureDetails = {
  command: 'preflight',
  exitCode: undefined,
  signal: undefined,
  stderrTail: [],
};

/** host:port of a network backend, or undefined (local, unsupported, or unparsable). */
export function endpointOf(access: DirectAccess): { host: string; port: number } | undefined {
  let raw: string;
  if (access.kind === 'rest') raw = access.url;
  else if (access.kind === 's3')
    raw = /^[a-z]+:\/\//i.test(access.endpoint) ? access.endpoint : `https://${access.endpoint}`;
  else return undefined;
  try {
    const u = new URL(raw);
    const port = u.port ? Number(u.port) : u.protocol === 'http:' ? 80 : 443;
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port };
  } catch {
    return undefined;
  }
}

/** undefined when a TCP connection to host:port opens within the timeout, else why not. */
export function tcpProblem(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(`no answer within ${timeoutMs} ms`);
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(undefined);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
  });
}

function s3Base(access: Extract<DirectAccess, { kind: 's3' }>): string {
  return (/^[a-z]+:\/\//i.test(access.endpoint) ? access.endpoint : `https://${access.endpoint}`).replace(/\/+$/, '');
}

/** The URL of `key` relative to the repository root (S3: under the bucket's prefix). */
export function objectUrl(access: RemoteAccess, key: string): URL {
  if (access.kind === 'rest') return new URL(key, access.url.endsWith('/') ? access.url : `${access.url}/`);
  const full = [access.prefix, key].filter((s) => s !== '').join('/');
  return new URL(`${s3Base(access)}/${encodeSegment(access.bucket)}/${full.split('/').map(encodeSegment).join('/')}`);
}

/** The bucket itself with a query (`queryString()`), for ListObjectsV2. */
export function s3BucketUrl(access: Extract<DirectAccess, { kind: 's3' }>, query: string): URL {
  return new URL(`${s3Base(access)}/${encodeSegment(access.bucket)}${query}`);
}

/** The credentials of a direct request; undefined for S3 without static keys (IAM, IRSA). */
function authHeaders(access: RemoteAccess, method: string, url: URL): Record<string, string> | undefined {
  if (access.kind === 'rest') {
    if (access.username === undefined && access.password === undefined) return {};
    return {
      authorization: `Basic ${Buffer.from(`${access.username ?? ''}:${access.password ?? ''}`).toString('base64')}`,
    };
  }
  if (!access.accessKeyId || !access.secretAccessKey) return undefined;
  return signV4({
    method,
    url,
    region: access.region,
    accessKeyId: access.accessKeyId,
    secretAccessKey: access.secretAccessKey,
    sessionToken: access.sessionToken,
  });
}

export function hasDirectCredentials(access: RemoteAccess): boolean {
  return authHeaders(access, 'HEAD', objectUrl(access, 'config')) !== undefined;
}

/**
 * One request for `key` (relative to the repository root). Network failures throw
 * BackendUnreachableError naming the endpoint; any HTTP answer is returned.
 */
export async function backendRequest(
  access: RemoteAccess,
  method: 'HEAD' | 'GET' | 'DELETE',
  key: string,
  timeoutMs: number,
): Promise<BackendAnswer> {
  const a = await backendFetch(access, method, objectUrl(access, key), { timeoutMs, maxBodyBytes: 8192 });
  return { status: a.status, code: a.code };
}

export interface FetchOptions {
  timeoutMs: number;
  /** Accept header (the REST server's v2 listing). */
  accept?: string;
  /** Body bytes kept; the rest is read and dropped. */
  maxBodyBytes: number;
}

/** One request to `url` (from objectUrl or s3BucketUrl) with the repository's credentials; returns its body. */
export function backendFetch(
  access: RemoteAccess,
  method: 'HEAD' | 'GET' | 'DELETE',
  url: URL,
  o: FetchOptions,
): Promise<BackendAnswer & { body: string }> {
  const auth = authHeaders(access, method, url);
  if (!auth) return Promise.reject(new Error('no static credentials for a direct request'));
  const headers = o.accept ? { ...auth, accept: o.accept } : auth;
  return new Promise((resolve, reject) => {
    const opts = {
      method,
      hostname: url.hostname,
      port: url.port || undefined,
      path: url.pathname + url.search,
      headers,
      timeout: o.timeoutMs,
    };
    const req =
      url.protocol === 'https:'
        ? https.request({ ...opts, ca: access.caPem, rejectUnauthorized: !access.insecureTLS })
        : http.request(opts);
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < o.maxBodyBytes) body += c;
      });
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, code: /<Code>([^<]+)<\/Code>/.exec(body)?.[1], body }),
      );
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    req.once('error', (err) =>
      reject(new BackendUnreachableError(`cannot reach ${url.host}: ${err.message}`, NO_DETAILS, { cause: err })),
    );
    req.end();
  });
}

/** Deletes one object; resolves with the HTTP status (local: 204, or 404 when it was gone). */
export async function deleteObject(access: DirectAccess, key: string, timeoutMs: number): Promise<number> {
  if (access.kind === 'local') {
    return await unlink(join(access.path, key)).then(
      () => 204,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return 404;
        throw err;
      },
    );
  }
  if (access.kind === 'unsupported') throw new Error(`no direct client for ${access.backend}`);
  return (await backendRequest(access, 'DELETE', key, timeoutMs)).status;
}

/** S3 error codes that name the Secret key at fault. */
const S3_KEY_AT_FAULT: Record<string, string[]> = {
  InvalidAccessKeyId: ['AWS_ACCESS_KEY_ID'],
  SignatureDoesNotMatch: ['AWS_SECRET_ACCESS_KEY'],
  AccessDenied: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
  InvalidToken: ['AWS_SESSION_TOKEN'],
  ExpiredToken: ['AWS_SESSION_TOKEN'],
};

/**
 * Whether the repository is there, asked of the backend directly, in at most `timeoutMs`. Throws
 * BackendUnreachableError (nothing answers at the endpoint) or BackendAccessDeniedError (the answer
 * refuses our credentials; `secretKeys` names the Secret keys to check).
 */
export async function probeRepository(access: DirectAccess, timeoutMs: number): Promise<RepositoryProbe> {
  if (access.kind === 'local') {
    return await stat(join(access.path, 'config')).then(
      () => ({ state: 'exists' as const }),
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return { state: 'missing' as const, what: `no repository at ${access.path}` };
        throw err;
      },
    );
  }
  if (access.kind === 'unsupported') return { state: 'unknown' };
  const ep = endpointOf(access);
  if (ep) {
    // A refused or silent endpoint is named at once, before any HTTP client retries or timeouts.
    const problem = await tcpProblem(ep.host, ep.port, timeoutMs);
    if (problem) throw new BackendUnreachableError(`cannot connect to ${ep.host}:${ep.port} (${problem})`, NO_DETAILS);
  }
  if (!hasDirectCredentials(access)) return { state: 'unknown' };
  // S3: GET, so the XML error body tells a wrong key id from a wrong secret; the config object is tiny.
  const a = await backendRequest(access, access.kind === 's3' ? 'GET' : 'HEAD', 'config', timeoutMs);
  if (a.status === 200) return { state: 'exists' };
  if (access.kind === 'rest') {
    if (a.status === 404) return { state: 'missing', what: `no repository at ${access.url}` };
    if (a.status === 401 || a.status === 403) {
      throw new BackendAccessDeniedError(
        `REST server at ${new URL(access.url).host} answered ${a.status} to our credentials`,
        NO_DETAILS,
        ['REST_SERVER_USERNAME', 'REST_SERVER_PASSWORD'],
      );
    }
    return { state: 'unknown' };
  }
  if (a.code === 'NoSuchBucket')
    return { state: 'missing', what: `bucket ${access.bucket} does not exist at ${access.endpoint}` };
  if (a.status === 404)
    return {
      state: 'missing',
      what: `no repository at s3:${access.endpoint}/${access.bucket}${access.prefix ? `/${access.prefix}` : ''}`,
    };
  const keys = a.code ? S3_KEY_AT_FAULT[a.code] : undefined;
  if (keys || a.status === 401 || a.status === 403) {
    throw new BackendAccessDeniedError(
      `S3 at ${access.endpoint} answered ${a.status}${a.code ? ` ${a.code}` : ''} for bucket ${access.bucket}`,
      NO_DETAILS,
      keys ?? ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
    );
  }
  if (a.code === 'AuthorizationHeaderMalformed' || a.code === 'PermanentRedirect') {
    throw new BackendAccessDeniedError(
      `S3 at ${access.endpoint} refused the request for bucket ${access.bucket} (${a.code}): check spec.backend.s3.region`,
      NO_DETAILS,
      [],
    );
  }
  return { state: 'unknown' };
}
