// A throwaway MariaDB server for tests (Debian's mariadb-server): a fresh data directory from
// mariadb-install-db in a private temporary directory, listening on 127.0.0.1 at a free port, with its
// socket beside the data. Tests run as root here, and mariadbd refuses root unless told `--user=root`:
// the temporary directory is root's own (mode 0700), so the server runs as root rather than `mysql`.
// `root` logs in over the socket only (unix_socket authentication) for the test's own SQL; the user a
// test hands to the code under test has a password and logs in over TCP, like a real database member.
//
// SQL always travels on the client's stdin, never in argv, so a password in a statement stays out of
// /proc/<pid>/cmdline (tests sample that for the canary password).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startServer, type ServerProcess } from './proc.ts';
import { onPath } from './bins.ts';
import { endBlockedSession, holdInSession } from './sql-session.ts';

export interface MariaDbOptions {
  user?: string;
  password?: string;
}

export interface MariaDb {
  host: string;
  port: number;
  user: string;
  password: string;
  /** The unix socket root uses (not handed to the code under test). */
  socket: string;
  dir: string;
  server: ServerProcess;
  /** Runs SQL as root; returns the output in batch form (tab-separated, no header). */
  sql(statements: string, database?: string): Promise<string>;
  /** Every row of a table, ordered by all its columns, as the client prints it in batch mode (binary-safe). */
  rows(database: string, table: string): Promise<string>;
  /** Databases other than the server's own. */
  databases(): Promise<string[]>;
  /** Keeps `LOCK TABLES db.table WRITE` in an open root session until release(). */
  holdWriteLock(database: string, table: string): Promise<{ release(): Promise<void> }>;
  /** Waits until a session of `user` waits for a table lock, then kills that session; returns its query. */
  killBlockedSession(user: string, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

const SYSTEM_DATABASES = new Set(['mysql', 'information_schema', 'performance_schema', 'sys']);

export function mariadbAvailable(): boolean {
  return (
    onPath('mariadbd', `${process.env.PATH ?? ''}:/usr/sbin`) !== undefined &&
    onPath('mariadb-install-db') !== undefined
  );
}

export async function startMariaDb(opts: MariaDbOptions = {}): Promise<MariaDb> {
  const mariadbd = onPath('mariadbd', `${process.env.PATH ?? ''}:/usr/sbin`);
  if (!mariadbd) throw new Error('mariadbd not found: run hack/install-system-packages.sh (Debian mariadb-server)');
  const dir = await mkdtemp(join(tmpdir(), 'stash-ts-mariadb-'));
  const dataDir = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  const env = { PATH: `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/sbin`, HOME: dir, TMPDIR: dir };
  // Small InnoDB files keep the data directory (and its creation) small: the defaults write ~100 MB.
  const serverFlags = ['--innodb-log-file-size=8M', '--innodb-buffer-pool-size=32M', '--skip-name-resolve'];
  try {
    await run(
      'mariadb-install-db',
      [
        '--no-defaults',
        `--datadir=${dataDir}`,
        '--user=root',
        '--auth-root-authentication-method=socket',
        '--skip-test-db',
        ...serverFlags,
      ],
      { env },
    );
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const port = await freePort();
  const user = opts.user ?? 'stash';
  const password = opts.password ?? 'mariadb-test-password';
  const sql = (statements: string, database?: string) =>
    run(
      'mariadb',
      [
        '--no-defaults',
        `--socket=${socket}`,
        '--user=root',
        '--batch',
        '--skip-column-names',
        '--default-character-set=utf8mb4',
        ...(database ? [`--database=${database}`] : []),
      ],
      { env, input: statements },
    );
  let server: ServerProcess;
  try {
    server = await startServer(
      mariadbd,
      [
        '--no-defaults',
        `--datadir=${dataDir}`,
        '--user=root',
        '--bind-address=127.0.0.1',
        `--port=${port}`,
        `--socket=${socket}`,
        `--pid-file=${join(dir, 'mysqld.pid')}`,
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_bin',
        ...serverFlags,
      ],
      {
        env,
        ready: () =>
          sql('SELECT 1').then(
            () => true,
            () => false,
          ),
        readyTimeoutMs: 30_000,
      },
    );
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const quotedPassword = `'${password.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  await sql(
    `CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY ${quotedPassword};\n` +
      `GRANT ALL PRIVILEGES ON *.* TO '${user}'@'127.0.0.1' WITH GRANT OPTION;\n`,
  );

  const rows = async (database: string, table: string): Promise<string> => {
    const count = await sql(
      `SELECT COUNT(*) FROM information_schema.columns WHERE table_schema='${database}' AND table_name='${table}'`,
    );
    const n = Number(count.trim());
    if (!(n > 0)) throw new Error(`table ${database}.${table} not found`);
    const order = Array.from({ length: n }, (_, i) => String(i + 1)).join(',');
    return sql(`SELECT * FROM \`${database}\`.\`${table}\` ORDER BY ${order}`);
  };

  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    socket,
    dir,
    server,
    sql,
    rows,
    async databases() {
      const out = await sql('SHOW DATABASES');
      return out
        .split('\n')
        .filter((d) => d && !SYSTEM_DATABASES.has(d))
        .sort();
    },
    holdWriteLock(database, table) {
      return holdInSession(
        'mariadb',
        ['--no-defaults', `--socket=${socket}`, '--user=root', '--batch', '--skip-column-names', '--unbuffered'],
        env,
        `LOCK TABLES \`${database}\`.\`${table}\` WRITE;\nSELECT 'locked';\n`,
        'UNLOCK TABLES;\n',
        `${database}.${table}`,
      );
    },
    killBlockedSession(who, timeoutMs = 20_000) {
      return endBlockedSession(
        async () => {
          const out = await sql(
            `SELECT id, info FROM information_schema.processlist WHERE user='${who}' AND state LIKE 'Waiting for table%' LIMIT 1`,
          );
          const [id, ...info] = out.trim().split('\t');
          return id ? { id, query: info.join('\t') } : undefined;
        },
        (id) => sql(`KILL ${Number(id)}`),
        who,
        timeoutMs,
      );
    },
    async stop() {
      await server.stop(5000);
      await rm(dir, { recursive: true, force: true });
    },
  };
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
