// Round trip against restic's REST server over HTTPS with basic auth: exercises the credentials in
// the repository URL (env only), CA_CERT_DATA → --cacert, and direct lock-file deletion over REST.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resticBinaries } from '../backends/bins.ts';
import { startRestServer } from '../backends/rest-server.ts';
import { roundTrip } from '../backends/roundtrip.ts';

for (const [version, bin] of resticBinaries()) {
  t.test(`rest-server (https, auth), restic ${version}`, async (t) => {
    const rest = await startRestServer({
      auth: { username: 'stash', password: 'p@ss:w/rd%' },
      tls: true,
      repoPath: 'team/app',
    });
    const work = await mkdtemp(join(tmpdir(), 'stash-ts-it-'));
    t.teardown(async () => {
      await rest.stop();
      await rm(work, { recursive: true, force: true });
    });
    await roundTrip(t, bin, rest.backend, rest.secret, work);
  });
}
