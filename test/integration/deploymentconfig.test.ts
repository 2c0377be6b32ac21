// OpenShift's DeploymentConfig (apps.openshift.io/v1, docs/api.md §13.1) on the real kube-apiserver: before its API is
// served, the webhook configuration naming it is accepted and a BackupConfiguration targeting a DeploymentConfig
// just waits for its target (BackupTargetFound False), nothing fails; with a DeploymentConfig CRD installed (a
// minimal stand-in for OpenShift's API, removed at the end) the webhook injects the sidecar into a new one and the
// operator's loop injects it into one that existed before its invoker; a DeploymentConfig is released like a
// Deployment: retargeting its BackupConfiguration to another one, or deleting it, takes the sidecar out of its
// template. Admission app and control loops in-process, scoped to the test's namespace.
import t from 'tap';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { resourceServed } from '../../webhook/controllers/discovery.ts';
import { namespaceWebhook } from '../support/namespace-webhook.ts';
import { startOperator, until } from '../support/operator-testkit.ts';
import { useCluster } from '../world/harness.ts';

t.setTimeout(120_000);

const DC = 'apps.openshift.io/v1';
const CRD = 'deploymentconfigs.apps.openshift.io';
type Containers = { spec?: { template?: { spec?: { containers?: Array<{ name: string; args?: string[] }> } } } };
type Invoker = KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } } & {
  status?: { targetStatus?: unknown };
};

function deploymentConfig(name: string, ns: string): KubeObject {
  return {
    apiVersion: DC,
    kind: 'DeploymentConfig',
    metadata: { name, namespace: ns },
    spec: {
      replicas: 1,
      selector: { app: name },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: 'app', image: 'busybox:1.36', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    },
  } as KubeObject;
}

function backupConfiguration(name: string, ns: string, target: string): KubeObject {
  return {
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name, namespace: ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '*/5 * * * *',
      target: {
        ref: { apiVersion: DC, kind: 'DeploymentConfig', name: target },
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
        paths: ['/data'],
      },
      retentionPolicy: { name: 'keep-last-3', keepLast: 3, prune: true },
    },
  } as KubeObject;
}

const hasSidecar = (o: KubeObject | null) =>
  !!(o as Containers | null)?.spec?.template?.spec?.containers?.some((c) => c.name === 'stash');

t.test('DeploymentConfig: waited for while not served, injected like a Deployment once it is', async (t) => {
  const { kube, namespace: ns } = await useCluster(t);
  t.notOk(await resourceServed(kube, DC, 'deploymentconfigs'), 'no DeploymentConfig API at the start');
  await namespaceWebhook(t, kube, ns);
  t.pass('webhook configuration with the deploymentconfigs rule accepted while the API is not served');
  await kube.create({
    apiVersion: apiVersionOf('Repository'),
    kind: 'Repository',
    metadata: { name: 'repo', namespace: ns },
    spec: { backend: { rest: { url: 'http://127.0.0.1:1/repo' }, storageSecretName: 'repo-secret' } },
  } as KubeObject);
  await startOperator(t, kube, ns, { requeueMs: 500 });
  await kube.create(backupConfiguration('web-backup', ns, 'web'));
  const targetMissing = await until('BackupTargetFound False for the unserved kind', async () => {
    const inv = await kube.get<Invoker>(apiVersionOf('BackupConfiguration'), 'BackupConfiguration', ns, 'web-backup');
    return inv.status?.conditions?.find((c) => c.type === 'BackupTargetFound' && c.status === 'False');
  });
  t.ok(targetMissing, 'the invoker waits for its target');

  t.teardown(() => kube.delete('apiextensions.k8s.io/v1', 'CustomResourceDefinition', undefined, CRD));
  await kube.apply({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD },
    spec: {
      group: 'apps.openshift.io',
      names: {
        kind: 'DeploymentConfig',
        listKind: 'DeploymentConfigList',
        plural: 'deploymentconfigs',
        singular: 'deploymentconfig',
        shortNames: ['dc'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  } as KubeObject);
  await until('the DeploymentConfig API is served', () => resourceServed(kube, DC, 'deploymentconfigs'), 30_000);

  // Admission: the apiserver picks the rule up for the new API; a dry run shows when the webhook is called.
  const probe = await until('the webhook injects into a new DeploymentConfig', async () => {
    const o = await kube.create(deploymentConfig('web', ns), { dryRun: true });
    return hasSidecar(o) && o;
  });
  t.ok(probe, 'dry run injected');
  const web = await kube.create(deploymentConfig('web', ns));
  t.ok(hasSidecar(web), 'the stored DeploymentConfig carries the stash sidecar');
  const sidecar = (web as Containers).spec!.template!.spec!.containers!.find((c) => c.name === 'stash')!;
  t.ok(sidecar.args?.includes('--target-kind=DeploymentConfig'), 'the agent is told its target kind');
  t.equal(web.metadata?.annotations?.['stash.appscode.com/last-applied-backup-invoker-kind'], 'BackupConfiguration');

  // The operator's path: a DeploymentConfig that no invoker targeted yet gets the sidecar once one does.
  await kube.create(deploymentConfig('late', ns));
  t.notOk(hasSidecar(await kube.get(DC, 'DeploymentConfig', ns, 'late')), 'untargeted: left alone');
  await kube.create(backupConfiguration('late-backup', ns, 'late'));
  await until('the invoker loop injects the sidecar into the existing DeploymentConfig', async () =>
    hasSidecar(await kube.get(DC, 'DeploymentConfig', ns, 'late')),
  );
  t.pass('injected by the operator');

  // Released: the invoker now targets another DeploymentConfig; the former one loses the sidecar, with an Event.
  await kube.create(deploymentConfig('next', ns));
  // A merge patch, as `kubectl patch` would: the operator writes the invoker's status and finalizers
  // concurrently, so a read-modify-PUT can lose the race with a 409.
  const bc = apiVersionOf('BackupConfiguration');
  await kube.patch(bc, 'BackupConfiguration', ns, 'late-backup', {
    spec: { target: { ref: { name: 'next' } } },
  });
  await until('the retargeted invoker injects the new DeploymentConfig', async () =>
    hasSidecar(await kube.get(DC, 'DeploymentConfig', ns, 'next')),
  );
  await until(
    'the former target loses its sidecar',
    async () => !hasSidecar(await kube.get(DC, 'DeploymentConfig', ns, 'late')),
  );
  const released = await kube.get(DC, 'DeploymentConfig', ns, 'late');
  t.notOk(
    released.metadata?.annotations?.['stash.appscode.com/last-applied-backup-invoker'],
    'nor does it name the invoker any more',
  );
  const events = await until('a SidecarRemoved Event names the DeploymentConfig', async () =>
    (await kube.list<KubeObject & { reason?: string; message?: string }>('v1', 'Event', ns)).items.find(
      (e) => e.reason === 'SidecarRemoved' && e.message?.includes('DeploymentConfig'),
    ),
  );
  t.match(
    events.message,
    new RegExp(`DeploymentConfig ${ns}/late is no longer a target of BackupConfiguration late-backup`),
  );

  // Released: the invoker is deleted; its finalizer takes the sidecar out before it goes.
  await kube.delete(bc, 'BackupConfiguration', ns, 'web-backup');
  await until(
    'the deleted invoker is gone',
    async () => !(await kube.getOrNull(bc, 'BackupConfiguration', ns, 'web-backup')),
  );
  t.notOk(hasSidecar(await kube.get(DC, 'DeploymentConfig', ns, 'web')), 'deleting the invoker removed the sidecar');
  t.ok(hasSidecar(await kube.get(DC, 'DeploymentConfig', ns, 'next')), 'the other invoker keeps its own');
});
