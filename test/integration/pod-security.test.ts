// docs/api.md §13.5 against the real kube-apiserver's PodSecurity admission (on by default; the test world's
// flags do not turn it off): in a namespace labelled `pod-security.kubernetes.io/enforce: restricted`, a targeted
// Deployment gets the `stash` sidecar and the `stash-init` init-container and kube-controller-manager's ReplicaSet
// controller still gets its pod admitted; the uid-0 opt-in (runAsUser 0 in the member's container settings, what
// stash-init used to do by default) is rejected there. The webhook is the admission app in-process, scoped to the
// test's namespace. No pod runs here: admission is the subject.
import t from 'tap';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { mutatingWebhookActive, namespaceWebhook } from '../support/namespace-webhook.ts';
import { until } from '../support/until.ts';
import { useCluster } from '../world/harness.ts';

t.setTimeout(120_000);

type Obj = Record<string, unknown>;
interface Container {
  name: string;
  securityContext?: Obj;
}
interface PodObj extends KubeObject {
  spec?: { containers: Container[]; initContainers?: Container[]; securityContext?: Obj };
}
interface ReplicaSetObj extends KubeObject {
  status?: { conditions?: Array<{ type: string; status: string; message?: string }> };
}

/** A Deployment that passes the restricted level by itself: non-root user and fsGroup 1000, no capabilities. */
function app(name: string, ns: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            fsGroup: 1000,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'app',
              image: 'busybox:1.36',
              command: ['sleep', '3600'],
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    },
  } as KubeObject;
}

function target(name: string): Obj {
  return {
    ref: { apiVersion: 'apps/v1', kind: 'Deployment', name },
    volumeMounts: [{ name: 'data', mountPath: '/data' }],
  };
}

t.test('restricted Pod Security admits injected pods; the uid-0 opt-in is rejected', async (t) => {
  const { kube, namespace: ns } = await useCluster(t);
  await kube.patch('v1', 'Namespace', undefined, ns, {
    metadata: {
      labels: {
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
      },
    },
  });
  const index = await namespaceWebhook(t, kube, ns);
  await kube.create({
    apiVersion: apiVersionOf('Repository'),
    kind: 'Repository',
    metadata: { name: 'repo', namespace: ns },
    spec: { backend: { rest: { url: 'http://127.0.0.1:1/repo' }, storageSecretName: 'repo-secret' } },
  } as KubeObject);
  await kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name: 'app-backup', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '*/5 * * * *',
      target: { ...target('app'), paths: ['/data'] },
      retentionPolicy: { name: 'keep-last-3', keepLast: 3, prune: true },
    },
  } as KubeObject);
  const restore = (name: string, workload: string, container?: Obj): KubeObject =>
    ({
      apiVersion: apiVersionOf('RestoreSession'),
      kind: 'RestoreSession',
      metadata: { name, namespace: ns },
      spec: {
        repository: { name: 'repo' },
        target: { ...target(workload), rules: [{ paths: ['/data'] }] },
        ...(container ? { runtimeSettings: { container } } : {}),
      },
    }) as KubeObject;
  await kube.create(restore('app-restore', 'app'));
  await kube.create(restore('root-restore', 'root-app', { securityContext: { runAsUser: 0, runAsGroup: 0 } }));
  await until('the index sees the invokers', async () => {
    const w = (name: string) => ({ apiVersion: 'apps/v1', kind: 'Deployment', name, namespace: ns });
    return index.restoreInvokersFor(w('app')).length === 1 && index.restoreInvokersFor(w('root-app')).length === 1;
  });
  const probes = await mutatingWebhookActive(async () => {
    const probe = await kube.create(app('app', ns), { dryRun: true });
    return !!(probe as PodObj & { spec: { template: { spec: { initContainers?: Container[] } } } }).spec.template.spec
      .initContainers;
  });
  t.pass(`webhook active after ${probes} probe(s)`);

  await kube.create(app('app', ns));
  const pod = await until(
    'the ReplicaSet controller gets a pod of app admitted',
    async () => (await kube.list<PodObj>('v1', 'Pod', ns, { labelSelector: 'app=app' })).items[0],
    { timeoutMs: 60_000 },
  );
  const sidecar = pod.spec!.containers.find((c) => c.name === 'stash');
  const init = pod.spec!.initContainers?.[0];
  t.ok(sidecar, 'the admitted pod carries the sidecar');
  t.equal(init?.name, 'stash-init', 'and stash-init first');
  const restricted = {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
  };
  t.same(sidecar?.securityContext, restricted);
  t.same(init?.securityContext, restricted);
  t.match(pod.spec!.securityContext, { runAsUser: 1000, fsGroup: 1000 }, 'the agent runs as the workload user');

  await kube.create(app('root-app', ns));
  const failure = await until(
    'the ReplicaSet of root-app reports the rejected pod',
    async () => {
      const rs = (await kube.list<ReplicaSetObj>('apps/v1', 'ReplicaSet', ns, { labelSelector: 'app=root-app' })).items;
      return rs[0]?.status?.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
    },
    { timeoutMs: 60_000 },
  );
  t.match(failure.message, /violates PodSecurity "restricted:latest"/, failure.message ?? '');
  t.match(failure.message, /stash-init/, 'the opt-in container is named');
  t.equal((await kube.list('v1', 'Pod', ns, { labelSelector: 'app=root-app' })).items.length, 0, 'no pod admitted');
});
