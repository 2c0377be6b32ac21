// The Helm chart against a private control plane (etcd, kube-apiserver, kube-controller-manager; no kubelet):
// `helm template` applied with `kubectl apply --dry-run=server`, then `helm install`, `helm upgrade` with changed
// values (which keeps the serving certificate) and `helm uninstall`, after which only the CRDs are left (Helm never
// deletes what crds/ installed); a second release is refused. A backup and restore through a Helm-installed
// operator needs a kubelet for the operator's pods: test/kubelet/story-helm.test.ts does it on real pods.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Kube, type KubeObject } from '../../shared/kube/client.ts';
import { binary, REPO_ROOT } from '../world/bins.ts';
import { privateControlPlane } from '../world/harness.ts';

t.setTimeout(180_000);
const { dir, start } = privateControlPlane(t, 'chart');
const cp = await start({ withControllerManager: true, installCrds: false });
const kube = Kube.load(cp.kubeconfig, 'stash-ts-chart-test');
t.teardown(() => kube.close());
const chart = join(REPO_ROOT, 'charts', 'stash-ts');
/** The CRDs of our groups the chart ships in crds/ (each file is named after its CRD). */
const chartCrds = readdirSync(join(chart, 'crds'))
  .map((f) => f.replace(/\.yaml$/, ''))
  .filter((n) => n.endsWith('.stash.appscode.com'))
  .sort();
const env = {
  ...process.env,
  KUBECONFIG: cp.kubeconfig,
  HELM_CACHE_HOME: join(dir, 'helm'),
  HELM_CONFIG_HOME: join(dir, 'helm'),
  HELM_DATA_HOME: join(dir, 'helm'),
};
const helm = (...args: string[]) => execFileSync(binary('helm'), args, { encoding: 'utf8', env, stdio: 'pipe' });
const NS = 'stash-chart';

/** A Secret's data as digests: compared without ever printing a key. */
const digests = (data: Record<string, string>) =>
  Object.fromEntries(Object.entries(data).map(([k, v]) => [k, createHash('sha256').update(v).digest('hex')]));

/** Whether the object exists, asked through kubectl (it knows every built-in kind). */
function exists(kind: string, ns: string | undefined, name: string): boolean {
  const args = ['--kubeconfig', cp.kubeconfig, 'get', kind, name, '--ignore-not-found', '-o', 'name'];
  if (ns) args.push('-n', ns);
  return execFileSync(cp.kubectl, args, { encoding: 'utf8', stdio: 'pipe' }).trim() !== '';
}

t.test('helm template applied with kubectl apply --dry-run=server', async (t) => {
  // A server dry run creates nothing, not even the namespace its other objects need: that one is made for real.
  await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  const rendered = helm(
    'template',
    'stash-ts',
    chart,
    '--namespace',
    NS,
    '--include-crds',
    '--set',
    'createNamespace=true',
  );
  // CRDs first (a server dry-run cannot see CRDs it has not created), then everything against them.
  const out = execFileSync(cp.kubectl, ['--kubeconfig', cp.kubeconfig, 'apply', '--dry-run=server', '-f', '-'], {
    input: rendered,
    encoding: 'utf8',
    stdio: 'pipe',
  });
  t.match(out, /deployment\.apps\/stash-ts-operator created \(server dry run\)/);
  t.match(
    out,
    /validatingwebhookconfiguration\.admissionregistration\.k8s\.io\/stash-ts-operator created \(server dry run\)/,
  );
  t.match(
    out,
    /customresourcedefinition\.apiextensions\.k8s\.io\/backupbatches\.stash\.appscode\.com created \(server dry run\)/,
  );
  t.equal(await kube.getOrNull('apps/v1', 'Deployment', NS, 'stash-ts-operator'), null, 'nothing was created');
});

/** Each webhook configuration's distinct caBundles. */
async function caBundles(): Promise<Array<{ kind: string; bundles: string[] }>> {
  return await Promise.all(
    ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'].map(async (kind) => {
      const c = await kube.get<KubeObject & { webhooks: Array<{ clientConfig: { caBundle: string } }> }>(
        'admissionregistration.k8s.io/v1',
        kind,
        undefined,
        'stash-ts-operator',
      );
      return { kind, bundles: [...new Set(c.webhooks.map((w) => w.clientConfig.caBundle))] };
    }),
  );
}

t.test('helm install, upgrade with changed values, uninstall leaves only the CRDs', async (t) => {
  helm('install', 'stash-ts', chart, '--namespace', NS, '--create-namespace');
  const dep = await kube.get<
    KubeObject & {
      spec: {
        replicas: number;
        template: { spec: { containers: Array<{ env: Array<{ name: string; value?: string }> }> } };
      };
    }
  >('apps/v1', 'Deployment', NS, 'stash-ts-operator');
  t.equal(dep.spec.replicas, 2, 'two replicas by default');
  t.ok(exists('poddisruptionbudget', NS, 'stash-ts-operator'), 'the PodDisruptionBudget exists');
  const crds = await kube.list('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
  const ours = crds.items.map((c) => c.metadata?.name ?? '').filter((n) => n.endsWith('.stash.appscode.com'));
  t.same(ours.sort(), chartCrds, `the CRDs from crds/: ${ours.join(', ')}`);
  const secret = await kube.get<KubeObject & { data: Record<string, string> }>(
    'v1',
    'Secret',
    NS,
    'stash-ts-operator-tls',
  );
  const vwc = await kube.get<KubeObject & { webhooks: Array<{ clientConfig: { caBundle: string } }> }>(
    'admissionregistration.k8s.io/v1',
    'ValidatingWebhookConfiguration',
    undefined,
    'stash-ts-operator',
  );
  t.equal(vwc.webhooks[0]?.clientConfig.caBundle, secret.data['ca.crt'], 'the webhooks trust the generated CA');

  // Names are fixed (one stash-ts per cluster): a second release is refused before it creates anything.
  let second = '';
  try {
    helm('install', 'another', chart, '--namespace', 'stash-chart-2', '--create-namespace');
  } catch (e) {
    second = String((e as { stderr?: string }).stderr);
  }
  t.match(second, /exists and cannot be imported into the current release/, 'a second release is refused', {
    second,
  });
  t.equal(helm('list', '--all', '--namespace', 'stash-chart-2', '-q').trim(), '', 'and left no release record');

  helm(
    'upgrade',
    'stash-ts',
    chart,
    '--namespace',
    NS,
    '--set',
    'replicaCount=3',
    '--set',
    'logLevel=debug',
    '--set',
    'apiserver.webhook.failurePolicy=Ignore',
  );
  const up = await kube.get<typeof dep>('apps/v1', 'Deployment', NS, 'stash-ts-operator');
  t.equal(up.spec.replicas, 3, 'replicaCount changed');
  t.equal(
    up.spec.template.spec.containers[0]?.env.find((e) => e.name === 'STASH_LOG_LEVEL')?.value,
    'debug',
    'logLevel changed',
  );
  const vwc2 = await kube.get<KubeObject & { webhooks: Array<{ failurePolicy: string }> }>(
    'admissionregistration.k8s.io/v1',
    'ValidatingWebhookConfiguration',
    undefined,
    'stash-ts-operator',
  );
  t.same([...new Set(vwc2.webhooks.map((w) => w.failurePolicy))], ['Ignore'], 'failurePolicy changed');
  // The upgrade keeps the generated certificate (the chart looks the Secret up): the running replicas and the
  // webhooks' caBundle stay as they were.
  const kept = await kube.get<typeof secret>('v1', 'Secret', NS, 'stash-ts-operator-tls');
  t.same(digests(kept.data), digests(secret.data), 'the upgrade kept the serving certificate, key and CA');
  for (const cfg of await caBundles())
    t.same(cfg.bundles, [secret.data['ca.crt']], `${cfg.kind}: every webhook still trusts that CA`);

  // Deleting the Secret is how a user asks for a new one: the next upgrade generates it, caBundle included.
  await kube.delete('v1', 'Secret', NS, 'stash-ts-operator-tls');
  helm('upgrade', 'stash-ts', chart, '--namespace', NS, '--reuse-values');
  const fresh = await kube.get<typeof secret>('v1', 'Secret', NS, 'stash-ts-operator-tls');
  t.not(fresh.data['ca.crt'], secret.data['ca.crt'], 'a new CA after the Secret was deleted');
  t.not(digests(fresh.data)['tls.key'], digests(secret.data)['tls.key'], 'and a new key');
  for (const cfg of await caBundles())
    t.same(cfg.bundles, [fresh.data['ca.crt']], `${cfg.kind}: every webhook trusts the new CA`);

  helm('uninstall', 'stash-ts', '--namespace', NS, '--wait', '--timeout', '60s');
  const gone: Array<[string, string | undefined, string]> = [
    ['deployment', NS, 'stash-ts-operator'],
    ['service', NS, 'stash-ts-operator'],
    ['secret', NS, 'stash-ts-operator-tls'],
    ['serviceaccount', NS, 'stash-ts-operator'],
    ['poddisruptionbudget', NS, 'stash-ts-operator'],
    ['clusterrole', undefined, 'stash-ts-operator'],
    ['clusterrole', undefined, 'stash-sidecar'],
    ['clusterrolebinding', undefined, 'stash-ts-operator'],
    ['mutatingwebhookconfiguration', undefined, 'stash-ts-operator'],
    ['validatingwebhookconfiguration', undefined, 'stash-ts-operator'],
  ];
  for (const [kind, ns, name] of gone) t.notOk(exists(kind, ns, name), `${kind} ${name} removed`);
  const left = (await kube.list('apiextensions.k8s.io/v1', 'CustomResourceDefinition')).items
    .map((c) => c.metadata?.name ?? '')
    .filter((n) => n.endsWith('.stash.appscode.com'));
  t.same(left.sort(), chartCrds, 'the CRDs stay (and with them every backup object)');
});
