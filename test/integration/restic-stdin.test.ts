// Stdin backups (database dumps): a producer that fails — before or together with the end of its
// stream — must never leave a snapshot; cancellation and timeouts interrupt restic cleanly (no lock left).
// Restores stream a dump back into a consumer process: a failure on either side fails the restore, and
// neither side dying leaves the other hanging.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resticBinaries } from '../backends/bins.ts';
import { makeLocalBackend } from '../backends/local.ts';
import { makeRestic } from '../backends/restic.ts';
import {
  CancelledError,
  ConsumerFailedError,
  ResticFailedError,
  WrongPasswordError,
} from '../../shared/restic/errors.ts';

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
      {
        file: 'sh',
        args: ['-c', 'i=0; while [ $i -lt 2000 ]; do echo "insert into t values ($i);"; i=$((i+1)); done'],
      },
      { host, filename: 'dump.sql' },
    );
    t.ok(ok.snapshotId, 'a successful producer gives a snapshot');
    const target = join(work, 'restore');
    await restic.restore(ok.snapshotId!, { target });
    const restored = await readFile(join(target, 'dump.sql'), 'utf8');
    t.equal(restored.split('\n').length, 2001, 'the dump is restored whole');
    t.match(restored, /^insert into t values \(0\);\ninsert into t values \(1\);/, 'content in order');

    await t.rejects(
      restic.backupCommand(
        { file: 'sh', args: ['-c', 'echo partial; echo "pg_dump: connection lost" >&2; exit 3'] },
        { host, filename: 'dump.sql' },
      ),
      { name: 'CancelledError', reason: 'producer-failed', message: /exit code 3.*connection lost/ },
      'a producer failing right at the end of its stream fails the backup',
    );
    await t.rejects(
      restic.backupCommand(
        { file: 'sh', args: ['-c', 'echo partial; sleep 1; exit 1'] },
        { host, filename: 'dump.sql' },
      ),
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
    const err = await restic
      .backupStdin({ source: open, done: new Promise(() => {}) }, { host, filename: 'dump.sql', signal: ac.signal })
      .catch((e: unknown) => e);
    t.ok(err instanceof CancelledError && err.reason === 'aborted', 'abort cancels');

    const slow = new PassThrough();
    slow.write('rows\n');
    await t.rejects(
      restic.backupStdin({ source: slow, done: new Promise(() => {}) }, { host, filename: 'dump.sql', timeoutMs: 800 }),
      { name: 'CancelledError', reason: 'timeout' },
      'the outer timeout cancels',
    );

    const snaps = await restic.snapshots();
    t.same(
      snaps.map((s) => s.id),
      [ok.snapshotId!.length === 8 ? snaps[0]!.id : ok.snapshotId],
      'only the successful dump has a snapshot',
    );
    t.equal(snaps[0]?.id.slice(0, 8), ok.snapshotId!.slice(0, 8), 'and it is the successful one');
    t.same(await restic.listLocks(), [], 'SIGINT cleanup left no lock behind');
  });
}

for (const [version, bin] of resticBinaries()) {
  t.test(`dump into a consumer process, restic ${version}`, async (t) => {
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
    // binary and text, and far larger than a pipe buffer, so backpressure and early exits are exercised
    const dump = Buffer.concat([
      Buffer.from('-- dump\n'),
      randomBytes(3 * 1024 * 1024 + 17),
      Buffer.from('\n-- end\n'),
    ]);
    const source = join(work, 'source.dump');
    await writeFile(source, dump);
    const backed = await restic.backupCommand({ file: 'cat', args: [source] }, { host, filename: 'db.dump' });
    t.ok(backed.snapshotId, 'the dump was backed up');
    const PATH = process.env.PATH ?? '/usr/bin:/bin';

    const out = join(work, 'restored.dump');
    const envFile = join(work, 'consumer.env');
    const res = await restic.dumpToCommand(
      'latest',
      'db.dump',
      { file: 'sh', args: ['-c', 'env > "$1"; cat > "$2"', 'sh', envFile, out], env: { PATH, MARK: 'consumer-only' } },
      { host },
    );
    t.ok((await readFile(out)).equals(dump), 'the consumer received identical bytes');
    t.equal(res.bytes, dump.length, 'bytes streamed are reported');
    const env = await readFile(envFile, 'utf8');
    t.match(env, /^MARK=consumer-only$/m, 'the consumer gets the env it was given');
    t.notMatch(env, /RESTIC_|AWS_/, 'no restic variables reach the consumer');
    t.notOk(env.includes(local.secret.RESTIC_PASSWORD!), 'nor the repository password');

    await rm(out);
    await restic.dumpToCommand(backed.snapshotId!, '/db.dump', {
      file: 'sh',
      args: ['-c', 'cat > "$1"', 'sh', out],
      env: { PATH },
    });
    t.ok((await readFile(out)).equals(dump), 'an explicit snapshot id and absolute path work too');

    let t0 = Date.now();
    const failed = await restic
      .dumpToCommand(
        'latest',
        'db.dump',
        {
          file: 'sh',
          args: [
            '-c',
            'head -c 1000 >/dev/null; echo "psql: ERROR: relation exists" >&2; echo "PGPASSWORD was $PGPASSWORD" >&2; exit 3',
          ],
          env: { PATH, PGPASSWORD: 'db-secret-value' },
        },
        { host },
      )
      .catch((e: unknown) => e);
    t.ok(failed instanceof ConsumerFailedError, `a consumer failing mid-stream rejects (${String(failed)})`);
    t.match(
      (failed as Error).message,
      /sh failed \(exit code 3\).*relation exists/,
      'with its exit code and stderr tail',
    );
    t.notMatch((failed as Error).message, /db-secret-value/, 'secret env values are masked in the tail');
    t.same((failed as ConsumerFailedError).exitCode, 3);
    t.ok(Date.now() - t0 < 15_000, 'restic was interrupted, not waited for');

    t0 = Date.now();
    const early = await restic
      .dumpToCommand(
        'latest',
        'db.dump',
        { file: 'sh', args: ['-c', 'head -c 10 >/dev/null'], env: { PATH } },
        { host },
      )
      .catch((e: unknown) => e);
    t.ok(
      early instanceof ConsumerFailedError && /before the end of the stream/.test(early.message),
      `a consumer that stops reading rejects (${String(early)})`,
    );
    t.ok(Date.now() - t0 < 15_000, 'without hanging');

    const afterEnd = await restic
      .dumpToCommand(
        'latest',
        'db.dump',
        { file: 'sh', args: ['-c', 'cat >/dev/null; echo "restore failed" >&2; exit 1'], env: { PATH } },
        { host },
      )
      .catch((e: unknown) => e);
    t.ok(
      afterEnd instanceof ConsumerFailedError && /exit code 1.*restore failed/.test(afterEnd.message),
      'a consumer failing after the whole stream rejects',
    );

    // restic fails: the consumer must be terminated, not handed a clean end of stream
    const marker = join(work, 'saw-eof');
    t0 = Date.now();
    await t.rejects(
      restic.dumpToCommand(
        'latest',
        'missing.dump',
        { file: 'sh', args: ['-c', 'cat >/dev/null && touch "$1"', 'sh', marker], env: { PATH } },
        { host },
      ),
      ResticFailedError,
      "a file missing from the snapshot rejects with restic's error",
    );
    t.ok(Date.now() - t0 < 15_000, 'and the waiting consumer does not keep it hanging');
    await t.rejects(readFile(marker), 'the consumer never saw a clean end of stream');
    await t.rejects(
      restic.dumpToCommand('latest', 'db.dump', { file: 'cat', args: [], env: { PATH } }, { host: 'other-host' }),
      ResticFailedError,
      'no snapshot of that host rejects',
    );
    await t.rejects(
      restic.dumpToCommand('0123abcd', 'db.dump', { file: 'cat', args: [], env: { PATH } }),
      ResticFailedError,
      'an unknown snapshot id rejects',
    );
    await t.rejects(
      restic.dumpToCommand('latest', 'db.dump', { file: join(work, 'no-such-client'), args: [] }),
      ConsumerFailedError,
      'a consumer that cannot start rejects',
    );

    const { restic: wrong, cleanup: cleanupWrong } = await makeRestic(bin, local.backend, {
      ...local.secret,
      RESTIC_PASSWORD: 'not-the-password',
    });
    t.teardown(cleanupWrong);
    await t.rejects(
      wrong.dumpToCommand('latest', 'db.dump', { file: 'cat', args: [], env: { PATH } }),
      WrongPasswordError,
      'a wrong password rejects',
    );

    const ac = new AbortController();
    setTimeout(() => ac.abort(), 500);
    t0 = Date.now();
    const aborted = await restic
      .dumpToCommand(
        'latest',
        'db.dump',
        { file: 'sh', args: ['-c', 'sleep 30'], env: { PATH } },
        { signal: ac.signal },
      )
      .catch((e: unknown) => e);
    t.ok(aborted instanceof CancelledError && aborted.reason === 'aborted', 'abort cancels both sides');
    t.ok(Date.now() - t0 < 15_000, 'promptly, although the consumer never reads');
    await t.rejects(
      restic.dumpToCommand(
        'latest',
        'db.dump',
        { file: 'sh', args: ['-c', 'cat >/dev/null; sleep 30'], env: { PATH } },
        { timeoutMs: 1500 },
      ),
      { name: 'CancelledError', reason: 'timeout' },
      'a consumer hanging after the stream hits the timeout',
    );

    t.same(await restic.listLocks(), [], 'no lock left behind');
  });
}
