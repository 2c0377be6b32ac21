// An etcd member on a real etcd (our built binary) with TLS and client-certificate auth: the client files
// come from the AppBinding's Secret, `etcdctl snapshot save` goes into restic as /snapshot.db, and
// `etcdutl snapshot restore` makes a new data directory from which a second etcd starts with every key
// and value identical (binary keys, a 1 MiB value). A backup against a stopped server fails readably and
// leaves no snapshot; a restore into an existing directory is refused; no key material in any command line.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { connectionFromAppBinding } from '../../agent/db/connection.ts';
import { backupDatabase, restoreDatabase } from '../../agent/db/run.ts';
import { requireDatabaseTask } from '../../agent/db/tasks.ts';
import { resticBinaries } from '../backends/bins.ts';
import { sampleCommandLines } from '../backends/db-scenario.ts';
import { startEtcd } from '../backends/etcd.ts';
import { freePort } from '../backends/proc.ts';
import { localRepo } from '../backends/restic.ts';
import { binary } from '../world/bins.ts';
import { createPki } from '../world/pki.ts';

t.setTimeout(120_000);

const bins = resticBinaries();
const newest = [...bins.entries()].sort(([a], [b]) => b.localeCompare(a, undefined, { numeric: true }))[0];
if (!newest) t.fail('no restic binary found');

t.test('etcd member with TLS client certificates', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stash-ts-etcd-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const pki = createPki(join(dir, 'pki'));
  const path = `${dirname(binary('etcdctl'))}:${process.env.PATH ?? '/usr/bin:/bin'}`;
  const etcd = await startEtcd(pki, { dataDir: join(dir, 'data') });
  t.teardown(() => etcd.stop());
  const restic = await localRepo(t, newest![1], { graceMs: 15_000 });

  const keyPem = await readFile(pki.adminKey, 'utf8');
  const secret = {
    'ca.crt': await readFile(pki.caCert, 'utf8'),
    'tls.crt': await readFile(pki.adminCert, 'utf8'),
    'tls.key': keyPem,
  };
  const binding = (port: number) => ({
    metadata: { name: 'etcd', namespace: 'demo' },
    spec: { type: 'etcd', clientConfig: { url: `https://127.0.0.1:${port}` }, secret: { name: 'etcd-client' } },
  });
  const task = requireDatabaseTask('etcd-backup-3.5.0', 'backup');
  const conn = connectionFromAppBinding(binding(etcd.port), secret, { engine: task.engine });
  t.match(conn, { engine: 'etcd', scheme: 'https', port: etcd.port });
  t.ok(conn.tls?.ca && conn.tls.cert && conn.tls.key, 'client certificate from the Secret');

  const big = randomBytes(1024 * 1024);
  await etcd.put(Buffer.from([0, 1, 0xff, 0x2f]), randomBytes(64));
  await etcd.put('/registry/big', big);
  for (let i = 0; i < 300; i++) await etcd.put(`/app/config/${i}`, `value ${i} ✓`);
  const original = await etcd.all();
  t.equal(original.length, 302, 'keys written');

  // Key material must stay in files: a line from the middle of the private key is the canary.
  const canary = keyPem.split('\n')[1]!;
  const sampler = sampleCommandLines(canary, /^(etcdctl|etcdutl)$/);
  let sampled: { hits: string[]; seen: string[] };
  const host = 'host-0';
  try {
    const backup = await backupDatabase(restic, conn, { host, path });
    t.ok(backup.snapshotId, `snapshot ${backup.snapshotId?.slice(0, 8)}`);
    const snaps = await restic.snapshots();
    t.same(
      snaps.map((s) => s.paths),
      [['/snapshot.db']],
      'one snapshot holding /snapshot.db',
    );

    // A server that is gone: etcdctl fails, nothing is stored.
    const gone = connectionFromAppBinding(binding(await freePort()), secret, { engine: 'etcd' });
    const failed = await backupDatabase(restic, gone, { host, path }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    t.match(
      failed?.message,
      /^backup of etcd at 127\.0\.0\.1:\d+ failed: etcdctl failed \(exit code \d+\)/,
      `readable: ${failed?.message}`,
    );
    t.same(
      (await restic.snapshots()).map((s) => s.id),
      snaps.map((s) => s.id),
      'no snapshot from the failed backup',
    );

    const dataDir = join(dir, 'restored');
    const params = [
      { name: 'dataDir', value: dataDir },
      { name: 'name', value: 'restored' },
    ];
    const peerPort = await freePort();
    params.push(
      { name: 'initialCluster', value: `restored=http://127.0.0.1:${peerPort}` },
      { name: 'initialAdvertisePeerUrls', value: `http://127.0.0.1:${peerPort}` },
    );
    const out = await restoreDatabase(restic, conn, { snapshot: 'latest', host, params, path });
    t.ok(out.bytes > big.length, `${out.bytes} snapshot bytes restored`);
    await t.rejects(
      restoreDatabase(restic, conn, { snapshot: 'latest', host, params, path }),
      /task\.params\[dataDir\]: dataDir .* exists/,
      'a restore into an existing data directory is refused',
    );
    await t.rejects(
      restoreDatabase(restic, conn, { snapshot: 'latest', host, path }),
      /task\.params\[dataDir\]: an etcd restore needs the task param dataDir/,
    );

    const second = await startEtcd(pki, {
      dataDir,
      name: 'restored',
      peerPort,
      initialCluster: `restored=http://127.0.0.1:${peerPort}`,
    });
    t.teardown(() => second.stop());
    t.same(await second.all(), original, 'every key and value identical in the etcd started on the restored directory');
  } finally {
    sampled = await sampler.stop();
  }
  t.same(sampled.hits, [], 'no key material in any command line');
  // The sampler must have caught etcdctl, the client that holds the TLS key through the whole streamed save;
  // etcdutl restores offline with no key material and can end between two samples on a loaded machine.
  t.ok(
    sampled.seen.some((s) => /etcdctl/.test(s)),
    `the sampler saw etcdctl: ${sampled.seen.join(' ; ')}`,
  );
});
