// Deleting a whole restic repository from its backend, for a Repository deleted with `wipeOut: true`
// (docs/decisions/0015-repository-wipeout.md). restic has no "delete repository" command, so the files are
// listed and deleted one by one through the direct client (backend-client.ts):
// - rest: each file type is listed with the REST protocol's GET /<type>/ and every file deleted with
//   DELETE /<type>/<id>, then DELETE /config. The protocol addresses only the repository's own files, so nothing
//   beside them can be reached; the server keeps its (empty) directories, which the protocol cannot remove.
// - s3: ListObjectsV2 under the prefix followed by "/" (so `team/app` never touches `team/app2/`), every object
//   deleted. Without a prefix the repository is the bucket's root and may share the bucket: only restic's own
//   layout (config and the keys, locks, snapshots, index and data folders) is deleted, never the whole bucket.
// config and keys go first, so a restic started meanwhile can no longer open the repository; a second listing
// at the end must come back empty, else the wipe failed (something still writes) and is retried by the caller.
import type { DirectAccess } from './backend.ts';
import { backendFetch, objectUrl, s3BucketUrl, type RemoteAccess } from './backend-client.ts';
import { queryString } from './s3sign.ts';

/** restic's folders, in the order they are deleted (keys first: without them nothing opens the repository). */
export const RESTIC_FOLDERS = ['keys', 'locks', 'snapshots', 'index', 'data'] as const;

const REST_V2 = 'application/vnd.x.restic.rest.v2';
const LIST_BODY_MAX = 32 << 20;
const RESTIC_ID = /^[0-9a-f]{64}$/;

export interface WipeOptions {
  /** Per request. */
  timeoutMs?: number;
  /** Deletes in flight at once. */
  concurrency?: number;
}

export interface WipeResult {
  /** Files deleted (the config included). */
  deleted: number;
}

export class WipeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WipeError';
  }
}

/** Whether this access can be wiped from outside a pod; the reason when not. */
export function wipeProblem(access: DirectAccess): string | undefined {
  if (access.kind === 'local') return 'a local backend is reachable only from a pod that mounts it';
  if (access.kind === 'unsupported') return `stash-ts has no client to delete files from a ${access.backend} backend`;
  if (access.kind === 's3' && (!access.accessKeyId || !access.secretAccessKey))
    return 'deleting from S3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the backend Secret';
  return undefined;
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-f]+);/gi, (_m, e: string) => {
    const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
    if (named[e.toLowerCase()] !== undefined) return named[e.toLowerCase()]!;
    return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}

/** One page of a ListObjectsV2 answer: the keys and the token of the next page. */
export function parseListObjectsV2(xml: string): { keys: string[]; next: string | undefined } {
  const keys = [...xml.matchAll(/<Contents>[\s\S]*?<Key>([\s\S]*?)<\/Key>[\s\S]*?<\/Contents>/g)].map((m) =>
    unescapeXml(m[1]!),
  );
  const truncated = /<IsTruncated>\s*true\s*<\/IsTruncated>/.test(xml);
  const token = /<NextContinuationToken>([\s\S]*?)<\/NextContinuationToken>/.exec(xml)?.[1];
  if (truncated && !token) throw new WipeError('S3 listing is truncated but names no continuation token');
  return { keys, next: truncated ? unescapeXml(token!) : undefined };
}

type S3Access = Extract<DirectAccess, { kind: 's3' }>;

async function s3ListUnder(access: S3Access, listPrefix: string, timeoutMs: number): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  for (;;) {
    const url = s3BucketUrl(
      access,
      queryString({ 'list-type': '2', prefix: listPrefix, 'max-keys': '1000', 'continuation-token': token }),
    );
    const a = await backendFetch(access, 'GET', url, { timeoutMs, maxBodyBytes: LIST_BODY_MAX });
    if (a.status !== 200)
      throw new WipeError(
        `listing s3:${access.endpoint}/${access.bucket}/${listPrefix} answered ${a.status}${a.code ? ` ${a.code}` : ''}`,
      );
    if (a.body.length >= LIST_BODY_MAX) throw new WipeError('S3 listing page too large');
    const page = parseListObjectsV2(a.body);
    for (const k of page.keys) {
      // Never trust the server to have filtered: a key outside the listed prefix is not ours.
      if (!k.startsWith(listPrefix)) throw new WipeError(`S3 listed ${JSON.stringify(k)} outside ${listPrefix}`);
      out.push(k);
    }
    if (!page.next) return out;
    token = page.next;
  }
}

/** Every file of the repository, as keys relative to its root (`config`, `data/ab/<id>`, ...). */
export async function listRepositoryFiles(access: RemoteAccess, timeoutMs = 30_000): Promise<string[]> {
  if (access.kind === 'rest') {
    const files: string[] = [];
    const config = await backendFetch(access, 'HEAD', objectUrl(access, 'config'), { timeoutMs, maxBodyBytes: 0 });
    if (config.status === 200) files.push('config');
    else if (config.status !== 404) throw new WipeError(`REST server answered ${config.status} for the config`);
    for (const folder of RESTIC_FOLDERS) {
      const a = await backendFetch(access, 'GET', objectUrl(access, `${folder}/`), {
        timeoutMs,
        accept: REST_V2,
        maxBodyBytes: LIST_BODY_MAX,
      });
      if (a.status === 404) continue;
      if (a.status !== 200) throw new WipeError(`REST server answered ${a.status} listing ${folder}/`);
      const listed = JSON.parse(a.body || '[]') as Array<string | { name?: string }> | null;
      for (const e of listed ?? []) {
        const name = typeof e === 'string' ? e : (e.name ?? '');
        if (!RESTIC_ID.test(name)) throw new WipeError(`REST server listed ${JSON.stringify(name)} in ${folder}/`);
        files.push(`${folder}/${name}`);
      }
    }
    return files;
  }
  const root = access.prefix ? `${access.prefix}/` : '';
  const keys = root
    ? await s3ListUnder(access, root, timeoutMs)
    : [
        ...(await s3ListUnder(access, 'config', timeoutMs)).filter((k) => k === 'config'),
        ...(await Promise.all(RESTIC_FOLDERS.map((f) => s3ListUnder(access, `${f}/`, timeoutMs)))).flat(),
      ];
  return keys.map((k) => k.slice(root.length));
}

/** The order files are deleted in: config, then keys, then the other folders (order of RESTIC_FOLDERS). */
export function deletionOrder(files: readonly string[]): string[][] {
  const rank = (f: string) => {
    if (f === 'config') return 0;
    const i = RESTIC_FOLDERS.findIndex((d) => f.startsWith(`${d}/`));
    return i < 0 ? RESTIC_FOLDERS.length + 1 : i + 1;
  };
  const groups = new Map<number, string[]>();
  for (const f of files) {
    const r = rank(f);
    groups.set(r, [...(groups.get(r) ?? []), f]);
  }
  return [...groups.entries()].sort(([a], [b]) => a - b).map(([, g]) => g);
}

async function deleteAll(access: RemoteAccess, keys: string[], o: Required<WipeOptions>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(o.concurrency, keys.length) }, async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        const a = await backendFetch(access, 'DELETE', objectUrl(access, key), {
          timeoutMs: o.timeoutMs,
          maxBodyBytes: 8192,
        });
        // 404: gone already (an earlier attempt, or restic's own cleanup).
        if (a.status >= 300 && a.status !== 404)
          throw new WipeError(`deleting ${key} answered ${a.status}${a.code ? ` ${a.code}` : ''}`);
      }
    }),
  );
}

/** Deletes every file of the repository; throws WipeError when any is left. */
export async function wipeRepository(access: DirectAccess, opts: WipeOptions = {}): Promise<WipeResult> {
  const problem = wipeProblem(access);
  if (problem) throw new WipeError(problem);
  const remote = access as RemoteAccess;
  const o = { timeoutMs: opts.timeoutMs ?? 30_000, concurrency: opts.concurrency ?? 8 };
  const files = await listRepositoryFiles(remote, o.timeoutMs);
  for (const group of deletionOrder(files)) await deleteAll(remote, group, o);
  const left = await listRepositoryFiles(remote, o.timeoutMs);
  if (left.length > 0)
    throw new WipeError(`${left.length} file(s) appeared while deleting (first: ${left[0]}); something still writes`);
  return { deleted: files.length };
}
