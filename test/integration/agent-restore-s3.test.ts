// Backup by the sidecar, restore by the init-container, on MinIO (S3): byte-identical tree. No operator runs;
// the test initiates the target itself.
import t from 'tap';
import { startS3Server } from '../backends/s3-server.ts';
import { restoreRoundTrip } from '../support/agent-world.ts';

t.test('backup then restore is byte-identical (s3)', (t) =>
  restoreRoundTrip(t, 's3', () => startS3Server({ prefix: 'team/app' })),
);
