// Round trip against a real S3 server (MinIO on loopback) with a bucket prefix.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { minioBin, resticBinaries } from '../backends/bins.ts';
import { startS3Server } from '../backends/s3-server.ts';
import { roundTrip } from '../backends/roundtrip.ts';
import { makeRestic } from '../backends/restic.ts';
import { makeTree } from '../backends/tree.ts';
import { RepositoryMissingError } from '../../shared/restic/errors.ts';

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

// restic 0.18 keeps retrying a missing bucket for about 15 minutes; a first backup into a repository that
// does not exist yet must fail at once as RepositoryMissing, so the agent can initialise it and go on.
for (const [version, bin] of resticBinaries()) {
  t.test(`s3 (minio), restic ${version}: backup into a missing bucket fails fast as RepositoryMissing`, async (t) => {
    const s3 = await startS3Server({ bucket: `missing-${version.replace(/\./g, '-')}`, prefix: 'x' });
    const work = await mkdtemp(join(tmpdir(), 'stash-ts-it-'));
    const { restic, cleanup } = await makeRestic(bin, s3.backend, s3.secret);
    t.teardown(async () => {
      await cleanup();
      await s3.stop();
      await rm(work, { recursive: true, force: true });
    });
    await makeTree(join(work, 'data'), 'missing');
    const t0 = Date.now();
    await t.rejects(restic.backup([join(work, 'data')], { host: 'app' }), RepositoryMissingError);
    t.ok(Date.now() - t0 < 30_000, `failed within 30 s (${Date.now() - t0} ms)`);
    t.equal((await restic.initIfMissing()).created, true, 'then init creates it');
    const b = await restic.backup([join(work, 'data')], { host: 'app' });
    t.ok(b.snapshotId, 'and the backup succeeds');
  });
}
