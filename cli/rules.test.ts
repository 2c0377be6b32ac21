import t from 'tap';
import type { Snapshot } from '../shared/restic/output.ts';
import { rulesAt } from './rules.ts';

const snap = (id: string, hostname: string, paths: string[], time: string) =>
  ({ id, hostname, paths, time, tags: [], tree: '', username: '', shortId: id.slice(0, 8) }) as unknown as Snapshot;

t.test('per host, the newest snapshot of each path at or before the time', async (t) => {
  const list = [
    snap('a1', 'db-0', ['/data'], '2026-01-01T00:00:00Z'),
    snap('a2', 'db-0', ['/data'], '2026-01-02T00:00:00Z'),
    snap('a3', 'db-0', ['/data'], '2026-01-03T00:00:00Z'),
    snap('b1', 'db-0', ['/logs'], '2026-01-01T12:00:00Z'),
    snap('c1', 'db-1', ['/data'], '2026-01-04T00:00:00Z'),
  ];
  t.same(rulesAt(list, new Date('2026-01-02T12:00:00Z')), [
    { targetHosts: ['db-0'], sourceHost: 'db-0', snapshots: ['a2', 'b1'] },
  ]);
  t.same(
    rulesAt(list, new Date('2026-02-01T00:00:00Z'), ['db-1']),
    [{ targetHosts: ['db-1'], sourceHost: 'db-1', snapshots: ['c1'] }],
    'only the hosts asked for',
  );
  t.same(rulesAt(list, new Date('2025-01-01T00:00:00Z')), [], 'nothing that old');
});
