// Stdin backups (database dumps): a producer that fails — before or together with the end of its
// stream — must never leave a snapshot; cancellation and timeouts interrupt restic cleanly (no lock left).
import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resticBinaries } from '../backends/bins.ts';
import { makeLocalBackend } from '../backends/local.ts';
import { makeRestic } from '../backends/restic.ts';
import { CancelledError } from '../../shared/restic/errors.ts';

for (const [version, bin] of resticBinaries()) {
  t.test(`stdin backups, restic ${version}`, async (t) => {
    const local = await makeLocalBackend();
    const work = await mkdtemp(join(tmpdir(), 'stash-ts-it-'));
    const { restic, cleanup } = await makeRestic(bin, local.backend, local.secret, { graceMs: 15_000 });
    t.teardown(async () => {
      await cleanup();
      await local.stop();
      await rm(work, { recursive: true, force: true });
    });
    await restic.init();
    const host = 'db';

    const ok = await restic.backupCommand(
      { file: 'sh', args: ['-c', 'i=0; while [ $i -lt 2000 ]; do echo "insert into t values ($i);"; i=$((i+1)); done'] },
      { host, filename: 'dump.sql' },
    );
    t.ok(ok.snapshotId, 'a successful producer gives a snapshot');
    const target = join(work, 'restore');
    await restic.restore(ok.snapshotId!, { target });
    const restored = await readFile(join(target, 'dump.sql'), 'utf8');
    t.equal(restored.split('\n').length, 2001, 'the dump is restored whole');
    t.match(restored, /^insert into t values \(0\);\ninsert into t values \(1\);/, 'content in order');

    await t.rejects(
      restic.backupCommand({ file: 'sh', args: ['-c', 'echo partial; echo "pg_dump: connection lost" >&2; exit 3'] }, { host, filename: 'dump.sql' }),
      { name: 'CancelledError', reason: 'producer-failed', message: /exit code 3.*connection lost/ },
      'a producer failing right at the end of its stream fails the backup',
    );
    await t.rejects(
      restic.backupCommand({ file: 'sh', args: ['-c', 'echo partial; sleep 1; exit 1'] }, { host, filename: 'dump.sql' }),
      { name: 'CancelledError', reason: 'producer-failed' },
      'a producer failing later fails the backup',
    );
    const stream = new PassThrough();
    stream.write('some rows\n');
    setTimeout(() => stream.destroy(new Error('exec stream broke')), 500);
    await t.rejects(
      restic.backupStdin({ source: stream, done: new Promise(() => {}) }, { host, filename: 'dump.sql' }),
      { name: 'CancelledError', reason: 'producer-failed', message: /exec stream broke/ },
      'a stream error fails the backup',
    );

    const ac = new AbortController();
    const open = new PassThrough();
    open.write('rows\n');
    setTimeout(() => ac.abort(), 700);
    const err = await restic.backupStdin({ source: open, done: new Promise(() => {}) }, { host, filename: 'dump.sql', signal: ac.signal }).catch((e: unknown) => e);
    t.ok(err instanceof CancelledError && err.reason === 'aborted', 'abort cancels');

    const slow = new PassThrough();
    slow.write('rows\n');
    await t.rejects(
      restic.backupStdin({ source: slow, done: new Promise(() => {}) }, { host, filename: 'dump.sql', timeoutMs: 800 }),
      { name: 'CancelledError', reason: 'timeout' },
      'the outer timeout cancels',
    );

    const snaps = await restic.snapshots();
    t.same(snaps.map((s) => s.id), [ok.snapshotId!.length === 8 ? snaps[0]!.id : ok.snapshotId], 'only the successful dump has a snapshot');
    t.equal(snaps[0]?.id.slice(0, 8), ok.snapshotId!.slice(0, 8), 'and it is the successful one');
    t.same(await restic.listLocks(), [], 'SIGINT cleanup left no lock behind');
  });
}
