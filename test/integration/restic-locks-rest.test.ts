// Holder-aware lock recovery on a rest repository with every restic version here (scenario in
// test/backends/lock-scenario.ts).
import t from 'tap';
import { resticBinaries } from '../backends/bins.ts';
import { startRestServer } from '../backends/rest-server.ts';
import { lockScenario } from '../backends/lock-scenario.ts';

for (const [version, bin] of resticBinaries()) {
  t.test(`lock recovery, rest, restic ${version}`, (t) => lockScenario(t, bin, () => startRestServer()));
}
