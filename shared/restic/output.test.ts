// JSON/text parsing against recorded outputs of restic 0.14.0 and 0.18.1 (test/fixtures/restic/).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cleanLine,
  errorText,
  parseCheck,
  parseConfig,
  parseForget,
  parseIdList,
  parseInit,
  parseLock,
  parseLockHolder,
  parseMessage,
  parseRestore,
  parseSnapshots,
  parseStats,
  parseVersionText,
  type ResticMessage,
} from './output.ts';

const FIX = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'restic');
interface Rec {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}
const load = (v: string, name: string) => JSON.parse(readFileSync(join(FIX, v, `${name}.json`), 'utf8')) as Rec;
const messages = (text: string) =>
  text
    .split('\n')
    .map(parseMessage)
    .filter((m): m is ResticMessage => m !== undefined);

for (const v of ['0.14.0', '0.18.1']) {
  const is014 = v === '0.14.0';
  t.test(`restic ${v}`, async (t) => {
    t.equal(parseVersionText(load(v, 'version').stdout), v, 'version');

    const init = parseInit(load(v, 'init').stdout);
    t.match(init, is014 ? /^[0-9a-f]{10}$/ : /^[0-9a-f]{64}$/, 'init id (text in 0.14, JSON after)');
    const config = parseConfig(load(v, 'cat-config').stdout);
    t.equal(config?.version, 2, 'repository format v2');
    if (!is014) t.equal(config?.id, init, 'config id = init id');

    const backup = messages(load(v, 'backup').stdout);
    const summary = backup.find((m) => m.type === 'summary');
    t.ok(summary?.type === 'summary', 'backup summary');
    if (summary?.type === 'summary') {
      const s = summary.summary;
      t.match(s.snapshotId, is014 ? /^[0-9a-f]{8}$/ : /^[0-9a-f]{64}$/, 'short id in 0.14, full id later');
      t.equal(s.filesNew, 2, 'files_new');
      t.equal(s.totalBytesProcessed, 200006, 'bytes processed');
      t.equal(s.dataAddedPacked === undefined, is014, 'data_added_packed only 0.17+');
      t.equal(s.backupEnd === undefined, is014, 'backup_end only 0.18+');
      t.equal(s.dryRun, false, 'not a dry run');
    }
    for (const m of messages(load(v, 'backup-stdin-cancelled').stdout)) {
      t.equal(m.type, 'status', 'status lines');
      if (m.type === 'status') {
        t.ok(m.status.percentDone >= 0 && m.status.percentDone <= 1, 'fraction');
        t.ok(m.status.secondsRemaining === undefined || m.status.secondsRemaining < 1e9, '0.14 overflowed ETA dropped');
      }
      break;
    }

    const verbose = messages(load(v, 'backup-verbose').stdout);
    const scan = verbose.find((m) => m.type === 'verbose' && m.action === 'scan_finished');
    t.ok(scan, 'scan_finished recognised (status+action in 0.14, verbose_status later)');
    t.notOk(
      verbose.some(
        (m) =>
          m.type === 'status' &&
          m.status.totalFiles === 2 &&
          m.status.percentDone === 0 &&
          m.status.filesDone === 0 &&
          m.status.bytesDone === 0 &&
          m.status.totalBytes === 0,
      ),
      'scan_finished is not misread as progress',
    );

    const partial = load(v, 'backup-partial');
    t.equal(partial.exitCode, 3, 'partial exit code');
    const errs = messages(partial.stderr).filter((m) => m.type === 'error');
    t.equal(errs.length, 1, 'one file error');
    if (errs[0]?.type === 'error') {
      t.equal(errs[0].error.during, 'archival', 'during archival');
      t.match(errs[0].error.item, /secret\.txt$/, 'item');
      t.match(errs[0].error.message, /permission denied/, `error text from either shape: ${errs[0].error.message}`);
    }
    t.ok(
      messages(partial.stdout).some((m) => m.type === 'summary'),
      'partial run still has a summary',
    );
    if (!is014)
      t.same(
        messages(partial.stderr).find((m) => m.type === 'exit_error'),
        { type: 'exit_error', code: 3, message: 'Warning: at least one source file could not be read' },
        'exit_error line',
      );

    const snaps = parseSnapshots(load(v, 'snapshots').stdout);
    t.equal(snaps.length, 4, 'four snapshots, oldest first');
    t.same(
      snaps.map((s) => s.hostname),
      ['host-0', 'host-0', 'host-0', 'db'],
      'hosts',
    );
    t.same(snaps[0]?.tags, ['t1'], 'tags');
    t.equal(snaps[1]?.parent, snaps[0]?.id, 'parent chain');
    t.equal(snaps[0]?.shortId, snaps[0]?.id.slice(0, 8), 'short id');
    t.equal(snaps[3]?.paths[0], '/dump.sql', 'stdin file path');
    t.equal(snaps[0]?.summary === undefined, is014, 'snapshot summary only 0.17+');
    t.same(parseSnapshots(load(v, 'snapshots-empty').stdout), [], 'empty repository');
    t.equal(parseSnapshots(load(v, 'snapshots-filtered').stdout).length, 1, 'filtered');

    const dry = parseForget(load(v, 'forget-dry-run').stdout);
    t.same(
      dry.map((g) => [g.host, g.keep.length, g.remove.length]),
      [
        ['host-0', 1, 2],
        ['db', 1, 0],
      ],
      'forget groups (null remove → [])',
    );
    t.equal(dry[0]?.keep[0]?.id, snaps[2]?.id, 'keeps the newest');
    t.same(parseForget(load(v, 'forget-empty-policy').stdout), [], 'empty stdout → no groups');

    const st = parseStats(load(v, 'stats').stdout);
    t.equal(st.totalSize, 600057, 'restore-size total');
    t.equal(st.totalFileCount, 28, 'file count');
    t.equal(st.snapshotsCount, 4, 'snapshots');
    const raw = parseStats(load(v, 'stats-raw').stdout);
    t.ok(raw.totalSize > 0 && raw.totalBlobCount === 15, 'raw-data stats');
    t.equal(raw.totalUncompressedSize === undefined, is014, 'uncompressed size only later');

    const check = load(v, 'check');
    t.same(parseCheck(check.stdout, check.stderr.split('\n'), 0).ok, true, 'check ok (text in 0.14, JSON in 0.18)');
    t.equal(parseCheck(check.stdout, [], 0).numErrors === undefined, is014, 'numErrors from JSON only');

    const restore = parseRestore(load(v, 'restore').stdout);
    if (is014) t.equal(restore, undefined, '0.14 restore prints text only');
    else
      t.same(
        restore,
        { totalFiles: 9, filesRestored: 9, filesSkipped: 0, totalBytes: 200014, bytesRestored: 200014 },
        'restore summary',
      );

    const ids = parseIdList(load(v, 'list-locks').stdout);
    t.equal(ids.length, 1, 'one lock id');
    const lock = parseLock(ids[0]!, load(v, 'cat-lock').stdout);
    t.equal(lock?.exclusive, false, 'shared lock');
    t.ok(lock && lock.pid > 0 && lock.hostname !== '' && lock.username === 'root', 'lock holder fields');
    t.ok(lock && !Number.isNaN(Date.parse(lock.time)), 'lock time parses');
    t.same(parseIdList(load(v, 'list-locks-after-unlock').stdout), [], 'no locks');
  });
}

t.test('edge cases', async (t) => {
  t.equal(
    cleanLine('\x1b[2Ksignal interrupt received, cleaning up\r'),
    'signal interrupt received, cleaning up',
    'ANSI and CR stripped',
  );
  t.equal(parseMessage('not json'), undefined, 'text');
  t.equal(parseMessage('{"broken'), undefined, 'broken JSON');
  t.same(
    parseMessage('{"message_type":"something_new","x":1}'),
    { type: 'unknown', messageType: 'something_new' },
    'unknown types are kept apart',
  );
  t.equal(errorText({}, '/a'), '/a: error', 'empty Go error');
  t.equal(errorText({ Op: 'lstat', Path: '/a', Err: 2 }, '/a'), 'lstat /a: no such file or directory', 'Go PathError');
  t.equal(errorText({ message: 'boom' }, '/a'), 'boom', '0.17.1+ shape');
  const h = parseLockHolder(
    'unable to create lock in backend: repository is already locked exclusively by PID 7 on pod-a by root (UID 0, GID 0)\nlock was created at 2026-01-01 00:00:00 (1m2s ago)\nstorage ID abcdef12',
  );
  t.same(
    h,
    {
      exclusive: true,
      pid: 7,
      hostname: 'pod-a',
      username: 'root',
      uid: 0,
      gid: 0,
      createdAt: '2026-01-01 00:00:00',
      age: '1m2s',
      storageIdPrefix: 'abcdef12',
    },
    'holder',
  );
  t.throws(() => parseSnapshots(''), /no JSON array/, 'snapshots without output is an error');
  t.throws(() => parseStats('text'), /no JSON object/, 'stats without output is an error');
  const failed = parseCheck(
    '{"message_type":"summary","num_errors":2,"broken_packs":["ab"],"suggest_repair_index":true,"suggest_prune":false}',
    ['{"message_type":"error","message":"pack ab: damaged"}', 'Fatal: repository contains errors'],
    1,
  );
  t.same(
    failed,
    { ok: false, numErrors: 2, errors: ['pack ab: damaged'], suggestRepairIndex: true, suggestPrune: false },
    'check with errors',
  );
  t.equal(
    parseCheck('load indexes\nFatal: repository contains errors\n', ['error: pack 1 damaged'], 1).ok,
    false,
    '0.14 text failure',
  );
});
