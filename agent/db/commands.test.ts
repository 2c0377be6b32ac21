import t from 'tap';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  buildDumpCommand,
  buildRestoreCommand,
  mysqlOptionFileText,
  optionValue,
  pgPositionalDatabase,
  prepareDump,
  prepareRestore,
  PSQL_GUARD,
} from './commands.ts';
import type { DatabaseConnection } from './connection.ts';

const PASSWORD = 'canary-Pw"#\\;';
const mysql: DatabaseConnection = {
  engine: 'mysql',
  host: 'mysql.shop.svc',
  port: 3306,
  user: 'root',
  password: PASSWORD,
};
const pg: DatabaseConnection = {
  engine: 'postgres',
  host: '127.0.0.1',
  port: 5433,
  user: 'postgres',
  password: PASSWORD,
  database: 'postgres',
  sslMode: 'disable',
};
const args = (v: string) => [{ name: 'args', value: v }];

t.test('mysqldump: all databases, one consistent snapshot, credentials in the option file', async (t) => {
  const c = buildDumpCommand(mysql, { optionFile: '/run/x/client.cnf', path: '/usr/bin' });
  t.equal(c.file, 'mysqldump');
  t.same(c.args, [
    '--defaults-file=/run/x/client.cnf',
    '--host=mysql.shop.svc',
    '--port=3306',
    '--protocol=TCP',
    '--default-character-set=utf8mb4',
    '--single-transaction',
    '--quick',
    '--routines',
    '--events',
    '--triggers',
    '--hex-blob',
    '--all-databases',
  ]);
  t.same(c.env, { PATH: '/usr/bin' }, 'the environment is exactly PATH');
  t.same(
    buildDumpCommand(mysql, { optionFile: 'f', params: args('--databases shop blog') }).args.slice(-3),
    ['--databases', 'shop', 'blog'],
    'args choosing databases replace --all-databases',
  );
  t.same(
    buildDumpCommand(mysql, { optionFile: 'f', params: args('shop orders') }).args.slice(-2),
    ['shop', 'orders'],
    'a positional database too',
  );
  t.same(
    buildDumpCommand(mysql, { optionFile: 'f', params: args('--skip-comments') }).args.slice(-2),
    ['--all-databases', '--skip-comments'],
    'other flags keep the default',
  );
  t.throws(() => buildDumpCommand(mysql), { message: /option file/ });
});

t.test('pg_dumpall by default, pg_dump when args name a database; password only in env', async (t) => {
  const c = buildDumpCommand(pg, { path: '/usr/bin' });
  t.equal(c.file, 'pg_dumpall');
  t.same(c.args, ['--host=127.0.0.1', '--port=5433', '--username=postgres', '--no-password']);
  t.same(c.env, {
    PATH: '/usr/bin',
    PGPASSWORD: PASSWORD,
    PGCONNECT_TIMEOUT: '30',
    PGAPPNAME: 'stash-ts',
    PGSSLMODE: 'disable',
  });
  t.equal(buildDumpCommand(pg, { params: args('--clean --if-exists') }).file, 'pg_dumpall');
  const one = buildDumpCommand(pg, { params: args('--create -n public shop') });
  t.equal(one.file, 'pg_dump');
  t.same(one.args.slice(-4), ['--create', '-n', 'public', 'shop']);
  t.equal(pgPositionalDatabase(['-n', 'public']), undefined, 'an option value is not a database');
  t.equal(pgPositionalDatabase(['--schema=x', 'db']), 'db');
  t.equal(pgPositionalDatabase(['--', 'db']), 'db');
});

t.test('restore clients', async (t) => {
  const m = buildRestoreCommand(mysql, { optionFile: '/f', path: '/bin' });
  t.same(
    [m.file, ...m.args],
    [
      'mysql',
      '--defaults-file=/f',
      '--host=mysql.shop.svc',
      '--port=3306',
      '--protocol=TCP',
      '--default-character-set=utf8mb4',
      '--binary-mode',
    ],
  );
  t.same(m.env, { PATH: '/bin' });
  const p = buildRestoreCommand(pg, { nodePath: '/node', path: '/bin' });
  t.same(
    [p.file, ...p.args],
    [
      '/node',
      '--no-warnings',
      PSQL_GUARD,
      'psql',
      '-X',
      '--quiet',
      '--host=127.0.0.1',
      '--port=5433',
      '--username=postgres',
      '--no-password',
      '--dbname=postgres',
    ],
  );
  t.equal(p.env.PGPASSWORD, PASSWORD);
  const q = buildRestoreCommand(pg, { nodePath: '/node', params: args('--dbname=shop --single-transaction') });
  t.same(q.args.slice(-2), ['--dbname=shop', '--single-transaction'], 'a user --dbname replaces ours');
  t.notOk(q.args.includes('--dbname=postgres'));
});

t.test('no command line carries the password', async (t) => {
  for (const c of [
    buildDumpCommand(mysql, { optionFile: 'f' }),
    buildDumpCommand(pg),
    buildRestoreCommand(mysql, { optionFile: 'f' }),
    buildRestoreCommand(pg),
  ]) {
    t.notOk(
      [c.file, ...c.args].some((a) => a.includes(PASSWORD)),
      c.file,
    );
  }
});

t.test('option file: quoted values, mode 0600 in a private directory, removed by cleanup', async (t) => {
  t.equal(optionValue('a"b\\c#d\ne'), '"a\\"b\\\\c#d\\ne"');
  t.equal(mysqlOptionFileText(mysql), `[client]\nuser="root"\npassword="canary-Pw\\"#\\\\;"\n`);
  t.throws(() => optionValue('a\0b'), { message: /NUL/ });
  const prepared = await prepareDump(mysql, { tmpDir: t.testdir() });
  const file = prepared.command.args[0]!.replace('--defaults-file=', '');
  t.equal((await stat(file)).mode & 0o777, 0o600);
  t.equal((await stat(dirname(file))).mode & 0o777, 0o700);
  t.equal(await readFile(file, 'utf8'), mysqlOptionFileText(mysql));
  await prepared.cleanup();
  await t.rejects(stat(dirname(file)), { code: 'ENOENT' });
  await prepared.cleanup();
  const r = await prepareRestore(pg);
  t.equal(r.command.args[2], 'psql', 'PostgreSQL needs no file');
  await r.cleanup();
});
