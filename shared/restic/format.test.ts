import t from 'tap';
import { formatBytes, formatGoDuration, formatSeconds, snapshotStats } from './format.ts';
import { parseSummary } from './output.ts';

t.test('formatBytes: N B below 1 KiB, else 3 decimals in the largest unit', async (t) => {
  const table: Array<[number, string]> = [
    [0, '0 B'],
    [1, '1 B'],
    [1023, '1023 B'],
    [1024, '1.000 KiB'],
    [1536, '1.500 KiB'],
    [200006, '195.318 KiB'],
    [2 ** 20, '1.000 MiB'],
    [192_413_696, '183.500 MiB'],
    [2 ** 30 * 5.25, '5.250 GiB'],
    [2 ** 40 * 2, '2.000 TiB'],
    [2 ** 50, '1024.000 TiB'],
    [-5, '0 B'],
    [10.9, '10 B'],
  ];
  for (const [n, s] of table) t.equal(formatBytes(n), s, `${n}`);
});

t.test('formatSeconds: M:SS or H:MM:SS, fractions dropped', async (t) => {
  const table: Array<[number, string]> = [
    [0, '0:00'],
    [0.686, '0:00'],
    [5.9, '0:05'],
    [59, '0:59'],
    [60, '1:00'],
    [754, '12:34'],
    [3599, '59:59'],
    [3600, '1:00:00'],
    [3661, '1:01:01'],
    [36000 + 61, '10:01:01'],
    [-3, '0:00'],
  ];
  for (const [n, s] of table) t.equal(formatSeconds(n), s, `${n}`);
});

t.test('formatGoDuration', async (t) => {
  const table: Array<[number, string]> = [
    [0, '0s'],
    [831.018039, '831.018039ms'],
    [1500, '1.5s'],
    [61_000, '1m1s'],
    [3_723_500, '1h2m3.5s'],
    [0.5, '500µs'],
  ];
  for (const [n, s] of table) t.equal(formatGoDuration(n), s, `${n}`);
});

t.test('snapshotStats from a 0.18 summary', async (t) => {
  const summary = parseSummary({
    files_new: 2,
    files_changed: 1,
    files_unmodified: 7,
    data_added: 203089,
    total_files_processed: 10,
    total_bytes_processed: 1_500_000,
    total_duration: 75.9,
    snapshot_id: 'ab'.repeat(32),
  });
  t.same(snapshotStats({ summary, snapshotId: summary.snapshotId, errors: [] }, '/data'), {
    name: 'ab'.repeat(32),
    path: '/data',
    totalSize: '1.431 MiB',
    uploaded: '198.329 KiB',
    processingTime: '1:15',
    fileStats: { totalFiles: 10, newFiles: 2, modifiedFiles: 1, unmodifiedFiles: 7 },
  });
});
