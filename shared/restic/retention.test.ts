import t from 'tap';
import { RetentionPolicyError } from './errors.ts';
import { keepsOnlyByTag, retentionFlags, retentionProblems } from './retention.ts';

t.test('policy → forget flags (docs/api.md §2.8); 0 means omitted', async (t) => {
  t.same(
    retentionFlags({
      name: 'p',
      keepLast: 5,
      keepHourly: 0,
      keepDaily: 7,
      keepWeekly: 4,
      keepMonthly: 12,
      keepYearly: 2,
      keepTags: ['keep', 'gold'],
      prune: true,
      dryRun: false,
    }),
    [
      '--keep-last',
      '5',
      '--keep-daily',
      '7',
      '--keep-weekly',
      '4',
      '--keep-monthly',
      '12',
      '--keep-yearly',
      '2',
      '--keep-tag',
      'keep',
      '--keep-tag',
      'gold',
    ],
  );
  t.same(retentionFlags({ keepTags: ['x'] }), ['--keep-tag', 'x']);
  t.equal(keepsOnlyByTag({ keepTags: ['x'] }), true);
  t.equal(keepsOnlyByTag({ keepLast: 1, keepTags: ['x'] }), false);
});

t.test('policies that would remove everything, or that 0.14 misreads, are refused', async (t) => {
  for (const bad of [
    {},
    { name: 'zeros', keepLast: 0, keepDaily: 0 },
    { keepLast: -1 },
    { keepDaily: 1.5 },
    { keepTags: [''] },
    { keepTags: ['a,b'] },
    { keepLast: 2, keepWeekly: -1 },
  ]) {
    t.throws(() => retentionFlags(bad), RetentionPolicyError, JSON.stringify(bad));
  }
  t.match(
    retentionProblems({ name: 'x', keepLast: -1 }).join(';'),
    /keepLast must be a non-negative integer.*keeps nothing/,
    'every problem is listed',
  );
  t.throws(() => retentionFlags({ name: 'nightly' }), /"nightly" refused/, 'the message names the policy');
});
