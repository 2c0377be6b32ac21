// Holder-aware lock recovery on a local repository with every restic version here (scenario in
// test/backends/lock-scenario.ts).
import t from 'tap';
import { resticBinaries } from '../backends/bins.ts';
import { makeLocalBackend } from '../backends/local.ts';
import { lockScenario } from '../backends/lock-scenario.ts';

for (const [version, bin] of resticBinaries()) {
  t.test(`lock recovery, local, restic ${version}`, (t) => lockScenario(t, bin, () => makeLocalBackend()));
}
