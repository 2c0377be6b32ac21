import t from 'tap';
import type {
  BackupSessionStatus,
  BackupTargetStatus,
  Condition,
  RestoreBatchStatus,
  RestoreSessionStatus,
} from '../api/index.ts';
import {
  backupSessionPhase,
  backupTargetPhase,
  formatGoDuration,
  formatMs,
  formatRoundedSeconds,
  mergeBackupSessionStatus,
  mergeRestoreBatchStatus,
  mergeRestoreSessionStatus,
  mergeValues,
  parseGoDuration,
  restoreBatchPhase,
  restoreMemberPhase,
  restoreSessionPhase,
  upsertCondition,
} from './index.ts';

const T0 = '2026-01-01T00:00:00Z';
const c = (type: string, status: 'True' | 'False' | 'Unknown'): Condition => ({ type, status, lastTransitionTime: T0 });
const ok = { hostname: 'a', phase: 'Succeeded' as const };
const bad = { hostname: 'b', phase: 'Failed' as const, error: 'x' };

t.test('backup target phase (docs/api.md §14.7)', async (t) => {
  const table: Array<[string, BackupTargetStatus, string]> = [
    ['bare entry', { ref: { kind: 'Deployment', name: 'x' } }, 'Pending'],
    ['executor failed', { conditions: [c('BackupExecutorEnsured', 'False')] }, 'Failed'],
    [
      'pre hook failed, even before initiation',
      { conditions: [c('PreBackupHookExecutionSucceeded', 'False')] },
      'Failed',
    ],
    [
      'post hook failed beats all stats ok',
      { totalHosts: 1, stats: [ok], conditions: [c('PostBackupHookExecutionSucceeded', 'False')] },
      'Failed',
    ],
    ['disrupted', { totalHosts: 2, conditions: [c('BackupDisrupted', 'True')] }, 'Failed'],
    [
      'disrupted False is fine',
      { totalHosts: 1, stats: [ok], conditions: [c('BackupDisrupted', 'False')] },
      'Succeeded',
    ],
    ['initiated, nobody reported', { totalHosts: 2 }, 'Running'],
    ['one of two', { totalHosts: 2, stats: [ok] }, 'Running'],
    ['all ok', { totalHosts: 2, stats: [ok, { ...ok, hostname: 'c' }] }, 'Succeeded'],
    ['one failed', { totalHosts: 2, stats: [ok, bad] }, 'Failed'],
    ['zero hosts', { totalHosts: 0 }, 'Succeeded'],
    [
      'executor ensured True, hosts pending',
      { totalHosts: 1, conditions: [c('BackupExecutorEnsured', 'True')] },
      'Running',
    ],
  ];
  for (const [name, target, want] of table) t.equal(backupTargetPhase(target), want, name);
});

t.test('backup session phase (docs/api.md §14.7), in order', async (t) => {
  const done = (phase: 'Succeeded' | 'Failed'): BackupTargetStatus => ({ phase, totalHosts: 1 });
  const table: Array<[string, BackupSessionStatus, string]> = [
    ['empty', {}, 'Pending'],
    ['all targets pending', { targets: [{ phase: 'Pending' }, { phase: 'Pending' }] }, 'Pending'],
    ['one running', { targets: [{ phase: 'Pending' }, { phase: 'Running' }] }, 'Running'],
    [
      'metrics push failed wins over skipped',
      { conditions: [c('MetricsPushed', 'False'), c('BackupSkipped', 'True')] },
      'Failed',
    ],
    ['skipped', { conditions: [c('BackupSkipped', 'True')] }, 'Skipped'],
    [
      'deadline without metrics is not final',
      { conditions: [c('DeadlineExceeded', 'True')], targets: [{ phase: 'Running' }] },
      'Running',
    ],
    [
      'deadline with metrics',
      { conditions: [c('DeadlineExceeded', 'True'), c('MetricsPushed', 'True')], targets: [{ phase: 'Running' }] },
      'Failed',
    ],
    [
      'global pre hook failed + metrics',
      { conditions: [c('GlobalPreBackupHookSucceeded', 'False'), c('MetricsPushed', 'True')] },
      'Failed',
    ],
    [
      'history cleanup failed + metrics',
      { conditions: [c('BackupHistoryCleaned', 'False'), c('MetricsPushed', 'True')], targets: [done('Succeeded')] },
      'Failed',
    ],
    [
      'global post hook failed + metrics',
      {
        conditions: [c('GlobalPostBackupHookSucceeded', 'False'), c('MetricsPushed', 'True')],
        targets: [done('Succeeded')],
      },
      'Failed',
    ],
    ['all final, no metrics yet', { targets: [done('Succeeded'), done('Failed')] }, 'Running'],
    [
      'all final ok + metrics',
      { conditions: [c('MetricsPushed', 'True')], targets: [done('Succeeded'), done('Succeeded')] },
      'Succeeded',
    ],
    [
      'a target failed + metrics',
      { conditions: [c('MetricsPushed', 'True')], targets: [done('Succeeded'), done('Failed')] },
      'Failed',
    ],
    [
      'retention failed',
      { conditions: [c('MetricsPushed', 'True'), c('RetentionPolicyApplied', 'False')], targets: [done('Succeeded')] },
      'Failed',
    ],
    [
      'integrity failed',
      {
        conditions: [c('MetricsPushed', 'True'), c('RepositoryIntegrityVerified', 'False')],
        targets: [done('Succeeded')],
      },
      'Failed',
    ],
    [
      'repo metrics failed',
      { conditions: [c('MetricsPushed', 'True'), c('RepositoryMetricsPushed', 'False')], targets: [done('Succeeded')] },
      'Failed',
    ],
    [
      'metrics but a target running',
      { conditions: [c('MetricsPushed', 'True')], targets: [done('Succeeded'), { phase: 'Running' }] },
      'Running',
    ],
    [
      'metrics, targets pending',
      { conditions: [c('MetricsPushed', 'True')], targets: [{ phase: 'Pending' }] },
      'Pending',
    ],
    [
      'phase derived when not stored',
      { conditions: [c('MetricsPushed', 'True')], targets: [{ totalHosts: 1, stats: [ok] }] },
      'Succeeded',
    ],
  ];
  for (const [name, status, want] of table) t.equal(backupSessionPhase(status), want, name);
});

t.test('merge backup session status', async (t) => {
  const ref = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wp' };
  const now1 = new Date('2026-01-01T00:00:10Z');
  let s = mergeBackupSessionStatus(
    undefined,
    { targets: [{ ref, totalHosts: 1, preBackupActions: ['InitializeBackendRepository'] }] },
    { namespace: 'ns', now: now1 },
  );
  t.equal(s.phase, 'Running');
  t.equal(s.targets?.[0]?.phase, 'Running');
  // same target, namespace spelled out: merges into the same entry; actions merge by value
  s = mergeBackupSessionStatus(
    s,
    {
      targets: [
        {
          ref: { ...ref, namespace: 'ns' },
          preBackupActions: ['InitializeBackendRepository'],
          stats: [{ hostname: 'wp', phase: 'Failed', error: 'e1' }],
        },
      ],
    },
    { namespace: 'ns' },
  );
  t.equal(s.targets?.length, 1);
  t.same(s.targets?.[0]?.preBackupActions, ['InitializeBackendRepository']);
  t.equal(s.targets?.[0]?.phase, 'Failed');
  // the host reports again: replaced by hostname, not appended
  s = mergeBackupSessionStatus(
    s,
    { targets: [{ ref, stats: [{ hostname: 'wp', phase: 'Succeeded' }] }] },
    { namespace: 'ns' },
  );
  t.equal(s.targets?.[0]?.stats?.length, 1);
  t.equal(s.targets?.[0]?.phase, 'Succeeded');
  t.equal(s.phase, 'Running', 'not final before MetricsPushed');
  // a different namespace is a different target
  s = mergeBackupSessionStatus(s, { targets: [{ ref: { ...ref, namespace: 'other' } }] }, { namespace: 'ns' });
  t.equal(s.targets?.length, 2);
  s = mergeBackupSessionStatus(
    s,
    {
      targets: [{ ref: { ...ref, namespace: 'other' }, totalHosts: 1, stats: [{ hostname: 'x', phase: 'Succeeded' }] }],
    },
    { namespace: 'ns' },
  );
  const created = '2026-01-01T00:00:00Z';
  s = mergeBackupSessionStatus(
    s,
    { conditions: [c('MetricsPushed', 'True')] },
    { namespace: 'ns', creationTimestamp: created, now: new Date('2026-01-01T00:01:05.400Z') },
  );
  t.equal(s.phase, 'Succeeded');
  t.equal(s.sessionDuration, '1m5s');
  const again = mergeBackupSessionStatus(s, {}, { creationTimestamp: created, now: new Date('2026-01-01T00:09:00Z') });
  t.equal(again.sessionDuration, '1m5s', 'sessionDuration set once');
});

t.test('conditions merge by type; lastTransitionTime moves only on status change', async (t) => {
  const a = upsertCondition(
    undefined,
    { type: 'X', status: 'False', reason: 'R1', severity: 'Error' },
    new Date('2026-01-01T00:00:00Z'),
  );
  t.equal(a[0]?.lastTransitionTime, '2026-01-01T00:00:00Z');
  const b = upsertCondition(
    a,
    { type: 'X', status: 'False', reason: 'R2', message: 'm' },
    new Date('2026-01-01T00:05:00Z'),
  );
  t.equal(b.length, 1);
  t.equal(b[0]?.lastTransitionTime, '2026-01-01T00:00:00Z');
  t.equal(b[0]?.reason, 'R2');
  const d = upsertCondition(b, { type: 'X', status: 'True', severity: 'Error' }, new Date('2026-01-01T00:06:00Z'));
  t.equal(d[0]?.lastTransitionTime, '2026-01-01T00:06:00Z');
  t.equal(d[0]?.severity, undefined, 'severity only when False');
  t.equal(upsertCondition(d, { type: 'Y', status: 'True' }).length, 2);
  t.same(mergeValues(['a', 'b'], ['b', 'c']), ['a', 'b', 'c']);
  t.equal(mergeValues(undefined, undefined), undefined);
});

t.test('restore member phase (docs/api.md §16.4)', async (t) => {
  const found = c('RestoreTargetFound', 'True');
  const table: Array<[string, Parameters<typeof restoreMemberPhase>[0], string]> = [
    ['nothing', {}, 'Pending'],
    ['no totalHosts', { conditions: [found] }, 'Pending'],
    ['no conditions', { totalHosts: 1 }, 'Pending'],
    ['target missing', { totalHosts: 1, conditions: [c('RestoreTargetFound', 'False')] }, 'Pending'],
    ['executor failed', { conditions: [c('RestoreExecutorEnsured', 'False')] }, 'Failed'],
    [
      'pre hook failed',
      { totalHosts: 1, conditions: [found, c('PreRestoreHookExecutionSucceeded', 'False')] },
      'Failed',
    ],
    [
      'post hook failed',
      {
        totalHosts: 1,
        conditions: [found, c('PostRestoreHookExecutionSucceeded', 'False')],
        stats: [{ hostname: 'a', phase: 'Succeeded' }],
      },
      'Failed',
    ],
    ['running', { totalHosts: 2, conditions: [found], stats: [{ hostname: 'a', phase: 'Succeeded' }] }, 'Running'],
    [
      'host Running does not count',
      { totalHosts: 1, conditions: [found], stats: [{ hostname: 'a', phase: 'Running' }] },
      'Running',
    ],
    ['succeeded', { totalHosts: 1, conditions: [found], stats: [{ hostname: 'a', phase: 'Succeeded' }] }, 'Succeeded'],
    [
      'failed',
      {
        totalHosts: 2,
        conditions: [found],
        stats: [
          { hostname: 'a', phase: 'Succeeded' },
          { hostname: 'b', phase: 'Failed' },
        ],
      },
      'Failed',
    ],
    [
      'unknown beats failed',
      {
        totalHosts: 2,
        conditions: [found],
        stats: [
          { hostname: 'a', phase: 'Unknown' },
          { hostname: 'b', phase: 'Failed' },
        ],
      },
      'Unknown',
    ],
  ];
  for (const [name, m, want] of table) t.equal(restoreMemberPhase(m), want, name);
});

t.test('restore batch and session phase (docs/api.md §16.4)', async (t) => {
  const repo = [c('RepositoryFound', 'True'), c('BackendSecretFound', 'True'), c('ValidationPassed', 'True')];
  const table: Array<[string, RestoreBatchStatus, string]> = [
    ['empty', {}, 'Pending'],
    ['metrics failed', { conditions: [c('MetricsPushed', 'False')] }, 'Failed'],
    [
      'deadline + metrics',
      {
        conditions: [...repo, c('DeadlineExceeded', 'True'), c('MetricsPushed', 'True')],
        members: [{ ref: { kind: 'D', name: 'a' }, phase: 'Running' }],
      },
      'Failed',
    ],
    [
      'global pre failed + metrics',
      { conditions: [c('GlobalPreRestoreHookSucceeded', 'False'), c('MetricsPushed', 'True')] },
      'Failed',
    ],
    ['invalid', { conditions: [c('ValidationPassed', 'False')] }, 'Invalid'],
    ['no members', { conditions: repo }, 'Pending'],
    ['all pending', { conditions: repo, members: [{ ref: { kind: 'D', name: 'a' }, phase: 'Pending' }] }, 'Pending'],
    [
      'repository missing',
      { conditions: [c('RepositoryFound', 'False')], members: [{ ref: { kind: 'D', name: 'a' }, phase: 'Running' }] },
      'Pending',
    ],
    ['running', { conditions: repo, members: [{ ref: { kind: 'D', name: 'a' }, phase: 'Running' }] }, 'Running'],
    [
      'all final, no metrics',
      { conditions: repo, members: [{ ref: { kind: 'D', name: 'a' }, phase: 'Failed' }] },
      'Running',
    ],
    [
      'succeeded',
      {
        conditions: [...repo, c('MetricsPushed', 'True')],
        members: [{ ref: { kind: 'D', name: 'a' }, phase: 'Succeeded' }],
      },
      'Succeeded',
    ],
    [
      'failed',
      {
        conditions: [...repo, c('MetricsPushed', 'True')],
        members: [
          { ref: { kind: 'D', name: 'a' }, phase: 'Succeeded' },
          { ref: { kind: 'D', name: 'b' }, phase: 'Failed' },
        ],
      },
      'Failed',
    ],
    [
      'unknown',
      {
        conditions: [...repo, c('MetricsPushed', 'True')],
        members: [
          { ref: { kind: 'D', name: 'a' }, phase: 'Unknown' },
          { ref: { kind: 'D', name: 'b' }, phase: 'Failed' },
        ],
      },
      'Unknown',
    ],
  ];
  for (const [name, s, want] of table) t.equal(restoreBatchPhase(s), want, name);

  const sessions: Array<[string, RestoreSessionStatus, string]> = [
    ['empty', {}, 'Pending'],
    ['found, not initiated', { conditions: [...repo, c('RestoreTargetFound', 'True')] }, 'Pending'],
    ['initiated', { conditions: [...repo, c('RestoreTargetFound', 'True')], totalHosts: 1 }, 'Running'],
    [
      'host done, no metrics',
      {
        conditions: [...repo, c('RestoreTargetFound', 'True')],
        totalHosts: 1,
        stats: [{ hostname: 'h', phase: 'Succeeded' }],
      },
      'Running',
    ],
    [
      'done',
      {
        conditions: [...repo, c('RestoreTargetFound', 'True'), c('MetricsPushed', 'True')],
        totalHosts: 1,
        stats: [{ hostname: 'h', phase: 'Succeeded' }],
      },
      'Succeeded',
    ],
    [
      'host failed',
      {
        conditions: [...repo, c('RestoreTargetFound', 'True'), c('MetricsPushed', 'True')],
        totalHosts: 1,
        stats: [{ hostname: 'h', phase: 'Failed' }],
      },
      'Failed',
    ],
  ];
  for (const [name, s, want] of sessions) t.equal(restoreSessionPhase(s), want, `session: ${name}`);
});

t.test('restore merges', async (t) => {
  const ref = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' };
  const base = [c('RepositoryFound', 'True'), c('BackendSecretFound', 'True')];
  let b = mergeRestoreBatchStatus(
    { conditions: base },
    { members: [{ ref, totalHosts: 2, conditions: [c('RestoreTargetFound', 'True')] }] },
  );
  t.equal(b.members?.[0]?.phase, 'Running');
  t.equal(b.phase, 'Running');
  b = mergeRestoreBatchStatus(b, { members: [{ ref, stats: [{ hostname: 'db-0', phase: 'Succeeded' }] }] });
  b = mergeRestoreBatchStatus(b, {
    members: [
      {
        ref,
        stats: [
          { hostname: 'db-0', phase: 'Succeeded' },
          { hostname: 'db-1', phase: 'Succeeded' },
        ],
      },
    ],
  });
  t.equal(b.members?.[0]?.stats?.length, 2);
  t.equal(b.members?.[0]?.phase, 'Succeeded');
  b = mergeRestoreBatchStatus(
    b,
    { conditions: [c('MetricsPushed', 'True')] },
    { creationTimestamp: T0, now: new Date('2026-01-01T00:00:03Z') },
  );
  t.equal(b.phase, 'Succeeded');
  t.equal(b.sessionDuration, '3s');
  const s = mergeRestoreSessionStatus(
    { conditions: [...base, c('RestoreTargetFound', 'True')], totalHosts: 1 },
    { stats: [{ hostname: 'h', phase: 'Failed', error: 'e' }] },
  );
  t.equal(s.phase, 'Running');
  t.equal(s.stats?.length, 1);
});

t.test('Go durations', async (t) => {
  t.equal(formatGoDuration(0), '0s');
  t.equal(formatGoDuration(831_018_039n), '831.018039ms');
  t.equal(formatGoDuration(1_500n), '1.5µs');
  t.equal(formatGoDuration(12n), '12ns');
  t.equal(formatGoDuration(3_600_000_000_000n), '1h0m0s');
  t.equal(formatGoDuration(65_500_000_000n), '1m5.5s');
  t.equal(formatGoDuration(-2_000_000_000n), '-2s');
  t.equal(formatMs(1500), '1.5s');
  t.equal(formatRoundedSeconds(65_400), '1m5s');
  t.equal(parseGoDuration('1h30m'), 5_400_000);
  t.equal(parseGoDuration('1.5s'), 1500);
  t.equal(parseGoDuration('200ms'), 200);
  t.equal(parseGoDuration('0'), 0);
  t.equal(parseGoDuration('1d'), undefined);
  t.equal(parseGoDuration(''), undefined);
});

t.test('progress entries: upserted by host, gone once the host has stats or the target is final', async (t) => {
  const ref = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' };
  const p = (hostname: string, percent: number) => ({
    hostname,
    percent,
    bytesDone: percent,
    totalBytes: 100,
    filesDone: 1,
    totalFiles: 2,
  });
  let s = mergeBackupSessionStatus(undefined, { targets: [{ ref, totalHosts: 2, progress: [p('a', 10), p('b', 5)] }] });
  s = mergeBackupSessionStatus(s, { targets: [{ ref, progress: [p('a', 40)] }] });
  t.same(s.targets?.[0]?.progress, [p('a', 40), p('b', 5)], 'one entry per host, the latest');
  s = mergeBackupSessionStatus(s, { targets: [{ ref, stats: [{ hostname: 'a', phase: 'Succeeded' }] }] });
  t.same(s.targets?.[0]?.progress, [p('b', 5)], "a final host's entry goes");
  s = mergeBackupSessionStatus(s, { targets: [{ ref, progress: [p('a', 99)] }] });
  t.same(s.targets?.[0]?.progress, [p('b', 5)], 'a late write cannot bring it back');
  s = mergeBackupSessionStatus(s, { targets: [{ ref, stats: [{ hostname: 'b', phase: 'Failed', error: 'x' }] }] });
  t.equal(s.targets?.[0]?.progress, undefined, 'no field left when no host runs');
});
