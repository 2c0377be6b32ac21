// The dump and restore clients for each engine, as argv arrays with an explicit, minimal environment.
// Credentials never reach argv (tests read /proc/<pid>/cmdline for them): MySQL/MariaDB clients read them
// from a private option file (mode 0600 in a 0700 directory) named by --defaults-file, which also keeps
// the machine's /etc/mysql configuration out of the run; PostgreSQL clients get PGPASSWORD in their
// environment. `args` from the task are appended after our options, so a user's flag wins where the
// client lets a later flag override an earlier one.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '../../shared/errors.ts';
import { argsParam, type TaskParam } from './args.ts';
import type { DatabaseConnection } from './connection.ts';

export interface DbCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
}

export interface PreparedCommand {
  command: DbCommand;
  /** Removes the option file, if one was written. Idempotent. */
  cleanup(): Promise<void>;
}

export interface CommandOptions {
  /** The member's task.params; `args` is the one read here. */
  params?: readonly TaskParam[];
  /** PATH for the client; default the agent's PATH. */
  path?: string;
  /** Where the private option-file directory goes; default the OS temp dir. */
  tmpDir?: string;
}

/** The psql wrapper that fails a restore on unexpected SQL errors (see psql-guard.ts). */
export const PSQL_GUARD = join(import.meta.dirname, 'psql-guard.ts');

/** MySQL option-file value: always double-quoted, so `#`, `;`, spaces and quotes survive. */
export function optionValue(v: string): string {
  if (v.includes('\0')) throw new ValidationError('secret', 'a credential contains a NUL byte');
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}"`;
}

export function mysqlOptionFileText(conn: Pick<DatabaseConnection, 'user' | 'password'>): string {
  return `[client]\nuser=${optionValue(conn.user)}\npassword=${optionValue(conn.password)}\n`;
}

/** True when mysqldump args already choose what to dump (otherwise we add --all-databases). */
export function mysqlSelectsDatabases(args: readonly string[]): boolean {
  return args.some((a) => a === '-A' || a === '-B' || /^--(all-databases|databases)$/.test(a) || !a.startsWith('-'));
}

/** pg_dump/psql options whose value may be the next word. */
const PG_VALUE_OPTS = new Set([
  '-d',
  '-h',
  '-p',
  '-U',
  '-f',
  '-F',
  '-n',
  '-N',
  '-t',
  '-T',
  '-j',
  '-Z',
  '-E',
  '-S',
  '-v',
  '-c',
  '-L',
  '-o',
  '-P',
  '-R',
  '--dbname',
  '--host',
  '--port',
  '--username',
  '--file',
  '--format',
  '--schema',
  '--exclude-schema',
  '--table',
  '--exclude-table',
  '--jobs',
  '--compress',
  '--encoding',
  '--superuser',
  '--role',
  '--set',
  '--variable',
  '--command',
  '--lock-wait-timeout',
  '--exclude-database',
  '--exclude-table-data',
  '--section',
  '--snapshot',
  '--extra-float-digits',
  '--rows-per-insert',
]);

/** The database a positional word in pg args names (dump that one with pg_dump), if any. */
export function pgPositionalDatabase(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return args[i + 1];
    if (a.startsWith('-')) {
      if (!a.includes('=') && PG_VALUE_OPTS.has(a)) i++;
      continue;
    }
    return a;
  }
  return undefined;
}

function baseEnv(o: CommandOptions): Record<string, string> {
  return { PATH: o.path ?? process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
}

function pgEnv(conn: DatabaseConnection, o: CommandOptions): Record<string, string> {
  const env: Record<string, string> = {
    ...baseEnv(o),
    PGPASSWORD: conn.password,
    PGCONNECT_TIMEOUT: '30',
    PGAPPNAME: 'stash-ts',
  };
  if (conn.sslMode) env.PGSSLMODE = conn.sslMode;
  return env;
}

function mysqlServerArgs(conn: DatabaseConnection, optionFile: string): string[] {
  // --defaults-file must come first; --protocol=TCP so "localhost" does not silently mean a local socket.
  return [
    `--defaults-file=${optionFile}`,
    `--host=${conn.host}`,
    `--port=${conn.port}`,
    '--protocol=TCP',
    '--default-character-set=utf8mb4',
  ];
}

function pgServerArgs(conn: DatabaseConnection): string[] {
  return [`--host=${conn.host}`, `--port=${conn.port}`, `--username=${conn.user}`, '--no-password'];
}

/** The dump command, given the option file (MySQL) already written. Pure, for tests. */
export function buildDumpCommand(
  conn: DatabaseConnection,
  o: CommandOptions & { optionFile?: string } = {},
): DbCommand {
  const extra = argsParam(o.params) ?? [];
  if (conn.engine === 'mysql') {
    if (!o.optionFile) throw new ValidationError('optionFile', 'a MySQL dump needs its option file');
    // One consistent InnoDB snapshot without locking writers; rows streamed, not buffered; blobs as hex
    // so no character-set conversion can touch them; routines, events and triggers with the tables.
    const args = [
      ...mysqlServerArgs(conn, o.optionFile),
      '--single-transaction',
      '--quick',
      '--routines',
      '--events',
      '--triggers',
      '--hex-blob',
    ];
    args.push(...(mysqlSelectsDatabases(extra) ? extra : ['--all-databases', ...extra]));
    return { file: 'mysqldump', args, env: baseEnv(o) };
  }
  const single = pgPositionalDatabase(extra);
  // pg_dumpall (roles and every database) unless args name one database, as upstream's default.
  return { file: single ? 'pg_dump' : 'pg_dumpall', args: [...pgServerArgs(conn), ...extra], env: pgEnv(conn, o) };
}

/** The restore command (reads the dump on stdin), given the option file (MySQL). Pure, for tests. */
export function buildRestoreCommand(
  conn: DatabaseConnection,
  o: CommandOptions & { optionFile?: string; nodePath?: string } = {},
): DbCommand {
  const extra = argsParam(o.params) ?? [];
  if (conn.engine === 'mysql') {
    if (!o.optionFile) throw new ValidationError('optionFile', 'a MySQL restore needs its option file');
    // The mysql client stops at the first failing statement and exits non-zero.
    return {
      file: 'mysql',
      args: [...mysqlServerArgs(conn, o.optionFile), '--binary-mode', ...extra],
      env: baseEnv(o),
    };
  }
  const dbArg = extra.some((a) => a === '-d' || a.startsWith('--dbname'))
    ? []
    : [`--dbname=${conn.database ?? 'postgres'}`];
  // psql goes on after a failing statement and exits 0; the guard turns unexpected errors into a failure.
  const psqlArgs = ['-X', '--quiet', ...pgServerArgs(conn), ...dbArg, ...extra];
  return {
    file: o.nodePath ?? process.execPath,
    args: ['--no-warnings', PSQL_GUARD, 'psql', ...psqlArgs],
    env: pgEnv(conn, o),
  };
}

async function withOptionFile(
  conn: DatabaseConnection,
  o: CommandOptions,
  build: (optionFile?: string) => DbCommand,
): Promise<PreparedCommand> {
  if (conn.engine !== 'mysql') return { command: build(), cleanup: async () => undefined };
  const dir = await mkdtemp(join(o.tmpDir ?? tmpdir(), 'stash-db-'));
  const file = join(dir, 'client.cnf');
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    await writeFile(file, mysqlOptionFileText(conn), { mode: 0o600, flag: 'wx' });
    return { command: build(file), cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

export function prepareDump(conn: DatabaseConnection, o: CommandOptions = {}): Promise<PreparedCommand> {
  return withOptionFile(conn, o, (optionFile) => buildDumpCommand(conn, { ...o, optionFile }));
}

export function prepareRestore(conn: DatabaseConnection, o: CommandOptions = {}): Promise<PreparedCommand> {
  return withOptionFile(conn, o, (optionFile) => buildRestoreCommand(conn, { ...o, optionFile }));
}
