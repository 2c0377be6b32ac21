// The etcd member (docs/decisions/0014-more-member-kinds.md): `etcdctl snapshot save` writes the snapshot to a
// private file — etcdctl has no stdout mode, and it checks the snapshot's integrity only once the file is
// complete — and only then is the file streamed into `restic backup --stdin` as /snapshot.db, so a failed or
// cut-short snapshot never reaches the repository. The restore dumps that file back and runs
// `etcdutl snapshot restore` into a new data directory (the task param `dataDir`, which must not exist yet),
// from which an etcd member is then started. TLS client files from the AppBinding's Secret are written to
// a 0700 directory and named by path; a login goes in ETCDCTL_USER/ETCDCTL_PASSWORD, never argv.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { ValidationError } from '../../shared/errors.ts';
import type { Restic } from '../../shared/restic/command.ts';
import { startChild } from '../../shared/restic/child.ts';
import type { BackupResult } from '../../shared/restic/output.ts';
import { paramValue, type TaskParam } from './args.ts';
import type { DatabaseConnection } from './connection.ts';

export const ETCD_SNAPSHOT_FILENAME = 'snapshot.db';

export interface EtcdOptions {
  host: string;
  params?: readonly TaskParam[];
  signal?: AbortSignal;
  tags?: string[];
  path?: string;
  tmpDir?: string;
}

interface Workspace {
  dir: string;
  /** etcdctl's connection flags (file paths and the endpoint, nothing secret). */
  flags: string[];
  env: Record<string, string>;
}

export function etcdEndpoint(conn: DatabaseConnection): string {
  const scheme = conn.scheme === 'http' || conn.scheme === 'https' ? conn.scheme : conn.tls ? 'https' : 'http';
  const host = conn.host.includes(':') ? `[${conn.host}]` : conn.host;
  return `${scheme}://${host}:${conn.port}`;
}

async function workspace(conn: DatabaseConnection, o: EtcdOptions): Promise<Workspace> {
  const dir = await mkdtemp(join(o.tmpDir ?? tmpdir(), 'stash-etcd-'));
  const flags = [`--endpoints=${etcdEndpoint(conn)}`, '--dial-timeout=10s'];
  const env: Record<string, string> = { PATH: o.path ?? process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
  const files: Array<[flag: string, name: string, pem: string | undefined]> = [
    ['--cacert', 'ca.crt', conn.tls?.ca],
    ['--cert', 'tls.crt', conn.tls?.cert],
    ['--key', 'tls.key', conn.tls?.key],
  ];
  try {
    for (const [flag, name, pem] of files) {
      if (!pem) continue;
      const file = join(dir, name);
      await writeFile(file, pem, { mode: 0o600, flag: 'wx' });
      flags.push(`${flag}=${file}`);
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  if (conn.user) {
    env.ETCDCTL_USER = conn.user;
    env.ETCDCTL_PASSWORD = conn.password;
  }
  return { dir, flags, env };
}

/** Runs a tool to its end; rejects with the last lines of its stderr. */
async function run(file: string, args: string[], env: Record<string, string>, signal?: AbortSignal): Promise<void> {
  const child = startChild({
    file,
    args,
    env,
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
    stopSignal: 'SIGTERM',
    graceMs: 10_000,
    signal,
  });
  let tail = '';
  child.stderr?.on('data', (c: Buffer) => {
    tail = (tail + c.toString('utf8')).slice(-4000);
  });
  const r = await child.done;
  if (r.spawnError) throw new Error(`cannot run ${file}: ${r.spawnError.message}`);
  if (r.exitCode !== 0) {
    const last = tail.trim().split('\n').slice(-3).join(' | ');
    throw new Error(
      `${file} failed (${r.exitCode !== undefined ? `exit code ${r.exitCode}` : `signal ${r.signal ?? '?'}`})${last ? `: ${last}` : ''}`,
    );
  }
}

export async function backupEtcd(restic: Restic, conn: DatabaseConnection, o: EtcdOptions): Promise<BackupResult> {
  const ws = await workspace(conn, o);
  try {
    const file = join(ws.dir, ETCD_SNAPSHOT_FILENAME);
    // A server that cannot be reached fails here within seconds; the snapshot itself may take long.
    await run('etcdctl', [...ws.flags, '--command-timeout=10s', 'endpoint', 'status'], ws.env, o.signal);
    await run('etcdctl', [...ws.flags, '--command-timeout=30m', 'snapshot', 'save', file], ws.env, o.signal);
    const size = (await stat(file)).size;
    if (size === 0) throw new Error('etcdctl wrote an empty snapshot');
    const source = createReadStream(file);
    return await restic.backupStdin(
      { source, done: finished(source) },
      { host: o.host, filename: ETCD_SNAPSHOT_FILENAME, signal: o.signal, tags: o.tags },
    );
  } finally {
    await rm(ws.dir, { recursive: true, force: true });
  }
}

/** The restore's target: `dataDir` (required), and the new member's `name`, `initialCluster`, `initialAdvertisePeerUrls`. */
export function etcdRestoreArgs(params: readonly TaskParam[] | undefined, snapshotFile: string): string[] {
  const dataDir = paramValue(params, 'dataDir');
  if (!dataDir)
    throw new ValidationError(
      'task.params[dataDir]',
      'an etcd restore needs the task param dataDir: the new, not yet existing data directory to restore into',
    );
  const args = ['snapshot', 'restore', snapshotFile, `--data-dir=${dataDir}`];
  const optional: Array<[param: string, flag: string]> = [
    ['name', '--name'],
    ['initialCluster', '--initial-cluster'],
    ['initialClusterToken', '--initial-cluster-token'],
    ['initialAdvertisePeerUrls', '--initial-advertise-peer-urls'],
  ];
  for (const [param, flag] of optional) {
    const v = paramValue(params, param);
    if (v) args.push(`${flag}=${v}`);
  }
  return args;
}

/** The connection is not dialled: a snapshot restores into a data directory, from which a new member starts. */
export async function restoreEtcd(restic: Restic, o: EtcdOptions & { snapshot: string }): Promise<{ bytes: number }> {
  const dir = await mkdtemp(join(o.tmpDir ?? tmpdir(), 'stash-etcd-'));
  try {
    const file = join(dir, ETCD_SNAPSHOT_FILENAME);
    const args = etcdRestoreArgs(o.params, file);
    const dataDir = paramValue(o.params, 'dataDir')!;
    if (
      await stat(dataDir).then(
        () => true,
        () => false,
      )
    )
      throw new ValidationError(
        'task.params[dataDir]',
        `dataDir ${dataDir} exists: an etcd restore makes a new data directory`,
      );
    const env = { PATH: o.path ?? process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
    const out = await restic.dumpToCommand(
      o.snapshot,
      `/${ETCD_SNAPSHOT_FILENAME}`,
      { file: 'dd', args: [`of=${file}`, 'bs=1M', 'status=none'], env },
      { host: o.host, signal: o.signal },
    );
    await run('etcdutl', args, env, o.signal);
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
