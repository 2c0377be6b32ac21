// Round trip against a real S3 server (MinIO on loopback) with a bucket prefix.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { minioBin, resticBinaries } from '../backends/bins.ts';
import { startS3Server } from '../backends/s3-server.ts';
import { roundTrip } from '../backends/roundtrip.ts';

if (!minioBin()) t.fail('minio not built: run hack/build-bins.sh minio');

for (const [version, bin] of resticBinaries()) {
  t.test(`s3 (minio), restic ${version}`, async (t) => {
    const s3 = await startS3Server({ bucket: `stash-${version.replace(/\./g, '-')}`, prefix: 'ns/app' });
    const work = await mkdtemp(join(tmpdir(), 'stash-ts-it-'));
    t.teardown(async () => {
      await s3.stop();
      await rm(work, { recursive: true, force: true });
    });
    await roundTrip(t, bin, s3.backend, s3.secret, work);
  });
}
