import t from 'tap';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConnection, loadKubeconfigFile } from './kubeconfig.ts';
import { ConfigError } from '../errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const ca = Buffer.from('ca-pem').toString('base64');

t.test('reads the current context from YAML and JSON kubeconfigs', async (t) => {
  writeFileSync(join(dir, 'key.pem'), 'key-pem');
  const yaml = [
    'apiVersion: v1',
    'kind: Config',
    'current-context: b',
    'clusters:',
    '- name: ca',
    '  cluster: {server: "https://a:1"}',
    '- name: cb',
    `  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: ${ca}}`,
    'users:',
    '- name: ub',
    `  user: {client-certificate-data: ${Buffer.from('cert-pem').toString('base64')}, client-key: key.pem}`,
    'contexts:',
    '- name: a',
    '  context: {cluster: ca, user: ub}',
    '- name: b',
    '  context: {cluster: cb, user: ub}',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'config.yaml'), yaml);
  const c = loadKubeconfigFile(join(dir, 'config.yaml'));
  t.equal(c.server, 'https://127.0.0.1:6443');
  t.equal(c.ca?.toString(), 'ca-pem');
  t.equal(c.cert?.toString(), 'cert-pem');
  t.equal(c.key?.toString(), 'key-pem', 'relative file paths resolve next to the kubeconfig');
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      'current-context': 'x',
      clusters: [{ name: 'x', cluster: { server: 'https://h:2' } }],
      users: [{ name: 'x', user: { token: 'tok' } }],
      contexts: [{ name: 'x', context: { cluster: 'x', user: 'x' } }],
    }),
  );
  const j = loadConnection(undefined, { KUBECONFIG: join(dir, 'config.json') });
  t.equal(j.server, 'https://h:2');
  t.equal(j.token, 'tok');
});

t.test('unsupported or broken configs fail with a clear message', async (t) => {
  writeFileSync(
    join(dir, 'exec.json'),
    JSON.stringify({
      'current-context': 'x',
      clusters: [{ name: 'x', cluster: { server: 'https://h' } }],
      users: [{ name: 'x', user: { exec: { command: 'aws' } } }],
      contexts: [{ name: 'x', context: { cluster: 'x', user: 'x' } }],
    }),
  );
  t.throws(() => loadKubeconfigFile(join(dir, 'exec.json')), ConfigError);
  t.throws(
    () => loadKubeconfigFile(join(dir, 'exec.json')),
    /user "x" uses an exec credential plugin, which is not supported/,
  );
  const withUser = (user: Record<string, unknown>) =>
    JSON.stringify({
      'current-context': 'x',
      clusters: [{ name: 'x', cluster: { server: 'https://h' } }],
      users: [{ name: 'x', user }],
      contexts: [{ name: 'x', context: { cluster: 'x', user: 'x' } }],
    });
  writeFileSync(
    join(dir, 'provider.json'),
    withUser({ 'auth-provider': { name: 'oidc', config: { 'id-token': 'x' } } }),
  );
  t.throws(
    () => loadKubeconfigFile(join(dir, 'provider.json')),
    /user "x" uses auth-provider "oidc", which is not supported/,
    'auth-provider rejected, not ignored',
  );
  writeFileSync(join(dir, 'basic.json'), withUser({ username: 'admin', password: 'pw' }));
  t.throws(
    () => loadKubeconfigFile(join(dir, 'basic.json')),
    /basic auth .* not supported/,
    'basic auth rejected, not ignored',
  );
  writeFileSync(join(dir, 'nocontext.json'), JSON.stringify({ 'current-context': 'missing' }));
  t.throws(() => loadKubeconfigFile(join(dir, 'nocontext.json')), /current-context "missing" not found/);
  t.throws(() => loadConnection(undefined, { HOME: dir }), /no such file|ENOENT/);
  const inCluster = () =>
    loadConnection(undefined, { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' });
  t.throws(inCluster, /ENOENT|no such file/, 'in-cluster needs the service-account CA file');
});
