// A throwaway PostgreSQL server for tests (Debian's postgresql-15): initdb into a private temporary
// directory, listening on 127.0.0.1 at a free port with its socket in that directory. PostgreSQL refuses
// to run as root, and tests run as root here, so initdb and the server run as the `postgres` system user
// the Debian package creates (through util-linux `setpriv`, which execs in place so signals reach the
// server); the temporary directory is handed to that user. The test's own SQL goes over the socket
// (`trust` for local connections, which only root and `postgres` can reach); the user handed to the code
// under test is a superuser with a password over TCP (scram-sha-256), like a database member's Secret.
//
// SQL always travels on psql's stdin, never in argv, so a password in a statement stays out of
// /proc/<pid>/cmdline (tests sample that for the canary password).
import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { userInfo, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startServer, type ServerProcess } from './proc.ts';
import { onPath } from './bins.ts';
import { endBlockedSession, holdInSession } from './sql-session.ts';

export interface PostgresOptions {
  user?: string;
  password?: string;
  /** OS user the server runs as when the tests run as root; default `postgres`. */
  osUser?: string;
}

export interface Postgres {
  host: string;
  port: number;
  user: string;
  password: string;
  socketDir: string;
  dir: string;
  server: ServerProcess;
  /** Runs SQL as the bootstrap superuser over the socket (ON_ERROR_STOP); unaligned, tuples only. */
  sql(statements: string, database?: string): Promise<string>;
  /** Every row of a table ordered by all its columns, as COPY text (binary-safe for bytea). */
  rows(database: string, table: string): Promise<string>;
  /** Databases other than postgres and the templates. */
  databases(): Promise<string[]>;
  /** Keeps `LOCK TABLE … IN ACCESS EXCLUSIVE MODE` in an open transaction until release(). */
  holdExclusiveLock(database: string, table: string): Promise<{ release(): Promise<void> }>;
  /** Waits until a session of `user` waits for a lock, then terminates it; returns its query. */
  terminateBlockedSession(user: string, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export function postgresBinDir(): string | undefined {
  for (const v of ['17', '16', '15', '14', '13']) {
    const d = `/usr/lib/postgresql/${v}/bin`;
    if (existsSync(join(d, 'postgres')) && existsSync(join(d, 'initdb'))) return d;
  }
  const initdb = onPath('initdb');
  return initdb ? join(initdb, '..') : undefined;
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<Postgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL server not found: run hack/install-system-packages.sh (Debian postgresql-15)');
  const asRoot = userInfo().uid === 0;
  const osUser = opts.osUser ?? 'postgres';
  const dir = await mkdtemp(join(tmpdir(), 'stash-ts-postgres-'));
  const dataDir = join(dir, 'data');
  const env = { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: dir, TMPDIR: dir, LC_ALL: 'C.UTF-8' };
  // initdb wants a superuser password when host connections need one; nobody uses it afterwards.
  const pwfile = join(dir, 'initdb-pw');
  await writeFile(pwfile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const ids = asRoot ? await osIds(osUser) : undefined;
  if (ids) {
    await chown(dir, ids.uid, ids.gid);
    await chown(pwfile, ids.uid, ids.gid);
  }
  const asUser = (file: string, args: string[]): [string, string[]] =>
    ids ? ['setpriv', [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--init-groups', file, ...args]] : [file, args];
  const cleanupOnError = async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  };
  await run(
    ...asUser(join(bin, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      'postgres',
      `--pwfile=${pwfile}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
      '--no-sync',
      '--no-instructions',
    ]),
    { env },
  ).catch(cleanupOnError);
  await rm(pwfile);
  const port = await freePort();
  const user = opts.user ?? 'stash';
  const password = opts.password ?? 'postgres-test-password';
  const psqlArgs = (database: string) => [
    '-X',
    '-q',
    '-h',
    dir,
    '-p',
    String(port),
    '-U',
    'postgres',
    '-d',
    database,
    '-v',
    'ON_ERROR_STOP=1',
    '-At',
  ];
  const sql = (statements: string, database = 'postgres') =>
    run(join(bin, 'psql'), psqlArgs(database), { env, input: statements });
  const [file, args] = asUser(join(bin, 'postgres'), [
    '-D',
    dataDir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'shared_buffers=16MB',
  ]);
  const server = await startServer(file, args, {
    env,
    ready: () =>
      sql('SELECT 1').then(
        () => true,
        () => false,
      ),
    readyTimeoutMs: 30_000,
  }).catch(cleanupOnError);
  await sql(`CREATE ROLE "${user}" LOGIN SUPERUSER PASSWORD ${literal(password)};\n`);

  const rows = async (database: string, table: string): Promise<string> => {
    const n = Number(
      (
        await sql(
          `SELECT count(*) FROM information_schema.columns WHERE table_schema='public' AND table_name=${literal(table)}`,
          database,
        )
      ).trim(),
    );
    if (!(n > 0)) throw new Error(`table ${database}.${table} not found`);
    const order = Array.from({ length: n }, (_, i) => String(i + 1)).join(',');
    return sql(`COPY (SELECT * FROM public."${table}" ORDER BY ${order}) TO STDOUT`, database);
  };

  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    socketDir: dir,
    dir,
    server,
    sql,
    rows,
    async databases() {
      const out = await sql(
        "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY 1",
      );
      return out.split('\n').filter(Boolean);
    },
    holdExclusiveLock(database, table) {
      return holdInSession(
        join(bin, 'psql'),
        psqlArgs(database),
        env,
        `BEGIN;\nLOCK TABLE public."${table}" IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n`,
        'ROLLBACK;\n',
        `${database}.${table}`,
      );
    },
    terminateBlockedSession(who, timeoutMs = 20_000) {
      return endBlockedSession(
        async () => {
          const out = await sql(
            `SELECT pid, query FROM pg_stat_activity WHERE usename=${literal(who)} AND wait_event_type='Lock' LIMIT 1`,
          );
          const [pid, ...query] = out.trim().split('|');
          return pid ? { id: pid, query: query.join('|') } : undefined;
        },
        (pid) => sql(`SELECT pg_terminate_backend(${Number(pid)})`),
        who,
        timeoutMs,
      );
    },
    async stop() {
      // SIGINT is PostgreSQL's fast shutdown (SIGTERM waits for clients); the group kill follows anyway.
      try {
        process.kill(server.pid, 'SIGINT');
      } catch {
        // already gone
      }
      await server.stop(3000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A SQL string literal (standard_conforming_strings is on by default). */
export function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

async function osIds(name: string): Promise<{ uid: number; gid: number }> {
  const out = await run('getent', ['passwd', name], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  const f = out.trim().split(':');
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0)
    throw new Error(`no usable non-root OS user ${name} for PostgreSQL`);
  return { uid, gid };
}

function run(file: string, args: string[], o: { env: NodeJS.ProcessEnv; input?: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { env: o.env, maxBuffer: 256 * 1024 * 1024, encoding: 'latin1' },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${file} failed: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      },
    );
    // EPIPE when the client exits without reading (a readiness probe before the server listens).
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(o.input ?? '');
  });
}
