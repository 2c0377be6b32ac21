// Backup and restore of one database member: the dump client's stdout goes into `restic backup --stdin`
// as /dumpfile.sql (upstream's file name, so snapshots are interchangeable), and `restic dump` of that
// file goes into the restore client's stdin. The restic wrapper owns the failure semantics — a producer
// that fails, even after most of its output, leaves no snapshot; a consumer never sees a clean end of a
// truncated stream — and this module owns the clients, their credentials and readable errors.
import { StashError } from '../../shared/errors.ts';
import type { Restic } from '../../shared/restic/command.ts';
import type { BackupResult } from '../../shared/restic/output.ts';
import { makeRedactor } from '../../shared/restic/redact.ts';
import type { TaskParam } from './args.ts';
import { prepareDump, prepareRestore, type CommandOptions, type PreparedCommand } from './commands.ts';
import type { DatabaseConnection } from './connection.ts';

/** The file a dump is stored as inside the snapshot. */
export const DUMP_FILENAME = 'dumpfile.sql';

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

function describe(conn: DatabaseConnection): string {
  return `${conn.engine === 'mysql' ? 'MySQL/MariaDB' : 'PostgreSQL'} at ${conn.host}:${conn.port}`;
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

export async function backupDatabase(
  restic: Restic,
  conn: DatabaseConnection,
  o: DatabaseBackupOptions,
): Promise<BackupResult> {
  const redact = makeRedactor([conn.password]);
  return withCommand(prepareDump(conn, commandOptions(o)), async ({ command }) => {
    try {
      return await restic.backupCommand(command, {
        host: o.host,
        filename: DUMP_FILENAME,
        signal: o.signal,
        timeoutMs: o.timeoutMs,
        tags: o.tags,
      });
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new DatabaseError('DATABASE_BACKUP_FAILED', redact(`backup of ${describe(conn)} failed: ${msg}`), {
        cause: err,
      });
    }
  });
}

/**
 * Streams the snapshot's dump into the engine's client. MySQL/MariaDB stop at the first failing statement;
 * PostgreSQL's psql runs under a guard that fails on any error a full dump does not always meet (an
 * existing bootstrap role). Returns the number of dump bytes applied.
 */
export async function restoreDatabase(
  restic: Restic,
  conn: DatabaseConnection,
  o: DatabaseRestoreOptions,
): Promise<{ bytes: number }> {
  const redact = makeRedactor([conn.password]);
  return withCommand(prepareRestore(conn, commandOptions(o)), async ({ command }) => {
    try {
      return await restic.dumpToCommand(o.snapshot, `/${DUMP_FILENAME}`, command, {
        host: o.host,
        signal: o.signal,
        timeoutMs: o.timeoutMs,
      });
    } catch (err) {
      // The PostgreSQL client runs under node (the guard): name psql, not the node binary.
      const raw = err instanceof Error ? err.message : String(err);
      const msg = command.file === 'mysql' ? raw : raw.split(command.file).join('psql');
      throw new DatabaseError(
        'DATABASE_RESTORE_FAILED',
        redact(`restore of ${describe(conn)} from snapshot ${o.snapshot} failed: ${msg}`),
        { cause: err },
      );
    }
  });
}
