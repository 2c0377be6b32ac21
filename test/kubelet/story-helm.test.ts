// Story on real pods: stash-ts installed the way most Stash users install Stash, `helm install` of charts/stash-ts
// (the images the world builds, the chart's default values, into a namespace of its own). The world's
// kubectl-applied product is removed first and put back at the end, so the tier's other stories find the world as
// they expect it; the story runs alone (Makefile KUBELET_ALONE). Then a BackupBatch of a Deployment (sidecar) and
// a PersistentVolumeClaim (Job) backs up and a RestoreBatch restores both byte for byte; `helm upgrade` with
// changed values takes effect on the running pods and keeps the serving certificate; `helm uninstall` leaves
// nothing of the release behind but the CRDs (docs/chart.md).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { binary, REPO_ROOT } from '../world/bins.ts';
import { OPERATOR_IMAGE } from '../world/entrypoints.ts';
import { CGROUP_ROOT } from '../world/node/layout.ts';
import { installProduct, uninstallProduct, waitWebhookServing } from '../world/node/install.ts';
import { until } from '../support/e2e-world.ts';
import {
  appWorkload,
  backupNow,
  finalPhase,
  hostPathClaim,
  invokerReady,
  openStory,
  podsWithSidecar,
  treeSums,
  type Pod,
  type Session,
} from './story-kit.ts';

t.setTimeout(900_000);
const storyStart = Date.now();
const st = await openStory(t, 'helm');
const RELEASE = 'stash-ts';
const NS = 'stash-helm';
const CHART = join(REPO_ROOT, 'charts', 'stash-ts');
const TLS_SECRET = 'stash-ts-operator-tls';
const MOUNT = '/uploads';
const log = (m: string) => t.comment(m);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

const helmHome = join(st.world.dir, 'helm');
function helm(...args: string[]): string {
  try {
    return execFileSync(binary('helm'), args, {
      encoding: 'utf8',
      stdio: 'pipe',
      env: {
        ...process.env,
        KUBECONFIG: st.world.kubeconfig,
        HELM_CACHE_HOME: helmHome,
        HELM_CONFIG_HOME: helmHome,
        HELM_DATA_HOME: helmHome,
      },
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`helm ${args.join(' ')}: ${err.stderr?.trim() || err.message}`, { cause: e });
  }
}
/** A Secret's data as digests: compared without ever printing a key. */
const digests = (data: Record<string, string>) =>
  Object.fromEntries(Object.entries(data).map(([k, v]) => [k, createHash('sha256').update(v).digest('hex')]));
const json = <T>(...args: string[]) => JSON.parse(st.kubectl(...args, '-o', 'json')) as T;

// Whatever happens below, the world gets its kubectl-applied product back before the next story.
let restored = false;
t.teardown(async () => {
  if (restored) return;
  try {
    helm('uninstall', RELEASE, '--namespace', NS, '--wait', '--timeout', '120s');
  } catch {
    // not installed, or already gone
  }
  try {
    st.kubectl('delete', 'namespace', NS, '--ignore-not-found', '--wait', '--timeout=120s');
  } finally {
    await installProduct(st.world, log);
  }
});

type OperatorPod = Pod & {
  metadata: { uid: string; name: string };
  spec: {
    containers: Array<{
      name: string;
      image: string;
      env?: Array<{ name: string; value?: string }>;
      resources?: { limits?: Record<string, string> };
    }>;
  };
  status?: Pod['status'] & { containerStatuses?: Array<{ name: string; ready?: boolean; containerID?: string }> };
};
type TlsSecret = KubeObject & { data: Record<string, string> };
type WebhookConfig = KubeObject & {
  webhooks: Array<{ name: string; clientConfig: { caBundle: string; service: { namespace: string; name: string } } }>;
};

const operatorPods = async () =>
  (
    await st.kube.list<OperatorPod>('v1', 'Pod', NS, { labelSelector: 'app.kubernetes.io/name=stash-ts-operator' })
  ).items.filter((p) => !p.metadata.deletionTimestamp);
const webhookConfigs = async () =>
  await Promise.all(
    (['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'] as const).map((k) =>
      st.kube.get<WebhookConfig>('admissionregistration.k8s.io/v1', k, undefined, 'stash-ts-operator'),
    ),
  );
/** The kernel's memory limit of a container: kubelet's cgroup (cgroupfs driver, v1) under this world's root. */
function cgroupMemoryLimit(podUid: string, containerId: string): number {
  const find = (d: string, depth: number): string | undefined => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = join(d, e.name);
      if (e.name === `pod${podUid}`) return p;
      if (depth > 0) {
        const hit = find(p, depth - 1);
        if (hit) return hit;
      }
    }
    return undefined;
  };
  const pod = find(join('/sys/fs/cgroup/memory', CGROUP_ROOT), 3);
  if (!pod) throw new Error(`no memory cgroup of pod ${podUid} under ${CGROUP_ROOT}`);
  return Number(readFileSync(join(pod, containerId, 'memory.limit_in_bytes'), 'utf8').trim());
}

let certBefore: Record<string, string> = {};
const figures: Record<string, string> = {};

t.test('helm install replaces the kubectl-applied product; the operator is Ready and admits', async (t) => {
  await uninstallProduct(st.world, log);
  const t0 = Date.now();
  helm('install', RELEASE, CHART, '--namespace', NS, '--create-namespace', '--wait', '--timeout', '5m');
  figures.installToReady = secs(Date.now() - t0);
  await waitWebhookServing(st.world);
  figures.installToAdmitting = secs(Date.now() - t0);
  log(`helm install --wait returned in ${figures.installToReady}; the webhooks admit ${figures.installToAdmitting}`);

  const pods = await operatorPods();
  t.equal(pods.length, 2, 'two operator replicas (replicaCount)');
  for (const p of pods) {
    t.equal(p.spec.containers[0]?.image, OPERATOR_IMAGE, `${p.metadata.name} runs the image the world built`);
    t.ok(
      p.status?.containerStatuses?.every((c) => c.ready),
      `${p.metadata.name} is Ready`,
    );
  }
  const secret = await st.kube.get<TlsSecret>('v1', 'Secret', NS, TLS_SECRET);
  certBefore = secret.data;
  t.same(Object.keys(secret.data).sort(), ['ca.crt', 'tls.crt', 'tls.key'], 'the generated Secret');
  for (const cfg of await webhookConfigs())
    for (const w of cfg.webhooks) {
      t.equal(w.clientConfig.service.namespace, NS, `${w.name} calls the Service in the release namespace`);
      t.equal(w.clientConfig.caBundle, secret.data['ca.crt'], `${w.name} trusts the CA of the generated certificate`);
    }
  t.match(helm('status', RELEASE, '--namespace', NS), /STATUS: deployed/, 'helm status: deployed');
});

const APP = 'web';
const sums = (pod: string) =>
  st.kubectl('-n', st.ns, 'exec', pod, '-c', 'app', '--', 'sh', '-c', 'cd /data && sha256sum own/*');
const webMember = {
  alias: APP,
  ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: APP },
  volumeMounts: [{ name: 'data', mountPath: '/data' }],
};
const uploadsMember = {
  alias: 'uploads',
  ref: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'uploads' },
  volumeMounts: [{ name: 'uploads', mountPath: MOUNT }],
};

t.test('a BackupBatch of a Deployment and a PVC backs up; a RestoreBatch restores both byte for byte', async (t) => {
  // The app writes its files only into an empty volume, so a restored pod's files are the restored ones.
  await st.kube.create(
    appWorkload(
      'Deployment',
      st.ns,
      APP,
      `[ -d /data/own ] || { mkdir -p /data/own; echo ${APP} > /data/own/name; head -c 65536 /dev/urandom > /data/own/blob; }; httpd -f -p 8080 -h /data`,
    ),
  );
  const dir = await hostPathClaim(st, 'uploads', {
    'README.md': 'uploads\n',
    '2026/12/cat.jpg': randomBytes(128 * 1024),
    'nested/a/b.txt': 'b\n',
  });
  const uploadsBefore = treeSums(dir);
  await st.kube.create({
    apiVersion: apiVersionOf('BackupBatch'),
    kind: 'BackupBatch',
    metadata: { name: 'site', namespace: st.ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      executionOrder: 'Sequential',
      members: [
        { target: { ...webMember, paths: ['/data'] } },
        { task: { name: 'pvc-backup' }, target: { ...uploadsMember, paths: [MOUNT] } },
      ],
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
    },
  });
  await invokerReady(st, 'BackupBatch', 'site');
  // The sidecar comes from the Helm-installed operator (its webhook or its workload loop).
  const [pod] = await podsWithSidecar(st, APP);
  const webBefore = sums(pod!.metadata!.name!);

  await backupNow(st, 'site-1', { kind: 'BackupBatch', name: 'site' });
  const session = await finalPhase<Session>(st, 'BackupSession', 'site-1');
  t.equal(session.status?.phase, 'Succeeded', 'the batch backup succeeded', { status: session.status });
  t.same(
    session.status?.targets?.map((x) => [x.ref?.kind, x.phase]),
    [
      ['Deployment', 'Succeeded'],
      ['PersistentVolumeClaim', 'Succeeded'],
    ],
    'both members backed up',
  );
  t.equal((JSON.parse(st.restic('snapshots', '--json')) as unknown[]).length, 2, 'two snapshots in the repository');

  // The claim loses its files; the web's new pod starts on an empty volume.
  for (const e of ['README.md', '2026', 'nested']) rmSync(join(dir, e), { recursive: true, force: true });
  await st.kube.create({
    apiVersion: apiVersionOf('RestoreBatch'),
    kind: 'RestoreBatch',
    metadata: { name: 'site-restore', namespace: st.ns },
    spec: {
      repository: { name: 'repo' },
      executionOrder: 'Sequential',
      members: [
        { target: { ...webMember, rules: [{ paths: ['/data'] }] } },
        { task: { name: 'pvc-restore' }, target: { ...uploadsMember, rules: [{ paths: [MOUNT] }] } },
      ],
    },
  });
  const restore = await finalPhase<KubeObject & { status?: { phase?: string; members?: Array<{ phase?: string }> } }>(
    st,
    'RestoreBatch',
    'site-restore',
  );
  t.equal(restore.status?.phase, 'Succeeded', 'the RestoreBatch succeeded', { status: restore.status });
  t.same(
    restore.status?.members?.map((m) => m.phase),
    ['Succeeded', 'Succeeded'],
    'both members restored',
  );
  t.same(treeSums(dir), uploadsBefore, 'the claim holds the backed-up files again, byte for byte');
  const restored = await until(
    `the restored ${APP} pod Running`,
    async () =>
      (await st.kube.list<Pod>('v1', 'Pod', st.ns, { labelSelector: `app=${APP}` })).items.find(
        (p) =>
          !p.metadata?.deletionTimestamp &&
          p.spec?.initContainers?.some((c) => c.name === 'stash-init') &&
          p.status?.phase === 'Running' &&
          p.status.containerStatuses?.every((c) => c.ready),
      ),
    180_000,
  );
  t.not(restored.metadata?.name, pod!.metadata!.name, 'a new pod, restored by stash-init');
  t.equal(sums(restored.metadata!.name!), webBefore, "the web's files are byte-identical to the backed-up ones");
});

t.test('helm upgrade with changed values takes effect on the running pods and keeps the certificate', async (t) => {
  const before = await operatorPods();
  const beforeLogs = st.kubectl('-n', NS, 'logs', before[0]!.metadata.name, '-c', 'operator');
  t.match(beforeLogs, /"level":30,/, 'at logLevel info the operator logs info lines');
  const t0 = Date.now();
  helm(
    'upgrade',
    RELEASE,
    CHART,
    '--namespace',
    NS,
    '--set',
    'replicaCount=1',
    '--set',
    'logLevel=warn',
    '--set',
    'operator.resources.limits.memory=320Mi',
    '--set',
    'monitoring.dashboard.enabled=true',
    '--wait',
    '--timeout',
    '5m',
  );
  const oldUids = new Set(before.map((p) => p.metadata.uid));
  const [pod] = await until(
    'one operator pod, of the new template, Ready, the old ones gone',
    async () => {
      const pods = await operatorPods();
      return pods.length === 1 &&
        !oldUids.has(pods[0]!.metadata.uid) &&
        pods[0]!.status?.containerStatuses?.every((c) => c.ready)
        ? pods
        : undefined;
    },
    180_000,
  );
  figures.upgradeRollout = secs(Date.now() - t0);
  log(`helm upgrade rolled the operator in ${figures.upgradeRollout}`);
  const c = pod!.spec.containers[0]!;
  t.equal(c.env?.find((e) => e.name === 'STASH_LOG_LEVEL')?.value, 'warn', 'logLevel reached the pod');
  t.equal(c.resources?.limits?.memory, '320Mi', 'operator.resources reached the pod');
  const cid = pod!.status!.containerStatuses!.find((s) => s.name === 'operator')!.containerID!.replace(/^\w+:\/\//, '');
  t.equal(cgroupMemoryLimit(pod!.metadata.uid, cid), 320 * 1024 * 1024, "and the kernel's limit of its container");
  const dash = await st.kube.get<KubeObject & { data: Record<string, string> }>(
    'v1',
    'ConfigMap',
    NS,
    'stash-ts-dashboard',
  );
  t.ok(JSON.parse(dash.data['stash-ts.json']!), 'monitoring.dashboard.enabled: the dashboard ConfigMap');

  const secret = await st.kube.get<TlsSecret>('v1', 'Secret', NS, TLS_SECRET);
  t.same(digests(secret.data), digests(certBefore), 'the serving certificate, key and CA are the ones installed');
  for (const cfg of await webhookConfigs())
    for (const w of cfg.webhooks) t.equal(w.clientConfig.caBundle, certBefore['ca.crt'], `${w.name}: same caBundle`);
  await waitWebhookServing(st.world);
  t.pass('the webhooks answer through the upgraded pod');

  await backupNow(st, 'site-2', { kind: 'BackupBatch', name: 'site' });
  const session = await finalPhase<Session>(st, 'BackupSession', 'site-2');
  t.equal(session.status?.phase, 'Succeeded', 'the upgraded operator runs a backup', { status: session.status });
  const lines = st
    .kubectl('-n', NS, 'logs', pod!.metadata.name, '-c', 'operator')
    .split('\n')
    .filter((l) => l.startsWith('{'));
  const below = lines.filter((l) => ((JSON.parse(l) as { level?: number }).level ?? 0) < 40);
  t.same(below, [], `at logLevel warn no line below warn (${lines.length} lines)`);
});

t.test('helm uninstall leaves nothing of the release but the CRDs', async (t) => {
  const made = parseAllDocuments(helm('get', 'manifest', RELEASE, '--namespace', NS))
    .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string; namespace?: string } } | null)
    .filter((o): o is { kind: string; metadata: { name: string; namespace?: string } } => !!o?.kind);
  t.same(
    [...new Set(made.map((o) => o.kind))].sort(),
    [
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'Deployment',
      'MutatingWebhookConfiguration',
      'PodDisruptionBudget',
      'Secret',
      'Service',
      'ServiceAccount',
      'ValidatingWebhookConfiguration',
    ],
    'every kind the chart makes (without the prometheus-operator kinds, which this world does not serve)',
  );
  // The backup objects go while an operator still runs their finalizers.
  for (const [kind, name] of [
    ['RestoreBatch', 'site-restore'],
    ['BackupBatch', 'site'],
  ] as const) {
    await st.kube.delete(apiVersionOf(kind), kind, st.ns, name);
    await until(
      `${kind} ${name} gone`,
      async () => !(await st.kube.getOrNull(apiVersionOf(kind), kind, st.ns, name)),
      60_000,
    );
  }

  const t0 = Date.now();
  helm('uninstall', RELEASE, '--namespace', NS, '--wait', '--timeout', '120s');
  figures.uninstall = secs(Date.now() - t0);
  for (const o of made) {
    // The chart names the namespace of every namespaced object: no namespace means cluster-scoped.
    const ns = o.metadata.namespace;
    const left = st
      .kubectl('get', o.kind, o.metadata.name, '--ignore-not-found', '-o', 'name', ...(ns ? ['-n', ns] : []))
      .trim();
    t.equal(left, '', `${o.kind} ${o.metadata.name} removed`);
  }
  // `--wait` waits for the release's objects; their ReplicaSet and pods go after them (garbage collection).
  await until(
    'the operator ReplicaSets and pods gone',
    () => st.kubectl('-n', NS, 'get', 'replicasets,pods', '-o', 'name').trim() === '',
    120_000,
  );
  t.equal(helm('list', '--all', '--namespace', NS, '-q').trim(), '', 'no release record left (helm list --all)');

  // Everything the cluster can list, anywhere: nothing carries the release's ownership annotation.
  const kinds = (namespaced: boolean) =>
    st
      .kubectl('api-resources', '--verbs=list', `--namespaced=${namespaced}`, '-o', 'name')
      .split('\n')
      .filter((k) => k && !/^events(\.events\.k8s\.io)?$/.test(k) && k !== 'componentstatuses');
  type Any = { kind: string; namespace: string; name: string; release: string };
  // Only the four fields, as lines: the objects themselves run to many MiB.
  const list = (...args: string[]): Any[] =>
    execFileSync(
      st.world.kubectl,
      [
        '--kubeconfig',
        st.world.kubeconfig,
        'get',
        ...args,
        '-o',
        'jsonpath={range .items[*]}{.kind}{"\\t"}{.metadata.namespace}{"\\t"}{.metadata.name}{"\\t"}{.metadata.annotations.meta\\.helm\\.sh/release-name}{"\\n"}{end}',
      ],
      { encoding: 'utf8', stdio: 'pipe', maxBuffer: 256 * 1024 * 1024 },
    )
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [kind = '', namespace = '', name = '', release = ''] = l.split('\t');
        return { kind, namespace, name, release };
      });
  const everything = [...list(kinds(true).join(','), '--all-namespaces'), ...list(kinds(false).join(','))];
  t.ok(everything.length > 50, `${everything.length} objects looked at`);
  const owned = everything.filter((o) => o.release === RELEASE);
  t.same(
    owned.map((o) => `${o.kind} ${o.namespace}/${o.name}`),
    [],
    'no object of the release anywhere',
  );
  // The release namespace keeps only what every namespace has and the leader Lease the operator wrote at run time;
  // `helm install --create-namespace` makes the namespace outside the release, so it stays too (docs/chart.md).
  t.same(
    everything
      .filter((o) => o.namespace === NS)
      .map((o) => `${o.kind}/${o.name}`)
      .sort(),
    ['ConfigMap/kube-root-ca.crt', 'Lease/stash-operator', 'ServiceAccount/default'],
    `what is left in ${NS}`,
  );
  const crds = readdirSync(join(CHART, 'crds'))
    .map((f) => f.replace(/\.yaml$/, ''))
    .sort();
  t.same(
    everything
      .filter((o) => o.kind === 'CustomResourceDefinition' && crds.includes(o.name))
      .map((o) => o.name)
      .sort(),
    crds,
    'every CRD of crds/ stays (and with it every backup object)',
  );
});

t.test('the kubectl-applied product is back for the other stories', async (t) => {
  st.kubectl('delete', 'namespace', NS, '--wait', '--timeout=120s');
  await installProduct(st.world, log);
  restored = true;
  const dep = json<{ status: { readyReplicas?: number } }>('-n', 'stash-system', 'get', 'deployment/stash-ts-operator');
  t.equal(dep.status.readyReplicas, 2, 'the operator of manifests/ runs again in stash-system');
  figures.story = secs(Date.now() - storyStart);
  log(`figures: ${JSON.stringify(figures)}`);
});
