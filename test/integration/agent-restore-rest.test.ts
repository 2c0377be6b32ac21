// Backup by the sidecar, restore by the init-container, on rest-server with basic auth: byte-identical tree. No operator runs;
// the test initiates the target itself.
import t from 'tap';
import { startRestServer } from '../backends/rest-server.ts';
import { restoreRoundTrip } from '../support/agent-world.ts';

t.test('backup then restore is byte-identical (rest)', (t) =>
  restoreRoundTrip(t, 'rest', () => startRestServer({ auth: { username: 'stash', password: 'rest-basic-auth-pw' } })),
);
