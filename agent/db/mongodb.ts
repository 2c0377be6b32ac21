// The MongoDB member (docs/decisions/0014-more-member-kinds.md, docs/decisions/0021-mongodb-dump-format.md):
// our own dump client on the Node driver writes every user database as newline-delimited canonical Extended
// JSON into `restic backup --stdin`, and our own restore client replays it; mongodump/mongorestore are not
// used (mongo-tools could not be built here), so a snapshot is not a mongodump archive. Both clients run as
// child processes under node, like the Redis dump, so the producer/consumer failure rules of the restic
// wrapper apply: a dump that does not exit 0 leaves no snapshot. This module only builds their command lines
// and reads the task params; it does not load the driver. The password reaches the child through
// STASH_MONGODB_PASSWORD in its environment, never argv.
import { join } from 'node:path';
import { ValidationError } from '../../shared/errors.ts';
import { argsParam, paramValue, type TaskParam } from './args.ts';
import type { DbCommand } from './commands.ts';
import type { DatabaseConnection } from './connection.ts';

/** The stored file name: not upstream's mongodump archive name, since the content is not one. */
export const MONGODB_DUMP_FILENAME = 'dumpfile.ejson';

export const MONGODB_DUMP_SCRIPT = join(import.meta.dirname, 'mongodb-dump.ts');
export const MONGODB_RESTORE_SCRIPT = join(import.meta.dirname, 'mongodb-restore.ts');

/** Databases no dump includes: the server's own (users and roles, sharding metadata, the oplog). */
export const SYSTEM_DATABASES: ReadonlySet<string> = new Set(['admin', 'config', 'local']);

/** Matches the restic wrapper's secret-name rule, so a consumer's error output is masked with it too. */
export const MONGODB_PASSWORD_ENV = 'STASH_MONGODB_PASSWORD';

export interface MongoTaskOptions {
  /** mongodump/mongorestore's `--db`: only this database is dumped, or restored from the dump. */
  db?: string;
  /** Restore only: drop each of the snapshot's collections before filling it. */
  drop: boolean;
}

/**
 * The mongodump/mongorestore flags our own clients honour, from the task's `args`: `--db <name>` (also
 * `--db=<name>`, `-d <name>`) on both sides, and `--drop` on restore (how upstream's MongoDB addon is asked to
 * replace collections). Any other flag is refused with a reason: there is no mongodump to pass it to.
 */
function mongoArgs(params: readonly TaskParam[] | undefined, action: 'backup' | 'restore'): MongoTaskOptions {
  const args = argsParam(params) ?? [];
  const out: MongoTaskOptions = { drop: false };
  const unknown: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--drop' && action === 'restore') out.drop = true;
    else if (a === '--db' || a === '-d') {
      const v = args[++i];
      if (v === undefined || v.startsWith('-'))
        throw new ValidationError('task.params[args]', `${a} needs a database name`);
      out.db = v;
    } else if (a.startsWith('--db=')) out.db = a.slice('--db='.length);
    else unknown.push(a);
  }
  if (unknown.length > 0)
    throw new ValidationError(
      'task.params[args]',
      `the MongoDB member runs its own dump client, not mongodump/mongorestore: args may only be ` +
        `${action === 'restore' ? '--drop and ' : ''}--db <name>, not ${JSON.stringify(unknown.join(' '))}`,
    );
  if (out.db !== undefined && (out.db === '' || SYSTEM_DATABASES.has(out.db)))
    throw new ValidationError(
      'task.params[args]',
      out.db === ''
        ? '--db needs a database name'
        : `--db ${out.db}: admin, config and local are the server's own and are never dumped`,
    );
  return out;
}

/**
 * What a restore does: `dropCollections: "true"` or `--drop` drops each collection of the snapshot first;
 * without it, a collection that already holds one of the snapshot's _ids fails the restore rather than merging
 * two versions of the data. `--db` restores one database of the dump.
 */
export function mongoRestoreOptions(params: readonly TaskParam[] | undefined): MongoTaskOptions {
  const v = paramValue(params, 'dropCollections');
  if (v !== undefined && v !== '' && v !== 'true' && v !== 'false')
    throw new ValidationError(
      'task.params[dropCollections]',
      `dropCollections must be "true" or "false", not ${JSON.stringify(v)}`,
    );
  const o = mongoArgs(params, 'restore');
  return { ...o, drop: o.drop || v === 'true' };
}

/** What a backup dumps: every user database, or the one `--db` names. */
export function mongoBackupOptions(params: readonly TaskParam[] | undefined): MongoTaskOptions {
  return mongoArgs(params, 'backup');
}

function mongoEnv(conn: DatabaseConnection, path: string | undefined): Record<string, string> {
  const env: Record<string, string> = { PATH: path ?? process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
  if (conn.password) env[MONGODB_PASSWORD_ENV] = conn.password;
  return env;
}

function serverArgs(conn: DatabaseConnection): string[] {
  return [
    '--host',
    conn.host,
    '--port',
    String(conn.port),
    ...(conn.user ? ['--user', conn.user] : []),
    ...(conn.user && conn.database ? ['--auth-source', conn.database] : []),
  ];
}

export function buildMongoDumpCommand(
  conn: DatabaseConnection,
  o: { params?: readonly TaskParam[]; path?: string; nodePath?: string } = {},
): DbCommand {
  const { db } = mongoBackupOptions(o.params);
  return {
    file: o.nodePath ?? process.execPath,
    args: ['--no-warnings', MONGODB_DUMP_SCRIPT, ...serverArgs(conn), ...(db !== undefined ? ['--db', db] : [])],
    env: mongoEnv(conn, o.path),
  };
}

export function buildMongoRestoreCommand(
  conn: DatabaseConnection,
  o: { params?: readonly TaskParam[]; path?: string; nodePath?: string } = {},
): DbCommand {
  const { drop, db } = mongoRestoreOptions(o.params);
  return {
    file: o.nodePath ?? process.execPath,
    args: [
      '--no-warnings',
      MONGODB_RESTORE_SCRIPT,
      ...serverArgs(conn),
      ...(drop ? ['--drop'] : []),
      ...(db !== undefined ? ['--db', db] : []),
    ],
    env: mongoEnv(conn, o.path),
  };
}
