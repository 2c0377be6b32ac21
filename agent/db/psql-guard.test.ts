import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorOf, unexpected } from './psql-guard.ts';
import { PSQL_GUARD } from './commands.ts';

t.test('classifies psql error lines', async (t) => {
  t.equal(errorOf('psql:<stdin>:14: ERROR:  role "postgres" already exists'), 'role "postgres" already exists');
  t.equal(errorOf('ERROR:  relation "t" already exists'), 'relation "t" already exists');
  t.equal(errorOf('NOTICE:  database "a" does not exist, skipping'), undefined);
  t.equal(errorOf('psql:<stdin>:3: WARNING:  something'), undefined);
  t.notOk(unexpected('role "postgres" already exists'));
  t.notOk(unexpected('database "shop" already exists'));
  t.notOk(unexpected('current user cannot be dropped'));
  t.ok(unexpected('relation "t" already exists'));
  t.ok(unexpected('duplicate key value violates unique constraint "t_pkey"'));
  t.ok(unexpected('permission denied for table t'));
});

t.test('exit status from what the wrapped client printed', async (t) => {
  // A stand-in for psql: prints the lines it is given on stderr, then exits with the given code.
  const fake = join(t.testdir(), 'fake-psql');
  await writeFile(
    fake,
    '#!/bin/sh\ncode=$1; shift\nfor l in "$@"; do echo "$l" >&2; done\ncat >/dev/null\nexit $code\n',
  );
  await chmod(fake, 0o755);
  const run = (code: number, ...lines: string[]) =>
    spawnSync(process.execPath, ['--no-warnings', PSQL_GUARD, fake, String(code), ...lines], {
      input: 'SELECT 1;\n',
      encoding: 'utf8',
    });
  t.equal(run(0).status, 0, 'clean run');
  t.equal(run(0, 'psql:<stdin>:5: ERROR:  role "postgres" already exists').status, 0, 'expected collision');
  const bad = run(
    0,
    'psql:<stdin>:5: ERROR:  role "postgres" already exists',
    'psql:<stdin>:9: ERROR:  relation "t" already exists',
    'psql:<stdin>:10: ERROR:  duplicate key value violates unique constraint "t_pkey"',
  );
  t.equal(bad.status, 3, 'unexpected errors fail the restore');
  t.match(
    bad.stderr.trim().split('\n').at(-1),
    /^2 statement\(s\) of the dump failed, first: relation "t" already exists \| duplicate key/,
  );
  t.equal(run(2, 'psql: error: connection refused').status, 2, "psql's own failure passes through");
  t.equal(spawnSync(process.execPath, [PSQL_GUARD, join(t.testdir(), 'missing')], { encoding: 'utf8' }).status, 127);
});
