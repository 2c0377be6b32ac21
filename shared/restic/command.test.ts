// Process handling of the wrapper with a stand-in binary (test/fixtures/restic/fake-restic.sh):
// cancellation is SIGINT first and SIGKILL only after the grace period, timeouts, argv layout,
// and replayed recorded outputs flowing through exec → classify.
import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveRepository } from './backend.ts';
import { Restic, type ResticOptions } from './command.ts';
import { CancelledError, ResticFailedError, WrongPasswordError } from './errors.ts';

const FAKE = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'restic', 'fake-restic.sh');
const FIX = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'restic');
const dir = await mkdtemp(join(tmpdir(), 'stash-ts-cmd-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const repo = await resolveRepository(
  { local: { mountPath: join(dir, 'repo') } },
  { RESTIC_PASSWORD: 'fake-password' },
  { scratchDir: join(dir, 's') },
);

function fake(env: Record<string, string>, o: Partial<ResticOptions> = {}) {
  return new Restic({ repo, bin: FAKE, cache: { dir: join(dir, 'cache') }, tmpDir: dir, extraEnv: env, ...o });
}

async function replay(version: string, name: string): Promise<Record<string, string>> {
  const rec = JSON.parse(await readFile(join(FIX, version, `${name}.json`), 'utf8')) as {
    stdout: string;
    stderr: string;
    exitCode: number;
  };
  const out = join(dir, `${version}-${name}.out`);
  const err = join(dir, `${version}-${name}.err`);
  await writeFile(out, rec.stdout);
  await writeFile(err, rec.stderr);
  return { FAKE_MODE: 'replay', FAKE_STDOUT: out, FAKE_STDERR: err, FAKE_EXIT: String(rec.exitCode) };
}

t.test('abort sends SIGINT; restic cleans up and the run is cancelled', async (t) => {
  const ac = new AbortController();
  const lines: string[] = [];
  setTimeout(() => ac.abort(), 300);
  const r = await fake({ FAKE_MODE: 'graceful' }).exec(['backup'], { signal: ac.signal, onLine: (l) => lines.push(l) });
  t.ok(r.error instanceof CancelledError && r.error.reason === 'aborted', 'cancelled');
  t.equal(r.exitCode, 130, 'the fake handled SIGINT');
  t.ok(lines.includes('signal interrupt received, cleaning up'), 'lines are streamed');
});

t.test('a restic that ignores SIGINT is killed after the grace period, not before', async (t) => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 200);
  const t0 = Date.now();
  const r = await fake({ FAKE_MODE: 'ignore-int' }, { graceMs: 1500 }).exec(['backup'], { signal: ac.signal });
  const ms = Date.now() - t0;
  t.equal(r.signal, 'SIGKILL', 'SIGKILL in the end');
  t.ok(ms >= 1600 && ms < 10_000, `after the grace period (${ms} ms)`);
  t.ok(r.error instanceof CancelledError, 'still reported as cancelled');
});

t.test('outer timeout', async (t) => {
  const r = await fake({ FAKE_MODE: 'graceful' }).exec(['check'], { timeoutMs: 300 });
  t.ok(r.error instanceof CancelledError && r.error.reason === 'timeout', 'timed out');
});

t.test('an already aborted signal never starts restic', async (t) => {
  const ac = new AbortController();
  ac.abort();
  const argv = join(dir, 'never');
  const r = await fake({ FAKE_MODE: 'graceful', FAKE_ARGV: argv }).exec(['backup'], { signal: ac.signal });
  t.ok(r.error instanceof CancelledError, 'cancelled');
  await t.rejects(readFile(argv), 'not spawned');
});

t.test('argv layout and input validation', async (t) => {
  const argvFile = join(dir, 'argv');
  const r = fake({ ...(await replay('0.18.1', 'backup')), FAKE_ARGV: argvFile });
  const res = await r.backup([dir], { host: 'app', tags: ['t1'], excludes: ['*.tmp'], args: ['--one-file-system'] });
  t.match(res.snapshotId, /^[0-9a-f]{64}$/, 'summary parsed from the replayed output');
  t.same((await readFile(argvFile, 'utf8')).trim().split('\n'), [
    '--json',
    '--cache-dir',
    join(dir, 'cache'),
    'backup',
    '--host',
    'app',
    '--tag',
    't1',
    '--exclude',
    '*.tmp',
    '--one-file-system',
    '--',
    dir,
  ]);
  await t.rejects(r.backup(['relative/path'], { host: 'h' }), /must be absolute/, 'relative paths refused');
  await t.rejects(
    r.backup([join(dir, 'missing')], { host: 'h' }),
    /not accessible/,
    'missing paths refused before restic (it would only warn)',
  );
  await t.rejects(r.backup([dir], { host: '' }), /stable --host/, 'host required');
  await t.rejects(r.restore('latest; rm -rf /'), /not a snapshot id/, 'snapshot ids validated');
});

t.test('replayed failures of both versions are classified', async (t) => {
  for (const v of ['0.14.0', '0.18.1']) {
    await t.rejects(
      fake(await replay(v, 'cat-config-wrong-password')).exists(),
      WrongPasswordError,
      `${v} wrong password`,
    );
    t.equal(await fake(await replay(v, 'cat-config-missing')).exists(), false, `${v} missing repository`);
    t.equal(await fake(await replay(v, 'cat-config')).exists(), true, `${v} existing repository`);
    t.same(
      (await fake(await replay(v, 'forget-empty-policy'), {}).exec(['forget'])).error?.constructor.name ?? 'none',
      v === '0.14.0' ? 'none' : 'ResticFailedError',
      `${v} empty policy`,
    );
  }
});

t.test('a missing binary is a failure, not a crash', async (t) => {
  const r = await new Restic({ repo, bin: join(dir, 'no-such-restic'), cache: false }).exec(['version']);
  t.ok(r.error instanceof ResticFailedError, 'ResticFailedError');
  t.match(r.error?.message, /cannot run restic version/);
});
