// Stories on real pods for the two ways a workload is picked up without a hand-written BackupConfiguration, and
// for OpenShift's kind:
//
// 1. Auto-backup (docs/api.md §8.1): a running Deployment annotated with a BackupBlueprint gets its Repository and
//    BackupConfiguration (${TARGET_*} substituted), the operator injects the sidecar, the pod rolls and a backup
//    Succeeds on the real sidecar. A blueprint change and an annotation change reach the BackupConfiguration, and
//    the next backup follows the new paths. Removing the annotation removes both objects and the sidecar: the
//    Deployment rolls to a pod without the stash container.
// 2. DeploymentConfig (docs/api.md §13.1) with its CRD installed in the world (a stand-in for OpenShift's API,
//    removed at the end). Nothing here runs OpenShift's controller, so nothing turns a DeploymentConfig into pods:
//    what this world can show is the real webhook injecting the sidecar into the DeploymentConfig's template, a
//    pod the story makes from that stored template (as the controller would) backing up on the real sidecar, and
//    deleting the BackupConfiguration taking the sidecar out of the template again. Rolling pods on a template
//    change is OpenShift's part and is not shown.
import t from 'tap';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { resourceServed } from '../../webhook/controllers/discovery.ts';
import { until } from '../support/e2e-world.ts';
import {
  appWorkload,
  backupNow,
  finalPhase,
  invokerReady,
  openStory,
  podsWithSidecar,
  type Pod,
  type Session,
} from './story-kit.ts';

t.setTimeout(600_000);
const st = await openStory(t, 'auto');
const { kube, ns: NS } = st;
const BC = apiVersionOf('BackupConfiguration');
const REPO = apiVersionOf('Repository');
const BP = apiVersionOf('BackupBlueprint');
type Spec = KubeObject & { spec?: Record<string, unknown> };
type PodTemplate = { metadata?: { labels?: Record<string, string> }; spec?: Record<string, unknown> };
type WithTemplate = KubeObject & {
  spec?: { template?: PodTemplate & { spec?: { containers?: Array<{ name: string; args?: string[] }> } } };
};
const containersOf = (o: WithTemplate | null) => (o?.spec?.template?.spec?.containers ?? []).map((c) => c.name);
/** Once the Deployment's rollout is complete: its latest generation seen, every replica updated and ready. */
async function rolledOut(name: string): Promise<void> {
  type Status = { observedGeneration?: number; replicas?: number; updatedReplicas?: number; readyReplicas?: number };
  await until(
    `Deployment ${name} rolled out`,
    async () => {
      const d = await kube.get<KubeObject & { status?: Status }>('apps/v1', 'Deployment', NS, name);
      const s = d.status ?? {};
      return (
        s.observedGeneration === d.metadata?.generation &&
        s.replicas === 1 &&
        s.updatedReplicas === 1 &&
        s.readyReplicas === 1
      );
    },
    180_000,
  );
}
/** A directory of the story's repository area the agent (a non-root user) may write. */
const repoSubdir = (name: string) => {
  const dir = join(st.repoDir, name);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777);
  return dir;
};

t.test('auto-backup from a BackupBlueprint: create, change, remove the annotation', async (t) => {
  const blueprint = `story-${NS}`;
  t.teardown(() => kube.delete(BP, 'BackupBlueprint', undefined, blueprint).then(() => undefined));
  const repoDir = repoSubdir('deployment-web');
  await kube.create({
    apiVersion: BP,
    kind: 'BackupBlueprint',
    metadata: { name: blueprint },
    spec: {
      backend: {
        storageSecretName: 'repo-secret',
        local: { mountPath: '/stash-repo', hostPath: { path: `${st.repoDir}/\${TARGET_KIND}-\${TARGET_NAME}` } },
      },
      schedule: '0 0 1 1 *',
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
    },
  });
  await kube.create(
    appWorkload(
      'Deployment',
      NS,
      'web',
      '[ -d /data/pages ] || { mkdir -p /data/pages /data/media; echo one > /data/pages/one.html; echo two > /data/pages/two.html; head -c 32768 /dev/urandom > /data/media/clip.bin; }; httpd -p 8080 -h /data; while true; do sleep 1; done',
    ),
  );
  await until(
    'web Running',
    async () =>
      (await kube.list<Pod>('v1', 'Pod', NS, { labelSelector: 'app=web' })).items.some(
        (p) => p.status?.phase === 'Running',
      ),
    90_000,
  );
  await kube.patch('apps/v1', 'Deployment', NS, 'web', {
    metadata: {
      annotations: {
        'stash.appscode.com/backup-blueprint': blueprint,
        'stash.appscode.com/target-paths': '/data',
        'stash.appscode.com/volume-mounts': 'data:/data',
      },
    },
  });
  const repo = await until('Repository deployment-web', () =>
    kube.getOrNull<Spec>(REPO, 'Repository', NS, 'deployment-web'),
  );
  t.match(repo.spec?.backend, { local: { hostPath: { path: repoDir } } }, '${TARGET_KIND}-${TARGET_NAME} substituted');
  const bc = await until('BackupConfiguration deployment-web', () =>
    kube.getOrNull<Spec>(BC, 'BackupConfiguration', NS, 'deployment-web'),
  );
  t.match(bc.spec, {
    repository: { name: 'deployment-web' },
    target: { ref: { kind: 'Deployment', name: 'web' }, paths: ['/data'], volumeMounts: [{ name: 'data' }] },
  });
  await invokerReady(st, 'BackupConfiguration', 'deployment-web');
  const [pod] = await podsWithSidecar(st, 'web');
  t.ok(pod, 'the operator injected the sidecar and the Deployment rolled to a pod running it');
  await backupNow(st, 'auto-1', { kind: 'BackupConfiguration', name: 'deployment-web' });
  const one = await finalPhase<Session>(st, 'BackupSession', 'auto-1');
  t.equal(one.status?.phase, 'Succeeded', 'the first backup Succeeded on the real sidecar', { status: one.status });
  t.match(st.restic('-r', repoDir, 'ls', 'latest'), /media\/clip\.bin/, "the blueprint's repository holds /data");

  // The blueprint changes (schedule, retention) and so does the target's annotation (paths).
  await kube.patch(BP, 'BackupBlueprint', undefined, blueprint, {
    spec: { schedule: '0 0 2 1 *', retentionPolicy: { name: 'keep-5', keepLast: 5, prune: true } },
  });
  await kube.patch('apps/v1', 'Deployment', NS, 'web', {
    metadata: { annotations: { 'stash.appscode.com/target-paths': '/data/pages' } },
  });
  const changed = await until('the BackupConfiguration follows both changes', async () => {
    const cur = await kube.getOrNull<Spec>(BC, 'BackupConfiguration', NS, 'deployment-web');
    const s = cur?.spec as
      { schedule?: string; retentionPolicy?: { keepLast?: number }; target?: { paths?: string[] } } | undefined;
    return s?.schedule === '0 0 2 1 *' && s.retentionPolicy?.keepLast === 5 && s.target?.paths?.[0] === '/data/pages'
      ? s
      : undefined;
  });
  t.same(changed.target?.paths, ['/data/pages'], 'paths from the changed annotation');
  await rolledOut('web');
  await podsWithSidecar(st, 'web');
  await backupNow(st, 'auto-2', { kind: 'BackupConfiguration', name: 'deployment-web' });
  const two = await finalPhase<Session>(st, 'BackupSession', 'auto-2');
  t.equal(two.status?.phase, 'Succeeded', 'the next backup Succeeded', { status: two.status });
  const latest = st.restic('-r', repoDir, 'ls', 'latest');
  t.match(latest, /pages\/two\.html/);
  t.notMatch(latest, /clip\.bin/, 'and holds only the new paths');

  // The annotation goes: so do the objects and the sidecar; the Deployment rolls without it.
  await kube.patch('apps/v1', 'Deployment', NS, 'web', {
    metadata: { annotations: { 'stash.appscode.com/backup-blueprint': null } },
  });
  await until('the BackupConfiguration and Repository are removed', async () => {
    const [r, b] = await Promise.all([
      kube.getOrNull(REPO, 'Repository', NS, 'deployment-web'),
      kube.getOrNull(BC, 'BackupConfiguration', NS, 'deployment-web'),
    ]);
    return !r && !b;
  });
  await until(
    'the pod template loses the sidecar',
    async () => !containersOf(await kube.get<WithTemplate>('apps/v1', 'Deployment', NS, 'web')).includes('stash'),
  );
  const pods = await until(
    'the Deployment rolls to pods without the stash container',
    async () => {
      const live = (await kube.list<Pod>('v1', 'Pod', NS, { labelSelector: 'app=web' })).items;
      return live.length === 1 &&
        live[0]!.status?.phase === 'Running' &&
        !live[0]!.metadata?.deletionTimestamp &&
        live[0]!.status.containerStatuses?.every((c) => c.ready)
        ? live
        : undefined;
    },
    180_000,
  );
  t.same(
    pods[0]!.spec?.containers?.map((c) => c.name),
    ['app'],
    'the running pod has only the app container',
  );
  t.not(pods[0]!.metadata?.name, pod!.metadata?.name, 'a new pod, rolled out');
});

t.test('DeploymentConfig with its CRD: injected by the webhook, backs up from a pod of its template', async (t) => {
  const DC = 'apps.openshift.io/v1';
  const CRD = 'deploymentconfigs.apps.openshift.io';
  const served = await resourceServed(kube, DC, 'deploymentconfigs');
  // Cluster-scoped and shared by every story on the world: installed by whoever needs it, left if it was there.
  if (!served) {
    t.teardown(() =>
      kube.delete('apiextensions.k8s.io/v1', 'CustomResourceDefinition', undefined, CRD).then(() => undefined),
    );
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
    });
    await until('the DeploymentConfig API is served', () => resourceServed(kube, DC, 'deploymentconfigs'), 30_000);
  }
  const repoDir = repoSubdir('legacy');
  await kube.create({
    apiVersion: REPO,
    kind: 'Repository',
    metadata: { name: 'legacy-repo', namespace: NS },
    spec: {
      backend: { storageSecretName: 'repo-secret', local: { mountPath: '/stash-repo', hostPath: { path: repoDir } } },
    },
  });
  await kube.create({
    apiVersion: BC,
    kind: 'BackupConfiguration',
    metadata: { name: 'legacy-backup', namespace: NS },
    spec: {
      repository: { name: 'legacy-repo' },
      schedule: '0 0 1 1 *',
      target: {
        ref: { apiVersion: DC, kind: 'DeploymentConfig', name: 'legacy' },
        paths: ['/data'],
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
      },
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
    },
  });
  const app = appWorkload(
    'Deployment',
    NS,
    'legacy',
    '[ -f /data/report.txt ] || { echo quarterly > /data/report.txt; }; while true; do sleep 1; done',
  ) as WithTemplate;
  const dc = (dryRun: boolean) =>
    kube.create<WithTemplate>(
      {
        apiVersion: DC,
        kind: 'DeploymentConfig',
        metadata: { name: 'legacy', namespace: NS },
        spec: { replicas: 1, selector: { app: 'legacy' }, template: app.spec!.template },
      } as KubeObject,
      dryRun ? { dryRun: true } : {},
    );
  // The apiserver starts calling the webhook for a newly served API after a moment: a dry run shows when.
  await until('the webhook injects into a new DeploymentConfig', async () =>
    containersOf(await dc(true)).includes('stash'),
  );
  const stored = await dc(false);
  t.same(containersOf(stored), ['app', 'stash'], 'the stored DeploymentConfig carries the sidecar');
  const sidecar = stored.spec!.template!.spec!.containers!.find((c) => c.name === 'stash')!;
  t.ok(sidecar.args?.includes('--target-kind=DeploymentConfig'), 'the agent is told its target kind');
  await invokerReady(st, 'BackupConfiguration', 'legacy-backup');

  // OpenShift's controller would make this pod from the template; here the story does.
  const template = stored.spec!.template!;
  await kube.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'legacy-1-story',
      namespace: NS,
      labels: template.metadata?.labels,
      ownerReferences: [
        { apiVersion: DC, kind: 'DeploymentConfig', name: 'legacy', uid: stored.metadata!.uid!, controller: true },
      ],
    },
    spec: template.spec,
  } as KubeObject);
  const [pod] = await podsWithSidecar(st, 'legacy');
  t.equal(pod!.metadata?.name, 'legacy-1-story', 'the pod of the template runs the app and the sidecar');
  await backupNow(st, 'legacy-1', { kind: 'BackupConfiguration', name: 'legacy-backup' });
  const session = await finalPhase<Session>(st, 'BackupSession', 'legacy-1');
  t.equal(session.status?.phase, 'Succeeded', "the sidecar backed up the DeploymentConfig's pod", {
    status: session.status,
  });
  t.match(st.restic('-r', repoDir, 'ls', 'latest'), /report\.txt/, 'the snapshot holds its volume');

  // Released: deleting the BackupConfiguration takes the sidecar out of the DeploymentConfig's template.
  await kube.delete(BC, 'BackupConfiguration', NS, 'legacy-backup');
  await until(
    'the BackupConfiguration is gone',
    async () => !(await kube.getOrNull(BC, 'BackupConfiguration', NS, 'legacy-backup')),
  );
  t.same(
    containersOf(await kube.get<WithTemplate>(DC, 'DeploymentConfig', NS, 'legacy')),
    ['app'],
    'the DeploymentConfig is released: no sidecar in its template',
  );
  await kube.delete('v1', 'Pod', NS, 'legacy-1-story');
});
