// Holder-aware lock recovery on a s3 repository with every restic version here (scenario in
// test/backends/lock-scenario.ts).
import t from 'tap';
import { resticBinaries } from '../backends/bins.ts';
import { startS3Server } from '../backends/s3-server.ts';
import { lockScenario } from '../backends/lock-scenario.ts';

for (const [version, bin] of resticBinaries()) {
  t.test(`lock recovery, s3, restic ${version}`, (t) => lockScenario(t, bin, () => startS3Server()));
}
