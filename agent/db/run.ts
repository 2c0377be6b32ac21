// Backup and restore of one database member: the dump client's stdout goes into `restic backup --stdin`
// as /dumpfile.sql (upstream's file name, so snapshots are interchangeable), and `restic dump` of that
// file goes into the restore client's stdin. The restic wrapper owns the failure semantics — a producer
// that fails, even after most of its output, leaves no snapshot; a consumer never sees a clean end of a
// truncated stream — and this module owns the clients, their credentials and readable errors.
import { StashError, ValidationError } from '../../shared/errors.ts';
import type { Restic } from '../../shared/restic/command.ts';
import type { BackupResult } from '../../shared/restic/output.ts';
import { makeRedactor } from '../../shared/restic/redact.ts';
import type { TaskParam } from './args.ts';
import { prepareDump, prepareRestore, type CommandOptions, type DbCommand, type PreparedCommand } from './commands.ts';
import type { DatabaseConnection } from './connection.ts';
import type { Engine } from './tasks.ts';
import { ETCD_SNAPSHOT_FILENAME, backupEtcd, restoreEtcd } from './etcd.ts';
import {
  REDIS_DUMP_FILENAME,
  buildRedisDumpCommand,
  buildRedisRestoreCommand,
  flushRedis,
  redisFlushFirst,
} from './redis.ts';
import { MONGODB_DUMP_FILENAME, buildMongoDumpCommand, buildMongoRestoreCommand } from './mongodb.ts';

/** The file a dump is stored as inside the snapshot. */
export const DUMP_FILENAME = 'dumpfile.sql';

/** The stored file of each engine's dump (upstream's names, so snapshots are interchangeable). */
export function dumpFilename(engine: Engine): string {
  if (engine === 'redis') return REDIS_DUMP_FILENAME;
  if (engine === 'mongodb') return MONGODB_DUMP_FILENAME;
  return engine === 'etcd' ? ETCD_SNAPSHOT_FILENAME : DUMP_FILENAME;
}

export interface DatabaseBackupOptions {
  /** restic --host (docs/api.md §12: `<alias>` or `host-0` for a database). */
  host: string;
  params?: readonly TaskParam[];
  signal?: AbortSignal;
  timeoutMs?: number;
  tags?: string[];
  /** PATH for the database client; default the agent's. */
  path?: string;
  /** Where the client's private option file is written; default the OS temp dir. */
  tmpDir?: string;
}

export interface DatabaseRestoreOptions extends DatabaseBackupOptions {
  /** Snapshot id, or `latest` (then restricted to `host`). */
  snapshot: string;
}

/** A database backup or restore failed; the message names the database and never carries its password. */
export class DatabaseError extends StashError {
  constructor(
    code: 'DATABASE_BACKUP_FAILED' | 'DATABASE_RESTORE_FAILED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

const ENGINE_NAME: Record<Engine, string> = {
  mysql: 'MySQL/MariaDB',
  postgres: 'PostgreSQL',
  redis: 'Redis',
  mongodb: 'MongoDB',
  etcd: 'etcd',
};

export function describe(conn: DatabaseConnection): string {
  return `${ENGINE_NAME[conn.engine]} at ${conn.host}:${conn.port}`;
}

const noCleanup = async () => undefined;

function dumpCommand(conn: DatabaseConnection, o: CommandOptions): Promise<PreparedCommand> {
  if (conn.engine === 'redis')
    return Promise.resolve({ command: buildRedisDumpCommand(conn, { path: o.path }), cleanup: noCleanup });
  if (conn.engine === 'mongodb')
    return Promise.resolve({ command: buildMongoDumpCommand(conn, o), cleanup: noCleanup });
  return prepareDump(conn, o);
}

function restoreCommand(conn: DatabaseConnection, o: CommandOptions): Promise<PreparedCommand> {
  if (conn.engine === 'redis')
    return Promise.resolve({ command: buildRedisRestoreCommand(conn, o), cleanup: noCleanup });
  if (conn.engine === 'mongodb')
    return Promise.resolve({ command: buildMongoRestoreCommand(conn, o), cleanup: noCleanup });
  return prepareRestore(conn, o);
}

async function withCommand<T>(prepare: Promise<PreparedCommand>, fn: (p: PreparedCommand) => Promise<T>): Promise<T> {
  const p = await prepare;
  try {
    return await fn(p);
  } finally {
    await p.cleanup();
  }
}

function commandOptions(o: DatabaseBackupOptions): CommandOptions {
  return { params: o.params, path: o.path, tmpDir: o.tmpDir };
}

/**
 * Clients that run under node (psql behind its guard, our Redis dump, our MongoDB dump and restore), by what
 * errors call them: a failure names the client, not the node binary.
 */
const NODE_CLIENTS: Partial<Record<`${Engine}-${'backup' | 'restore'}`, string>> = {
  'postgres-restore': 'psql',
  'redis-backup': 'redis-dump',
  'mongodb-backup': 'mongodb-dump',
  'mongodb-restore': 'mongodb-restore',
};

function clientMessage(err: unknown, command: DbCommand, nodeClient: string | undefined): string {
  const raw = err instanceof Error ? err.message : String(err);
  return nodeClient && command.file === process.execPath ? raw.split(command.file).join(nodeClient) : raw;
}

export async function backupDatabase(
  restic: Restic,
  conn: DatabaseConnection,
  o: DatabaseBackupOptions,
): Promise<BackupResult> {
  const redact = makeRedactor([conn.password]);
  if (conn.engine === 'etcd')
    return backupEtcd(restic, conn, { ...commandOptions(o), host: o.host, signal: o.signal, tags: o.tags }).catch(
      (err: unknown) => {
        const msg = err instanceof Error ? err.message : String(err);
        throw new DatabaseError('DATABASE_BACKUP_FAILED', redact(`backup of ${describe(conn)} failed: ${msg}`), {
          cause: err,
        });
      },
    );
  return withCommand(dumpCommand(conn, commandOptions(o)), async ({ command }) => {
    try {
      return await restic.backupCommand(command, {
        host: o.host,
        filename: dumpFilename(conn.engine),
        signal: o.signal,
        timeoutMs: o.timeoutMs,
        tags: o.tags,
      });
    } catch (err) {
      const msg = clientMessage(err, command, NODE_CLIENTS[`${conn.engine}-backup`]);
      throw new DatabaseError('DATABASE_BACKUP_FAILED', redact(`backup of ${describe(conn)} failed: ${msg}`), {
        cause: err,
      });
    }
  });
}

/**
 * Streams the snapshot's dump into the engine's client. MySQL/MariaDB stop at the first failing statement;
 * PostgreSQL's psql runs under a guard that fails on any error a full dump does not always meet (an
 * existing bootstrap role); Redis's `redis-cli --pipe` fails when any command failed (after a FLUSHALL
 * first when the task's `flushAll` param says so); MongoDB's restore client fails on a duplicate _id unless
 * `dropCollections` asked it to drop each collection first, and on a stream without its trailer. Returns the
 * number of dump bytes applied.
 */
export async function restoreDatabase(
  restic: Restic,
  conn: DatabaseConnection,
  o: DatabaseRestoreOptions,
): Promise<{ bytes: number }> {
  const redact = makeRedactor([conn.password]);
  if (conn.engine === 'etcd')
    return restoreEtcd(restic, { ...commandOptions(o), host: o.host, snapshot: o.snapshot, signal: o.signal }).catch(
      (err: unknown) => {
        if (err instanceof ValidationError) throw err;
        const msg = err instanceof Error ? err.message : String(err);
        throw new DatabaseError(
          'DATABASE_RESTORE_FAILED',
          redact(`restore of ${describe(conn)} from snapshot ${o.snapshot} failed: ${msg}`),
          { cause: err },
        );
      },
    );
  const flush = conn.engine === 'redis' && redisFlushFirst(o.params);
  return withCommand(restoreCommand(conn, commandOptions(o)), async ({ command }) => {
    try {
      if (flush) await flushRedis(conn);
      return await restic.dumpToCommand(o.snapshot, `/${dumpFilename(conn.engine)}`, command, {
        host: o.host,
        signal: o.signal,
        timeoutMs: o.timeoutMs,
      });
    } catch (err) {
      const msg = clientMessage(err, command, NODE_CLIENTS[`${conn.engine}-restore`]);
      throw new DatabaseError(
        'DATABASE_RESTORE_FAILED',
        redact(`restore of ${describe(conn)} from snapshot ${o.snapshot} failed: ${msg}`),
        { cause: err },
      );
    }
  });
}
