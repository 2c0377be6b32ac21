// Round trip against a local-directory repository with every restic version available here
// (the cached 0.18 build and Debian's 0.14): init, backup a generated tree, snapshots, restore to a
// temporary directory (byte-identical: content, modes, symlinks, empty dirs), forget, check, stats.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resticBinaries } from '../backends/bins.ts';
import { makeLocalBackend } from '../backends/local.ts';
import { roundTrip } from '../backends/roundtrip.ts';

const bins = resticBinaries();
if (bins.size === 0) t.fail('no restic binary found (hack/build-bins.sh restic, or apt-get install restic)');

for (const [version, bin] of bins) {
  t.test(`local backend, restic ${version}`, async (t) => {
    const local = await makeLocalBackend();
    const work = await mkdtemp(join(tmpdir(), 'stash-ts-it-'));
    t.teardown(async () => {
      await local.stop();
      await rm(work, { recursive: true, force: true });
    });
    await roundTrip(t, bin, local.backend, local.secret, work);
  });
}
