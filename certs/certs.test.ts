import t from 'tap';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { fingerprint, generateCerts, generateServingCert, serviceDnsNames } from './certs.ts';
import { loadWebhookManifests, renderWebhookConfigurations } from './webhook-config.ts';

t.test('CA and serving certificate with the Service names and 127.0.0.1', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stash-certs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const c = await generateCerts({ dir, serviceName: 'op', namespace: 'ns1' });
  const ca = new X509Certificate(await readFile(c.caFile));
  const serving = new X509Certificate(await readFile(c.certFile));
  t.ok(ca.ca, 'CA certificate');
  t.notOk(serving.ca);
  t.ok(serving.verify(ca.publicKey), 'signed by the CA');
  t.ok(serving.checkIssued(ca));
  for (const name of [...serviceDnsNames('op', 'ns1'), 'localhost']) t.ok(serving.checkHost(name), name);
  t.equal(serving.checkIP('127.0.0.1'), '127.0.0.1');
  t.equal((await stat(c.keyFile)).mode & 0o777, 0o600, 'key readable by the owner only');
  t.equal(c.caPem, await readFile(c.caFile, 'utf8'));

  const before = await fingerprint(c.certFile);
  await generateServingCert(dir, { certFile: c.caFile, keyFile: c.caKeyFile });
  t.not(await fingerprint(c.certFile), before, 'rotation writes a new certificate');
  t.ok(new X509Certificate(await readFile(c.certFile)).verify(ca.publicKey), 'still signed by the same CA');
});

t.test('webhook configurations', async (t) => {
  const manifests = loadWebhookManifests();
  t.same(
    manifests.map((m) => m.kind),
    ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'],
  );
  for (const m of manifests) {
    for (const w of m.webhooks as Array<Record<string, any>>) {
      t.same(w.admissionReviewVersions, ['v1'], `${w.name} v1 only`);
      t.equal(w.sideEffects, 'None');
      t.type(w.timeoutSeconds, 'number', 'explicit timeout');
      t.same(
        w.namespaceSelector.matchExpressions[0].values,
        ['kube-system', 'stash-system'],
        'skips system and operator namespaces',
      );
      const rules = w.rules as Array<{ apiGroups: string[]; operations: string[] }>;
      const workloads = rules.some((r) => r.apiGroups.includes('apps'));
      // A Snapshot delete is checked again by the operator before it forgets (docs/decisions/0010).
      const snapshotDelete = rules.every((r) => r.operations.join() === 'DELETE');
      t.equal(
        w.failurePolicy,
        workloads || snapshotDelete ? 'Ignore' : 'Fail',
        `${w.name}: Ignore for workloads and Snapshot deletes, Fail for our kinds`,
      );
      t.ok(w.clientConfig.service, 'cluster form uses the Service');
    }
  }

  const local = renderWebhookConfigurations({
    caPem: 'PEM',
    url: { port: 9443 },
    name: 'test-x',
    namespaceSelector: { matchLabels: { a: 'b' } },
    timeoutSeconds: 3,
  });
  for (const m of local) {
    t.equal((m.metadata as Record<string, unknown>).name, 'test-x');
    for (const w of m.webhooks as Array<Record<string, any>>) {
      t.notOk(w.clientConfig.service, 'never a service clientConfig locally');
      t.match(
        w.clientConfig.url,
        /^https:\/\/127\.0\.0\.1:9443\/(mutate-workload|mutate-stash|validate-stash|validate-snapshot-delete)$/,
      );
      t.equal(w.clientConfig.caBundle, Buffer.from('PEM').toString('base64'));
      t.same(w.namespaceSelector, { matchLabels: { a: 'b' } });
      t.equal(w.timeoutSeconds, 3);
    }
  }
  const cluster = renderWebhookConfigurations({ caPem: 'PEM' });
  t.equal((cluster[0]!.webhooks as Array<Record<string, any>>)[0]!.clientConfig.service.path, '/mutate-workload');
});
