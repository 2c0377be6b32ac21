// Rotation without restart: new certificate files are picked up by new connections while the server keeps running.
import t from 'tap';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { generateCa, generateCerts, generateServingCert } from '../certs/certs.ts';
import { repository } from '../test/fixtures/reviews/fixtures.ts';
import { servedOverHttps } from '../test/support/webhook-https.ts';
import { ROUTES } from './app.ts';
import { CertificateReloader, loadKeyPair } from './tls.ts';
import { until } from '../test/support/until.ts';

function peerCert(port: number, ca: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const cert = s.getPeerCertificate();
      s.end();
      resolve(cert);
    });
    s.on('error', reject);
  });
}

t.test('new cert files reach new connections without a restart', async (t) => {
  const { app, port, certs, dir } = await servedOverHttps(t);

  const first = await peerCert(port, certs.caPem);
  const res = await fetch(`https://127.0.0.1:${port}${ROUTES.healthz}`).catch((e: unknown) => e);
  t.ok(res instanceof Error, 'an untrusted client is refused (the CA is ours)');

  await generateServingCert(dir, { certFile: certs.caFile, keyFile: certs.caKeyFile }, { dnsNames: ['localhost'] });
  await until(
    'the rotated certificate',
    async () => (await peerCert(port, certs.caPem)).fingerprint256 !== first.fingerprint256,
    { timeoutMs: 5_000, everyMs: 25 },
  );
  const second = await peerCert(port, certs.caPem);
  t.not(second.serialNumber, first.serialNumber, 'a new certificate is served');
  t.match(second.subjectaltname, /IP Address:127\.0\.0\.1/);
  t.equal(app.server.listening, true, 'same server, still listening');
});

t.test('a torn or mismatched pair is not loaded; the last good pair stays', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stash-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const certs = await generateCerts({ dir });
  const other = await mkdtemp(join(tmpdir(), 'stash-tls-other-'));
  t.teardown(() => rm(other, { recursive: true, force: true }));
  const ca2 = await generateCa(other);
  const pair2 = await generateServingCert(other, ca2);

  const reloader = new CertificateReloader({ certFile: certs.certFile, keyFile: certs.keyFile, pollMs: 60_000 });
  const before = reloader.current();
  await copyFile(pair2.certFile, certs.certFile); // cert changed, key not yet
  t.equal(reloader.reload(), false, 'mismatched key: not loaded');
  t.same(reloader.current(), before);
  await copyFile(pair2.keyFile, certs.keyFile);
  t.equal(reloader.reload(), true, 'complete pair: loaded');
  t.equal(reloader.generation, 1);
  t.equal(reloader.reload(), false, 'no change: nothing to do');
  await writeFile(certs.certFile, 'garbage');
  t.equal(reloader.reload(), false);
  reloader.close();
  t.throws(() => new CertificateReloader({ certFile: join(dir, 'missing.crt'), keyFile: certs.keyFile }), {
    code: 'CONFIG_INVALID',
  });
  t.throws(() => loadKeyPair({ certFile: certs.certFile, keyFile: certs.keyFile }));
});

t.test('serves HTTPS admission with the generated pair', async (t) => {
  const { port, certs } = await servedOverHttps(t, {
    invokers: { backupInvokersFor: () => [], restoreInvokersFor: () => [], repository: () => repository() as never },
  });
  const cert = await peerCert(port, certs.caPem);
  t.match(cert.subjectaltname, /DNS:stash-ts-operator\.stash-system\.svc/);
});
