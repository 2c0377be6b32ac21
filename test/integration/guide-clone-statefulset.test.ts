// Upstream Stash's clone-PVC guide, "Clone the Volumes of a StatefulSet" (stashed/docs
// docs/guides/use-cases/clone-pvc), followed as a new user would: a 3-replica StatefulSet's two volumes backed up,
// then cloned by a RestoreSession with `replicas: 3` and `${POD_ORDINAL}` templates into
// restore-{data,config}-restore-demo-<n>, which a new StatefulSet `restore-demo` mounts through its own
// volumeClaimTemplates. (The guide's Deployment part is in guide-volumes.test.ts; the guide has no stand-alone
// PVC part — that story is the volumes/pvc guide, also there.) Changes for this world are said next to them and
// in test/support/guide-world.ts: local backend for the guide's GCS bucket; the files each pod's busybox would
// write put into its claim by the test, as the pod runner (our kubelet stand-in) does not run application
// containers; the `*/3 * * * *` slot started now from the trigger CronJob's own jobTemplate.
import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../../shared/kube/client.ts';
import { pvcDir } from '../world/pod-runner/volumes.ts';
import { e2eWorld, finished, readTree } from '../support/e2e-world.ts';
import {
  BC,
  RS,
  guideRepository,
  namespace,
  nextScheduledBackup,
  noSessionLeftRunning,
  phaseIs,
  podsRunning,
  sessionsOf,
  snapshotCount,
} from '../support/guide-world.ts';
import { until } from '../support/until.ts';

t.setTimeout(420_000);
const w = await e2eWorld(t, 'guide-clone-ss');

const claimSpec = {
  accessModes: ['ReadWriteOnce'],
  storageClassName: 'standard',
  resources: { requests: { storage: '2Gi' } },
};

t.test("use-cases/clone-pvc: a StatefulSet's volumes cloned per ordinal into restore-*-restore-demo-<n>", async (t) => {
  const ns = 'demo-clone-ss';
  await namespace(w, ns);
  // Each pod writes its own name into data.txt and config.cfg; the claims the StatefulSet controller names
  // source-{data,config}-stash-demo-<n> hold that before the pods start.
  const sources: Record<string, string> = {};
  for (let i = 0; i < 3; i++) {
    for (const [vol, file] of [
      ['source-data', 'data.txt'],
      ['source-config', 'config.cfg'],
    ] as const) {
      const dir = pvcDir(w.dir, ns, `${vol}-stash-demo-${i}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, file), `stash-demo-${i}\n`);
      sources[`${vol}-${i}`] = dir;
    }
  }
  const headless = (name: string, app: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { ports: [{ name: 'http', port: 80, targetPort: 0 }], selector: { app }, clusterIP: 'None' },
  });
  await w.kube.create(headless('headless', 'stash-demo'));
  await w.kube.create({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'stash-demo', namespace: ns, labels: { app: 'stash-demo' } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'stash-demo' } },
      serviceName: 'headless',
      template: {
        metadata: { labels: { app: 'stash-demo' } },
        spec: {
          containers: [
            {
              args: [
                'echo $(POD_NAME) > /source/data/data.txt; echo $(POD_NAME) > /source/config/config.cfg && sleep 3000',
              ],
              command: ['/bin/sh', '-c'],
              env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              name: 'busybox',
              image: 'busybox',
              ports: [{ containerPort: 80, name: 'http' }],
              volumeMounts: [
                { name: 'source-data', mountPath: '/source/data' },
                { name: 'source-config', mountPath: '/source/config' },
              ],
              imagePullPolicy: 'IfNotPresent',
            },
          ],
        },
      },
      volumeClaimTemplates: [
        { metadata: { name: 'source-data' }, spec: claimSpec },
        { metadata: { name: 'source-config' }, spec: claimSpec },
      ],
    },
  });
  await podsRunning(w, ns, 'stash-demo', 3);
  await guideRepository(w, ns, 'gcs-repo', 'gcs-secret');
  await w.kube.create({
    apiVersion: BC,
    kind: 'BackupConfiguration',
    metadata: { name: 'ss-backup', namespace: ns },
    spec: {
      repository: { name: 'gcs-repo' },
      schedule: '*/3 * * * *',
      target: {
        ref: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'stash-demo' },
        volumeMounts: [
          { name: 'source-data', mountPath: '/source/data' },
          { name: 'source-config', mountPath: '/source/config' },
        ],
        paths: ['/source/data', '/source/config'],
      },
      retentionPolicy: { name: 'keep-last-5', keepLast: 5, prune: true },
    },
  });
  await phaseIs(w, BC, 'BackupConfiguration', ns, 'ss-backup', 'Ready');
  await podsRunning(w, ns, 'stash-demo', 3, { sidecar: true, ms: 180_000 });
  const session = await nextScheduledBackup(w, ns, 'ss-backup');
  t.equal(session.status?.phase, 'Succeeded', 'kubectl get backupsession: Succeeded', { status: session.status });
  const stats = session.status?.targets?.[0]?.stats ?? [];
  t.same(
    stats.map((s) => s.hostname).sort(),
    ['host-0', 'host-1', 'host-2'],
    'every replica backed up as host-<ordinal>',
  );
  for (const s of stats)
    t.same(
      s.snapshots?.map((x) => x.path).sort(),
      ['/source/config', '/source/data'],
      `${s.hostname}: one snapshot per path`,
    );
  t.equal(await snapshotCount(w, ns, 'gcs-repo', 6), 6, 'SNAPSHOT-COUNT 6 (3 hosts × 2 paths)');

  // kubectl patch backupconfiguration -n demo ss-backup --type="merge" --patch='{"spec": {"paused": true}}'
  await w.kube.patch(BC, 'BackupConfiguration', ns, 'ss-backup', { spec: { paused: true } });
  t.equal(
    (await w.kube.get<KubeObject & { spec?: { paused?: boolean } }>(BC, 'BackupConfiguration', ns, 'ss-backup')).spec
      ?.paused,
    true,
    'PAUSED true',
  );
  await until(
    'sessions of ss-backup to be final',
    async () =>
      (await sessionsOf(w, ns, 'ss-backup')).every((s) =>
        ['Succeeded', 'Failed', 'Skipped'].includes(s.status?.phase ?? ''),
      ),
    90_000,
  );

  await w.kube.create({
    apiVersion: RS,
    kind: 'RestoreSession',
    metadata: { name: 'restore-statefulset', namespace: ns },
    spec: {
      repository: { name: 'gcs-repo' },
      target: {
        rules: [{ paths: ['/source/data', '/source/config'] }],
        replicas: 3,
        volumeMounts: [
          { name: 'restore-data-restore-demo', mountPath: '/source/data' },
          { name: 'restore-config-restore-demo', mountPath: '/source/config' },
        ],
        volumeClaimTemplates: [
          { metadata: { name: 'restore-data-restore-demo-${POD_ORDINAL}' }, spec: claimSpec },
          { metadata: { name: 'restore-config-restore-demo-${POD_ORDINAL}' }, spec: claimSpec },
        ],
      },
    },
  });
  const restore = await finished<KubeObject & { status?: { phase?: string } }>(
    w,
    RS,
    'RestoreSession',
    ns,
    'restore-statefulset',
    240_000,
  );
  t.equal(restore.status?.phase, 'Succeeded', 'kubectl get restoresession: restore-statefulset Succeeded', {
    status: restore.status,
  });
  const claims = (await w.kube.list('v1', 'PersistentVolumeClaim', ns)).items
    .map((c) => c.metadata?.name ?? '')
    .filter((n) => n.startsWith('restore-'))
    .sort();
  t.same(
    claims,
    [0, 1, 2]
      .map((i) => `restore-config-restore-demo-${i}`)
      .concat([0, 1, 2].map((i) => `restore-data-restore-demo-${i}`)),
    "kubectl get pvc: the six claims of the guide's listing",
  );

  await w.kube.create(headless('re-headless', 'restore-demo'));
  await w.kube.create({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'restore-demo', namespace: ns, labels: { app: 'restore-demo' } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'restore-demo' } },
      serviceName: 're-headless',
      template: {
        metadata: { labels: { app: 'restore-demo' } },
        spec: {
          containers: [
            {
              command: ['sleep', '3600'],
              name: 'busybox',
              image: 'busybox',
              ports: [{ containerPort: 80, name: 'http' }],
              volumeMounts: [
                { name: 'restore-data', mountPath: '/restore/data' },
                { name: 'restore-config', mountPath: '/restore/config' },
              ],
              imagePullPolicy: 'IfNotPresent',
            },
          ],
        },
      },
      volumeClaimTemplates: [
        { metadata: { name: 'restore-data' }, spec: claimSpec },
        { metadata: { name: 'restore-config' }, spec: claimSpec },
      ],
    },
  });
  await podsRunning(w, ns, 'restore-demo', 3);
  for (let i = 0; i < 3; i++) {
    t.equal(
      readFileSync(join(pvcDir(w.dir, ns, `restore-data-restore-demo-${i}`), 'data.txt'), 'utf8'),
      `stash-demo-${i}\n`,
      `restore-demo-${i}: cat /restore/data/data.txt → stash-demo-${i}`,
    );
    t.equal(
      readFileSync(join(pvcDir(w.dir, ns, `restore-config-restore-demo-${i}`), 'config.cfg'), 'utf8'),
      `stash-demo-${i}\n`,
      `restore-demo-${i}: cat /restore/config/config.cfg → stash-demo-${i}`,
    );
    t.same(
      readTree(pvcDir(w.dir, ns, `restore-data-restore-demo-${i}`)),
      readTree(sources[`source-data-${i}`] ?? ''),
      `restore-data-restore-demo-${i} is source-data-stash-demo-${i} byte for byte`,
    );
    t.same(
      readTree(pvcDir(w.dir, ns, `restore-config-restore-demo-${i}`)),
      readTree(sources[`source-config-${i}`] ?? ''),
      `restore-config-restore-demo-${i} is source-config-stash-demo-${i} byte for byte`,
    );
  }
  await noSessionLeftRunning(t, w, ns);
});
