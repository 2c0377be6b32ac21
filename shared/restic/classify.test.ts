// Classification and parsing against outputs RECORDED from real restic 0.14.0 and 0.18.1
// (test/fixtures/restic/<version>/*.json, made by test/fixtures/restic/record.ts).
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { classify } from './classify.ts';
import {
  BackendAccessDeniedError,
  BackendUnreachableError,
  CancelledError,
  LockedError,
  RepositoryMissingError,
  ResticFailedError,
  WrongPasswordError,
} from './errors.ts';
import { parseLock } from './output.ts';
import { makeRedactor } from './redact.ts';

interface Rec {
  version: string;
  name: string;
  argv: string[];
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}
const FIX = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'restic');
const versions = readdirSync(FIX)
  .filter((d) => /^\d+\.\d+\.\d+$/.test(d))
  .sort();

function load(version: string, name: string): Rec {
  return JSON.parse(readFileSync(join(FIX, version, `${name}.json`), 'utf8')) as Rec;
}
function outcome(r: Rec, stoppedBy?: 'aborted' | 'timeout') {
  return {
    command: r.argv.find((a) => !a.startsWith('-')) ?? '',
    exitCode: r.exitCode ?? undefined,
    signal: r.signal ?? undefined,
    stderrLines: r.stderr.split('\n').filter((l) => l !== ''),
    stoppedBy,
  };
}

t.ok(versions.includes('0.14.0') && versions.includes('0.18.1'), 'fixtures of both versions are present');

for (const v of versions) {
  t.test(`restic ${v}`, async (t) => {
    const cases: Array<[string, new (...a: never[]) => Error]> = [
      ['cat-config-missing', RepositoryMissingError],
      ['snapshots-missing', RepositoryMissingError],
      ['rest-missing', RepositoryMissingError],
      ['cat-config-wrong-password', WrongPasswordError],
      ['snapshots-wrong-password', WrongPasswordError],
      ['rest-wrong-password', WrongPasswordError],
      ['rest-bad-auth', BackendAccessDeniedError],
      ['rest-unreachable', BackendUnreachableError],
      ['check-locked', LockedError],
      ['forget-locked', LockedError],
      ['backup-locked-exclusive', LockedError],
      ['snapshots-locked-exclusive', LockedError],
      ['init-exists', ResticFailedError],
      ['backup-missing-path', ResticFailedError],
      ['restore-missing-snapshot', ResticFailedError],
      ['restore-latest-nomatch', ResticFailedError],
    ];
    for (const [name, cls] of cases) {
      const r = load(v, name);
      t.not(r.exitCode, 0, `${name}: restic failed`);
      const err = classify(outcome(r));
      t.ok(err instanceof cls, `${name} → ${cls.name} (got ${err?.constructor.name}: ${err?.message})`);
    }
    for (const name of [
      'init',
      'cat-config',
      'backup',
      'snapshots',
      'stats',
      'forget',
      'check',
      'restore',
      'unlock',
      'list-locks',
    ]) {
      t.equal(classify(outcome(load(v, name))), undefined, `${name}: success`);
    }

    // lock holder details parsed from the message, matching the lock file itself
    const lock = parseLock('x'.repeat(64), load(v, 'cat-lock').stdout)!;
    const locked = classify(outcome(load(v, 'check-locked'))) as LockedError;
    t.equal(locked.holder?.pid, lock.pid, 'holder pid');
    t.equal(locked.holder?.hostname, lock.hostname, 'holder host');
    t.equal(locked.holder?.exclusive, false, 'shared holder');
    t.equal(locked.holder?.uid, 0, 'uid');
    t.match(locked.holder?.storageIdPrefix, /^[0-9a-f]{8}$/, 'storage id');
    t.match(locked.message, new RegExp(`PID ${lock.pid} on ${lock.hostname}`), 'message names the holder');
    const excl = classify(outcome(load(v, 'backup-locked-exclusive'))) as LockedError;
    t.equal(excl.holder?.exclusive, true, 'exclusive holder');
    const stale = parseLock('y'.repeat(64), load(v, 'cat-lock-stale').stdout)!;
    t.equal(excl.holder?.pid, stale.pid, 'exclusive holder pid matches the lock file');

    // 0.14 exits 130 on SIGINT (0.18 ignored it while blocked on stdin and was killed)
    const cancelled = load(v, 'backup-stdin-cancelled');
    const c = classify(outcome(cancelled));
    t.ok(c instanceof CancelledError || c instanceof ResticFailedError, 'interrupted backup is not a success');
    t.ok(
      classify(outcome(cancelled, 'aborted')) instanceof CancelledError,
      'stopped by us → cancelled whatever the exit',
    );
    // an unreachable endpoint that ran into our timeout is reported as unreachable, not as cancelled
    t.ok(
      classify(outcome(load(v, 'rest-unreachable'), 'timeout')) instanceof BackendUnreachableError,
      'timeout + refused → unreachable',
    );
    t.ok(classify(outcome(load(v, 'backup'), 'timeout')) instanceof CancelledError, 'timeout otherwise → cancelled');

    // redaction: restic masks the REST password itself; our redactor masks the raw value too
    const unreachable = classify({ ...outcome(load(v, 'rest-unreachable')), redact: makeRedactor(['s3cret']) })!;
    t.notMatch(unreachable.message + unreachable.stderrTail.join('\n'), /s3cret/, 'no password in messages');
    t.match(unreachable.stderrTail.join('\n'), /user:\*\*\*@/, 'userinfo masked');
    // eslint-disable-next-line no-control-regex -- asserts that no ESC survives
    t.notMatch(unreachable.stderrTail.join('\n'), /\x1b/, 'ANSI stripped');
  });
}

t.test('exit codes of 0.17+ alone are enough', async (t) => {
  const bare = (exitCode: number) => classify({ command: 'x', exitCode, signal: undefined, stderrLines: [] });
  t.ok(bare(10) instanceof RepositoryMissingError, '10');
  t.ok(bare(11) instanceof LockedError, '11');
  t.ok(bare(12) instanceof WrongPasswordError, '12');
  t.ok(bare(130) instanceof CancelledError, '130');
  t.ok(bare(2) instanceof ResticFailedError, '2');
  t.ok(bare(77) instanceof ResticFailedError, 'unknown code is a failure');
  t.equal(bare(0), undefined, '0');
  t.ok(
    classify({ command: 'x', exitCode: undefined, signal: 'SIGKILL', stderrLines: [] }) instanceof ResticFailedError,
    'killed',
  );
  t.ok(
    classify({
      command: 'x',
      exitCode: 1,
      signal: undefined,
      stderrLines: ['Fatal: unable to open config file: Stat: The specified bucket does not exist'],
    }) instanceof RepositoryMissingError,
    'missing bucket',
  );
  t.ok(
    classify({
      command: 'x',
      exitCode: 1,
      signal: undefined,
      stderrLines: ['Fatal: unable to open config file: Stat: Access Denied.'],
    }) instanceof BackendAccessDeniedError,
    's3 access denied',
  );
  t.ok(
    classify({
      command: 'x',
      exitCode: 1,
      signal: undefined,
      stderrLines: [
        'Fatal: unable to open config file: Head "https://x/config": x509: certificate signed by unknown authority',
      ],
    }) instanceof BackendUnreachableError,
    'TLS',
  );
});
