// Backup by the sidecar, restore by the init-container, on a local directory: byte-identical tree. No operator runs;
// the test initiates the target itself.
import t from 'tap';
import { makeLocalBackend } from '../backends/local.ts';
import { restoreRoundTrip } from '../support/agent-world.ts';

t.test('backup then restore is byte-identical (local)', (t) => restoreRoundTrip(t, 'local', () => makeLocalBackend()));
