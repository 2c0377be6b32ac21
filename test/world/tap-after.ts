// tap --after: stop the run's control plane so `make test` leaves no process behind.
import { stopControlPlane } from './controlplane.ts';
import { TEST_WORLD_DIR } from './harness.ts';

await stopControlPlane(TEST_WORLD_DIR);
console.error('[test-world] stopped');
