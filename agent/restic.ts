// RepoOps on top of shared/restic: one Restic per repository and run, credentials from the Secret in the
// child's environment only, cache under the agent's tmp dir, and (dev/test world only) restic started in
// its own UTS namespace named after the pod, so its locks carry the pod name exactly as in a real pod.
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  BackendUnreachableError, Restic, recoverLocks, resolveRepository, snapshotStats, withLockRecovery,
  type BackendSpec, type DirectAccess, type LockInfo,
} from '../shared/restic/index.ts';
import { encodeSegment, signV4 } from '../shared/restic/s3sign.ts';
import { http, https } from '../shared/node-http.ts';
import type { AgentContext, LoadedRepository } from './common.ts';
import type { RepoOps } from './repo.ts';

export function commandPrefix(ctx: Pick<AgentContext, 'isolateHostname' | 'podName'>): string[] | undefined {
  if (!ctx.isolateHostname) return undefined;
  // unshare without --fork execs in place (a UTS namespace needs no new process), so signals reach restic.
  return ['unshare', '--uts', '/bin/sh', '-c', 'hostname "$0" && exec "$@"', ctx.podName];
}

/** host:port of a network backend, or undefined (local, or a backend we cannot parse). */
export function endpointOf(access: DirectAccess): { host: string; port: number } | undefined {
  let raw: string;
  if (access.kind === 'rest') raw = access.url;
  else if (access.kind === 's3') raw = /^[a-z]+:\/\//i.test(access.endpoint) ? access.endpoint : `https://${access.endpoint}`;
  else return undefined;
  try {
    const u = new URL(raw);
    const port = u.port ? Number(u.port) : u.protocol === 'http:' ? 80 : 443;
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port };
  } catch {
    return undefined;
  }
}

function tcpReachable(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
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

function head(url: URL, headers: Record<string, string>, caPem: string | undefined, insecure: boolean, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const opts = { method: 'HEAD', hostname: url.hostname, port: url.port || undefined, path: url.pathname + url.search, headers, timeout: timeoutMs };
    const req = url.protocol === 'https:' ? https.request({ ...opts, ca: caPem, rejectUnauthorized: !insecure }) : http.request(opts);
    req.once('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.once('error', reject);
    req.end();
  });
}

/**
 * Whether the repository's config object exists, asked of the backend directly: restic would need a key
 * derivation (~0.5 s) to answer, and against a missing S3 bucket it retries for minutes. undefined when
 * this backend has no direct client here (then restic decides).
 */
export async function configExists(access: DirectAccess, timeoutMs: number): Promise<boolean | undefined> {
  switch (access.kind) {
    case 'local':
      return await stat(join(access.path, 'config')).then(() => true, (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      });
    case 'rest': {
      const url = new URL('config', access.url.endsWith('/') ? access.url : `${access.url}/`);
      const headers: Record<string, string> = {};
      if (access.username !== undefined || access.password !== undefined) {
        headers.authorization = `Basic ${Buffer.from(`${access.username ?? ''}:${access.password ?? ''}`).toString('base64')}`;
      }
      const code = await head(url, headers, access.caPem, access.insecureTLS, timeoutMs);
      if (code === 200) return true;
      if (code === 404) return false;
      return undefined;
    }
    case 's3': {
      if (!access.accessKeyId || !access.secretAccessKey) return undefined;
      const key = [access.prefix, 'config'].filter((x) => x !== '').join('/');
      const base = /^[a-z]+:\/\//i.test(access.endpoint) ? access.endpoint : `https://${access.endpoint}`;
      const url = new URL(`${base.replace(/\/+$/, '')}/${encodeSegment(access.bucket)}/${key.split('/').map(encodeSegment).join('/')}`);
      const headers = signV4({ method: 'HEAD', url, region: access.region, accessKeyId: access.accessKeyId, secretAccessKey: access.secretAccessKey, sessionToken: access.sessionToken });
      const code = await head(url, headers, access.caPem, access.insecureTLS, timeoutMs);
      if (code === 200) return true;
      if (code === 404) return false;
      return undefined;
    }
    default:
      return undefined;
  }
}

export async function openRepo(loaded: LoadedRepository, ctx: AgentContext, isHolderAlive: (l: LockInfo) => Promise<boolean>): Promise<RepoOps> {
  await mkdir(ctx.tmpDir, { recursive: true });
  const scratch = await mkdtemp(join(ctx.tmpDir, 'scratch-'));
  const repo = await resolveRepository(loaded.repository.spec.backend as BackendSpec, loaded.secretData, {
    scratchDir: join(scratch, 'secret'),
    connections: ctx.maxConnections > 0 ? ctx.maxConnections : undefined,
  }).catch(async (err: unknown) => {
    await rm(scratch, { recursive: true, force: true });
    throw err;
  });
  const tmp = join(scratch, 'tmp');
  await mkdir(tmp, { recursive: true });
  const restic = new Restic({
    repo,
    bin: ctx.resticBinary,
    cache: ctx.enableCache ? { dir: join(ctx.tmpDir, 'restic-cache'), cleanup: true } : false,
    tmpDir: tmp,
    home: tmp,
    commandPrefix: commandPrefix(ctx),
    probeTimeoutMs: Math.max(ctx.backendTimeoutMs, 5_000),
    logger: ctx.log,
  });
  const lockOpts = (exclusive: boolean) => ({
    isHolderAlive, need: exclusive ? 'exclusive' as const : 'shared' as const, waitMs: ctx.lockWaitMs, pollMs: 2_000, logger: ctx.log,
  });
  // A command that meets a lock recovers (holder-aware) and tries again, within the wait bound.
  const guarded = <T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> => withLockRecovery(restic, fn, lockOpts(exclusive));

  return {
    display: repo.display,
    async preflight() {
      const ep = endpointOf(repo.access);
      if (!ep) return;
      const problem = await tcpReachable(ep.host, ep.port, ctx.backendTimeoutMs);
      if (problem) {
        throw new BackendUnreachableError(`cannot connect to ${ep.host}:${ep.port} (${problem})`, { command: 'preflight', exitCode: undefined, signal: undefined, stderrTail: [] });
      }
    },
    async ensureInitialized() {
      const direct = await configExists(repo.access, ctx.backendTimeoutMs).catch(() => undefined);
      if (direct === true) return false;
      return (await restic.initIfMissing()).created;
    },
    async exists() {
      return await configExists(repo.access, ctx.backendTimeoutMs).catch(() => undefined);
    },
    async recoverLocks(o) {
      await recoverLocks(restic, lockOpts(o.exclusive));
    },
    async backup(path, o) {
      const result = await guarded(false, () => restic.backup([path], { host: o.host, excludes: o.exclude, args: o.args, signal: o.signal }));
      return { result, stats: snapshotStats(result, path) };
    },
    async restore(o) {
      await guarded(false, () => restic.restore(o.snapshot, {
        target: o.target, host: o.host, paths: o.path ? [o.path] : undefined, include: o.include, exclude: o.exclude, signal: o.signal,
      }));
    },
    async snapshots(f) {
      return await restic.snapshots({ host: f.host, paths: f.path ? [f.path] : undefined });
    },
    async forget(policy) {
      const r = await guarded(true, () => restic.forget(policy));
      return { kept: r.kept.length, removed: r.removed.length };
    },
    async check() {
      const r = await guarded(true, () => restic.check());
      return { ok: r.ok, errors: r.errors };
    },
    async stats() {
      const s = await restic.stats();
      const snaps = await restic.snapshots();
      return { totalSize: s.totalSize, snapshotCount: snaps.length };
    },
    async withRestic(fn) {
      return await guarded(false, () => fn(restic));
    },
    async close() {
      await rm(scratch, { recursive: true, force: true });
    },
  };
}
