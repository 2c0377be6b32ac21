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

/** Matches the restic wrapper's secret-name rule, so a consumer's error output is masked with it too. */
export const MONGODB_PASSWORD_ENV = 'STASH_MONGODB_PASSWORD';

/**
 * Whether a restore drops each collection before filling it: `dropCollections: "true"`, or mongorestore's
 * `--drop` in `args` (how upstream's MongoDB addon is asked for it). Without it, a collection that already
 * holds one of the snapshot's _ids fails the restore rather than merging two versions of the data.
 */
export function mongoDropFirst(params: readonly TaskParam[] | undefined): boolean {
  const v = paramValue(params, 'dropCollections');
  let drop = false;
  if (v === 'true') drop = true;
  else if (v !== undefined && v !== '' && v !== 'false')
    throw new ValidationError(
      'task.params[dropCollections]',
      `dropCollections must be "true" or "false", not ${JSON.stringify(v)}`,
    );
  const args = argsParam(params) ?? [];
  const unknown = args.filter((a) => a !== '--drop');
  if (unknown.length > 0)
    throw new ValidationError(
      'task.params[args]',
      `the MongoDB member runs its own dump client, not mongodump/mongorestore: args may only be --drop, not ${JSON.stringify(unknown.join(' '))}`,
    );
  return drop || args.includes('--drop');
}

/** A backup takes no params: anything in `args` would be a mongodump flag we cannot honour. */
export function checkMongoBackupParams(params: readonly TaskParam[] | undefined): void {
  const args = argsParam(params) ?? [];
  if (args.length > 0)
    throw new ValidationError(
      'task.params[args]',
      `the MongoDB member dumps every user database with its own client; mongodump args (${JSON.stringify(args.join(' '))}) are not supported`,
    );
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
  checkMongoBackupParams(o.params);
  return {
    file: o.nodePath ?? process.execPath,
    args: ['--no-warnings', MONGODB_DUMP_SCRIPT, ...serverArgs(conn)],
    env: mongoEnv(conn, o.path),
  };
}

export function buildMongoRestoreCommand(
  conn: DatabaseConnection,
  o: { params?: readonly TaskParam[]; path?: string; nodePath?: string } = {},
): DbCommand {
  const drop = mongoDropFirst(o.params);
  return {
    file: o.nodePath ?? process.execPath,
    args: ['--no-warnings', MONGODB_RESTORE_SCRIPT, ...serverArgs(conn), ...(drop ? ['--drop'] : [])],
    env: mongoEnv(conn, o.path),
  };
}
