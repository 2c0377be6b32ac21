// The full round trip every backend must pass, shared by the per-backend integration test files.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackendSpec, SecretData } from '../../shared/restic/backend.ts';
import { hostFor } from '../../shared/restic/host.ts';
import { formatBytes, snapshotStats } from '../../shared/restic/format.ts';
import { makeRestic } from './restic.ts';
import { diffTrees, makeTree } from './tree.ts';
import { writeFile } from 'node:fs/promises';

import type tap from 'tap';

/** tap's Test object (the parameter of a t.test callback). */
export type Assert = Parameters<Parameters<typeof tap.test>[0]>[0];

export async function roundTrip(
  t: Assert,
  bin: string,
  backend: BackendSpec,
  secret: SecretData,
  work: string,
): Promise<void> {
  const { restic, cleanup } = await makeRestic(bin, backend, secret);
  try {
    const src = join(work, 'src', 'data');
    await makeTree(src, 'first');
    const host = hostFor('Deployment', 'app', 'app-7d9f-abcde');

    const first = await restic.initIfMissing();
    t.equal(first.created, true, 'init creates the repository');
    t.equal((await restic.initIfMissing()).created, false, 'a second initIfMissing finds it');

    const progress: number[] = [];
    const b1 = await restic.backup([src], { host, tags: ['first'], onProgress: (s) => progress.push(s.percentDone) });
    t.match(b1.snapshotId, /^[0-9a-f]{8}([0-9a-f]{56})?$/, 'summary carries the snapshot id');
    t.ok(b1.summary.filesNew >= 7, `files counted as new (${b1.summary.filesNew})`);
    t.equal(b1.errors.length, 0, 'no per-file errors');
    const stats = snapshotStats(b1, src);
    t.match(stats.totalSize, /^\d+\.\d{3} KiB$/, 'SnapshotStats size format');
    t.match(stats.processingTime, /^\d+:\d\d$/, 'SnapshotStats time format');

    await writeFile(join(src, 'README.txt'), 'changed\n');
    const b2 = await restic.backup([src], { host, tags: ['second'] });
    t.equal(b2.summary.filesChanged, 1, 'second backup sees one changed file (parent found via stable host)');

    const all = await restic.snapshots();
    t.equal(all.length, 2, 'two snapshots');
    t.same(
      all.map((s) => s.hostname),
      [host, host],
      'snapshot host is the stable host',
    );
    t.same(
      (await restic.snapshots({ host, paths: [src], tags: ['first'] })).map((s) => s.id.slice(0, 8)),
      [b1.snapshotId!.slice(0, 8)],
      'filters select the first snapshot',
    );
    t.equal((await restic.snapshots({ host: 'other-host' })).length, 0, 'host filter excludes');

    // restore the FIRST snapshot and compare with the tree as it was then
    const target = join(work, 'restore');
    await mkdir(target);
    await writeFile(join(src, 'README.txt'), 'hello first\n');
    const summary = await restic.restore(b1.snapshotId!, { target, host });
    if (summary) t.ok(summary.filesRestored > 0, 'restore summary (0.16+)');
    t.same(
      await diffTrees(src, join(target, src)),
      [],
      'restored tree is identical (content, modes, symlinks, empty dirs)',
    );

    // forget keeps the newest per host+paths group
    const dry = await restic.forget({ name: 'keep-1', keepLast: 1, dryRun: true });
    t.equal(dry.removed.length, 1, 'dry run would remove one');
    t.equal((await restic.snapshots()).length, 2, 'dry run removed nothing');
    const f = await restic.forget({ name: 'keep-1', keepLast: 1, prune: true });
    t.equal(f.removed.length, 1, 'forget removed one');
    t.equal(f.pruned, true, 'prune ran');
    const left = await restic.snapshots();
    t.same(
      left.map((s) => s.tags),
      [['second']],
      'the newest snapshot is kept',
    );

    const check = await restic.check();
    t.equal(check.ok, true, `check is clean ${JSON.stringify(check.errors)}`);
    const st = await restic.stats();
    t.ok(
      st.totalSize > 0 && st.snapshotsCount === 1,
      `stats: ${formatBytes(st.totalSize)} in ${st.snapshotsCount} snapshot`,
    );
  } finally {
    await cleanup();
  }
}
