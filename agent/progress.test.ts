import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../shared/log.ts';
import type { BackupStatus } from '../shared/restic/output.ts';
import type { HostProgress } from '../shared/status/index.ts';
import { ProgressReporter, hostProgress } from './progress.ts';

const line = (fraction: number): BackupStatus => ({
  percentDone: fraction,
  secondsElapsed: 1,
  secondsRemaining: undefined,
  totalFiles: 8,
  filesDone: Math.floor(fraction * 8),
  totalBytes: 1000,
  bytesDone: Math.floor(fraction * 1000),
  errorCount: 0,
  currentFiles: [],
});

t.test('restic status line to a progress entry', async (t) => {
  t.same(hostProgress('h', line(0.4567)), {
    hostname: 'h',
    percent: 45,
    bytesDone: 456,
    totalBytes: 1000,
    filesDone: 3,
    totalFiles: 8,
  });
  t.equal(hostProgress('h', line(1.2)).percent, 100);
});

t.test('at most one write per interval, none while one is under way, none after stop', async (t) => {
  const writes: HostProgress[] = [];
  let release: () => void = () => undefined;
  const r = new ProgressReporter(
    'h',
    (p) => {
      writes.push(p);
      return new Promise<void>((resolve) => (release = resolve));
    },
    createLogger({ level: 'silent' }),
    200,
  );
  r.update(line(0.1));
  r.update(line(0.2));
  t.equal(writes.length, 1, 'the first line is written at once, the next waits');
  await sleep(250);
  r.update(line(0.3));
  t.equal(writes.length, 1, 'nothing while the write is under way');
  release();
  await sleep(10);
  r.update(line(0.3));
  t.equal(writes.length, 2, 'the latest line once the interval passed and the write landed');
  release();
  await sleep(250);
  r.update(line(0.3));
  t.equal(writes.length, 2, 'an unchanged entry is not written again');
  r.update(line(0.5));
  const stopping = r.stop();
  release();
  await stopping;
  r.update(line(0.9));
  t.same(
    writes.map((w) => w.percent),
    [10, 30, 50],
    'stop waits for the last write and ends them',
  );
});
