// Upstream Stash's workload guides followed as a new user would (stashed/docs docs/guides/workloads/deployment,
// statefulset, daemonset): the objects each guide applies, with the changes this world needs said next to them
// (see test/support/guide-world.ts for the common ones: local backend for the guide's GCS bucket, files the
// application container would write put in its volume by the test — the pod runner, our kubelet stand-in, runs
// only the agent image — and the next cron slot started now from the trigger CronJob's own jobTemplate).
import t, { type Test } from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../../shared/kube/client.ts';
import { pvcDir } from '../world/pod-runner/volumes.ts';
import { e2eWorld, finished, readTree } from '../support/e2e-world.ts';
import {
  BC,
  RS,
  claimWithFiles,
  guideRepository,
  namespace,
  nextScheduledBackup,
  noSessionLeftRunning,
  phaseIs,
  podsRunning,
  snapshotCount,
} from '../support/guide-world.ts';
import { until } from '../support/until.ts';

t.setTimeout(420_000);
const w = await e2eWorld(t, 'guide-workloads');

type Workload = KubeObject & {
  spec?: {
    template?: {
      spec?: {
        initContainers?: Array<{ name: string; args?: string[] }>;
        containers?: Array<{ name: string; args?: string[] }>;
      };
    };
  };
};

async function cronJob(ns: string, invoker: string): Promise<{ schedule?: string; suspend?: boolean }> {
  return (
    await w.kube.get<KubeObject & { spec: { schedule?: string; suspend?: boolean } }>(
      'batch/v1',
      'CronJob',
      ns,
      `stash-trigger-${invoker}`,
    )
  ).spec;
}

async function pause(t: Test, ns: string, invoker: string): Promise<void> {
  // kubectl patch backupconfiguration … --type=merge --patch='{"spec": {"paused": true}}'
  await w.kube.patch(BC, 'BackupConfiguration', ns, invoker, { spec: { paused: true } });
  const cj = await until('the CronJob suspended', async () => (await cronJob(ns, invoker)).suspend === true, {
    everyMs: 250,
  });
  t.ok(cj, 'paused: the trigger CronJob is suspended');
  t.equal(
    (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BC, 'BackupConfiguration', ns, invoker)).status
      ?.phase,
    'Ready',
    'PAUSED true, PHASE still Ready',
  );
}

t.test('workloads/deployment: backup volumes of a Deployment, restore them into a new Deployment', async (t) => {
  const ns = 'demo-deployment';
  await namespace(w, ns);
  // The Deployment's busybox writes `sample_data` into /source/data/data.txt; here the claim holds it already.
  const source = await claimWithFiles(
    w,
    ns,
    {
      kind: 'PersistentVolumeClaim',
      apiVersion: 'v1',
      metadata: { name: 'stash-sample-data' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    },
    { 'data.txt': 'sample_data\n' },
  );
  await w.kube.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { labels: { app: 'stash-demo' }, name: 'stash-demo', namespace: ns },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'stash-demo' } },
      template: {
        metadata: { labels: { app: 'stash-demo' }, name: 'busybox' },
        spec: {
          containers: [
            {
              args: ['echo sample_data > /source/data/data.txt && sleep 3000'],
              command: ['/bin/sh', '-c'],
              image: 'busybox',
              imagePullPolicy: 'IfNotPresent',
              name: 'busybox',
              volumeMounts: [{ mountPath: '/source/data', name: 'source-data' }],
            },
          ],
          restartPolicy: 'Always',
          volumes: [{ name: 'source-data', persistentVolumeClaim: { claimName: 'stash-sample-data' } }],
        },
      },
    },
  });
  await podsRunning(w, ns, 'stash-demo', 3);
  await guideRepository(w, ns, 'gcs-repo', 'gcs-secret');
  await w.kube.create({
    apiVersion: BC,
    kind: 'BackupConfiguration',
    metadata: { name: 'deployment-backup', namespace: ns },
    spec: {
      repository: { name: 'gcs-repo' },
      schedule: '*/5 * * * *',
      target: {
        ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'stash-demo' },
        volumeMounts: [{ name: 'source-data', mountPath: '/source/data' }],
        paths: ['/source/data'],
      },
      retentionPolicy: { name: 'keep-last-5', keepLast: 5, prune: true },
    },
  });
  await phaseIs(w, BC, 'BackupConfiguration', ns, 'deployment-backup', 'Ready');
  const pods = await podsRunning(w, ns, 'stash-demo', 3, { sidecar: true });
  t.ok(
    pods.every((p) => p.spec?.containers?.find((c) => c.name === 'stash')),
    'each pod is 2/2 with a `stash` container',
  );
  const sidecar = (
    await w.kube.get<Workload>('apps/v1', 'Deployment', ns, 'stash-demo')
  ).spec?.template?.spec?.containers?.find((c) => c.name === 'stash');
  t.equal(sidecar?.args?.[0], 'run-backup', 'the sidecar runs `run-backup`');
  t.match(
    await cronJob(ns, 'deployment-backup'),
    { schedule: '*/5 * * * *', suspend: false },
    "a CronJob on the guide's schedule",
  );

  const session = await nextScheduledBackup(w, ns, 'deployment-backup');
  t.equal(session.status?.phase, 'Succeeded', 'the BackupSession Succeeded', { status: session.status });
  t.match(
    session.spec,
    { invoker: { kind: 'BackupConfiguration', name: 'deployment-backup' } },
    'INVOKER-TYPE BackupConfiguration, INVOKER-NAME deployment-backup',
  );
  t.same(
    session.status?.targets?.[0]?.stats?.map((s) => s.hostname),
    ['host-0'],
    'one of the three replicas backed up, as host-0',
  );
  t.equal(await snapshotCount(w, ns, 'gcs-repo', 1), 1, 'the Repository shows the snapshot');

  await pause(t, ns, 'deployment-backup');
  await claimWithFiles(
    w,
    ns,
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'demo-pvc' },
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: 'standard',
        resources: { requests: { storage: '1Gi' } },
      },
    },
    {},
  );
  await w.kube.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { labels: { app: 'stash-recovered' }, name: 'stash-recovered', namespace: ns },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'stash-recovered' } },
      template: {
        metadata: { labels: { app: 'stash-recovered' }, name: 'busybox' },
        spec: {
          containers: [
            {
              args: ['sleep', '3600'],
              image: 'busybox',
              imagePullPolicy: 'IfNotPresent',
              name: 'busybox',
              volumeMounts: [{ mountPath: '/source/data', name: 'source-data' }],
            },
          ],
          restartPolicy: 'Always',
          volumes: [{ name: 'source-data', persistentVolumeClaim: { claimName: 'demo-pvc' } }],
        },
      },
    },
  });
  await w.kube.create({
    apiVersion: RS,
    kind: 'RestoreSession',
    metadata: { name: 'deployment-restore', namespace: ns },
    spec: {
      repository: { name: 'gcs-repo' },
      target: {
        ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'stash-recovered' },
        volumeMounts: [{ name: 'source-data', mountPath: '/source/data' }],
        rules: [{ paths: ['/source/data/'] }],
      },
    },
  });
  const restore = await finished<KubeObject & { status?: { phase?: string } }>(
    w,
    RS,
    'RestoreSession',
    ns,
    'deployment-restore',
    150_000,
  );
  t.equal(restore.status?.phase, 'Succeeded', 'the RestoreSession Succeeded', { status: restore.status });
  const init = (
    await w.kube.get<Workload>('apps/v1', 'Deployment', ns, 'stash-recovered')
  ).spec?.template?.spec?.initContainers?.find((c) => c.name === 'stash-init');
  t.equal(init?.args?.[0], 'restore', 'the `stash-init` init-container runs `restore`');
  await podsRunning(w, ns, 'stash-recovered', 3);
  t.equal(
    readFileSync(join(pvcDir(w.dir, ns, 'demo-pvc'), 'data.txt'), 'utf8'),
    'sample_data\n',
    'cat /source/data/data.txt: sample_data',
  );
  t.same(
    readTree(pvcDir(w.dir, ns, 'demo-pvc')),
    readTree(source),
    'the restored volume equals the backed-up one byte for byte',
  );
  await noSessionLeftRunning(t, w, ns);
});

t.test(
  'workloads/statefulset: every replica backed up; restored per ordinal, then with rules into 5 replicas',
  async (t) => {
    const ns = 'demo-statefulset';
    await namespace(w, ns);
    // Each pod's busybox writes its own name into /source/data/data.txt; the claims (named by the StatefulSet
    // controller `source-data-stash-demo-<n>`) hold that before the pods start.
    for (let i = 0; i < 3; i++) {
      const dir = pvcDir(w.dir, ns, `source-data-stash-demo-${i}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'data.txt'), `stash-demo-${i}\n`);
    }
    const headless = (name: string, app: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: ns },
      spec: { ports: [{ name: 'http', port: 80, targetPort: 0 }], selector: { app }, clusterIP: 'None' },
    });
    const statefulSet = (
      name: string,
      replicas: number,
      service: string,
      container: Record<string, unknown>,
    ): KubeObject => ({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name, namespace: ns, labels: { app: name } },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        serviceName: service,
        template: {
          metadata: { labels: { app: name } },
          spec: {
            containers: [
              {
                name: 'busybox',
                image: 'busybox',
                ...container,
                volumeMounts: [{ name: 'source-data', mountPath: '/source/data' }],
                imagePullPolicy: 'IfNotPresent',
              },
            ],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'source-data' },
            spec: {
              accessModes: ['ReadWriteOnce'],
              storageClassName: 'standard',
              resources: { requests: { storage: '1Gi' } },
            },
          },
        ],
      },
    });
    await w.kube.create(headless('headless', 'stash-demo'));
    await w.kube.create(
      statefulSet('stash-demo', 3, 'headless', {
        command: ['/bin/sh', '-c', 'echo $(POD_NAME) > /source/data/data.txt && sleep 3000'],
        env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
      }),
    );
    await podsRunning(w, ns, 'stash-demo', 3);
    await guideRepository(w, ns, 'gcs-repo', 'gcs-secret');
    await w.kube.create({
      apiVersion: BC,
      kind: 'BackupConfiguration',
      metadata: { name: 'ss-backup', namespace: ns },
      spec: {
        repository: { name: 'gcs-repo' },
        schedule: '*/5 * * * *',
        target: {
          ref: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'stash-demo' },
          volumeMounts: [{ name: 'source-data', mountPath: '/source/data' }],
          paths: ['/source/data'],
        },
        retentionPolicy: { name: 'keep-last-5', keepLast: 5, prune: true },
      },
    });
    await phaseIs(w, BC, 'BackupConfiguration', ns, 'ss-backup', 'Ready');
    await podsRunning(w, ns, 'stash-demo', 3, { sidecar: true, ms: 180_000 });
    const session = await nextScheduledBackup(w, ns, 'ss-backup');
    t.equal(session.status?.phase, 'Succeeded', 'the BackupSession Succeeded', { status: session.status });
    t.same(
      session.status?.targets?.[0]?.stats?.map((s) => s.hostname).sort(),
      ['host-0', 'host-1', 'host-2'],
      'every replica backed up as host-<ordinal>',
    );
    t.equal(await snapshotCount(w, ns, 'gcs-repo', 3), 3, 'SNAPSHOT-COUNT 3');
    await pause(t, ns, 'ss-backup');

    await w.kube.create(headless('re-headless', 'stash-recovered'));
    await w.kube.create(statefulSet('stash-recovered', 3, 're-headless', { command: ['sleep', '3600'] }));
    await w.kube.create({
      apiVersion: RS,
      kind: 'RestoreSession',
      metadata: { name: 'ss-restore', namespace: ns },
      spec: {
        repository: { name: 'gcs-repo' },
        target: {
          ref: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'stash-recovered' },
          volumeMounts: [{ name: 'source-data', mountPath: '/source/data' }],
          rules: [{ paths: ['/source/data'] }],
        },
      },
    });
    const restore = await finished<KubeObject & { status?: { phase?: string } }>(
      w,
      RS,
      'RestoreSession',
      ns,
      'ss-restore',
      240_000,
    );
    t.equal(restore.status?.phase, 'Succeeded', 'ss-restore Succeeded', { status: restore.status });
    await podsRunning(w, ns, 'stash-recovered', 3);
    for (let i = 0; i < 3; i++) {
      t.equal(
        readFileSync(join(pvcDir(w.dir, ns, `source-data-stash-recovered-${i}`), 'data.txt'), 'utf8'),
        `stash-demo-${i}\n`,
        `stash-recovered-${i}: stash-demo-${i}`,
      );
    }

    // Customize restore: the guide creates a second RestoreSession of the same name; a RestoreSession's spec is
    // immutable, so the first one is deleted before (the guide leaves that step out).
    await w.kube.delete(RS, 'RestoreSession', ns, 'ss-restore');
    t.ok(
      await until(
        'the first ss-restore gone',
        async () => (await w.kube.getOrNull(RS, 'RestoreSession', ns, 'ss-restore')) === null,
        60_000,
        250,
      ),
      'the first ss-restore is gone (its finalizer removed its init-container)',
    );
    await w.kube.create(headless('adv-headless', 'stash-recovered-adv'));
    await w.kube.create(statefulSet('stash-recovered-adv', 5, 'adv-headless', { command: ['sleep', '3600'] }));
    await w.kube.create({
      apiVersion: RS,
      kind: 'RestoreSession',
      metadata: { name: 'ss-restore', namespace: ns },
      spec: {
        driver: 'Restic',
        repository: { name: 'gcs-repo' },
        target: {
          ref: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'stash-recovered-adv' },
          volumeMounts: [{ mountPath: '/source/data', name: 'source-data' }],
          rules: [
            { targetHosts: ['host-3', 'host-4'], sourceHost: 'host-1', paths: ['/source/data'] },
            { targetHosts: [], sourceHost: '', paths: ['/source/data'] },
          ],
        },
      },
    });
    const adv = await finished<KubeObject & { status?: { phase?: string } }>(
      w,
      RS,
      'RestoreSession',
      ns,
      'ss-restore',
      300_000,
    );
    t.equal(adv.status?.phase, 'Succeeded', 'the customized ss-restore Succeeded', { status: adv.status });
    await podsRunning(w, ns, 'stash-recovered-adv', 5);
    const got = [0, 1, 2, 3, 4].map((i) =>
      readFileSync(join(pvcDir(w.dir, ns, `source-data-stash-recovered-adv-${i}`), 'data.txt'), 'utf8').trim(),
    );
    t.same(
      got,
      ['stash-demo-0', 'stash-demo-1', 'stash-demo-2', 'stash-demo-1', 'stash-demo-1'],
      "host-1's data in host-3 and host-4, the rest from their own host",
    );
    await noSessionLeftRunning(t, w, ns);
  },
);

t.test(
  'workloads/daemonset: the DaemonSet gets its pod, is backed up per node and restored into a new DaemonSet',
  async (t) => {
    const ns = 'demo-daemonset';
    await namespace(w, ns);
    // hostPath: the guide's /stash/source/data and /stash/recovered/data are put under this world's directory —
    // the pod runner uses the hostPath on this machine, which test worlds running side by side share.
    const sourceHost = join(w.dir, 'hostpath', 'stash', 'source', 'data');
    const recoveredHost = join(w.dir, 'hostpath', 'stash', 'recovered', 'data');
    mkdirSync(sourceHost, { recursive: true });
    writeFileSync(join(sourceHost, 'data.txt'), 'sample_data\n');
    const daemonSet = (name: string, container: Record<string, unknown>, hostPath: string): KubeObject => ({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { labels: { app: name }, name, namespace: ns },
      spec: {
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name }, name: 'busybox' },
          spec: {
            containers: [
              {
                ...container,
                image: 'busybox',
                imagePullPolicy: 'IfNotPresent',
                name: 'busybox',
                volumeMounts: [{ mountPath: '/source/data', name: 'source-data' }],
              },
            ],
            restartPolicy: 'Always',
            volumes: [{ name: 'source-data', hostPath: { path: hostPath } }],
          },
        },
      },
    });
    await w.kube.create(
      daemonSet(
        'stash-demo',
        { args: ['echo sample_data > /source/data/data.txt && sleep 3000'], command: ['/bin/sh', '-c'] },
        sourceHost,
      ),
    );
    const [pod] = await podsRunning(w, ns, 'stash-demo', 1, { ms: 60_000 });
    const node = (pod?.spec as { nodeName?: string } | undefined)?.nodeName ?? '';
    t.ok(node, `the DaemonSet has its pod on node ${node} (the node is Ready and untainted)`);
    await guideRepository(w, ns, 'gcs-repo', 'gcs-secret');
    await w.kube.create({
      apiVersion: BC,
      kind: 'BackupConfiguration',
      metadata: { name: 'dmn-backup', namespace: ns },
      spec: {
        repository: { name: 'gcs-repo' },
        schedule: '*/5 * * * *',
        target: {
          ref: { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'stash-demo' },
          volumeMounts: [{ name: 'source-data', mountPath: '/source/data' }],
          paths: ['/source/data'],
        },
        retentionPolicy: { name: 'keep-last-5', keepLast: 5, prune: true },
      },
    });
    await phaseIs(w, BC, 'BackupConfiguration', ns, 'dmn-backup', 'Ready');
    await podsRunning(w, ns, 'stash-demo', 1, { sidecar: true });
    const session = await nextScheduledBackup(w, ns, 'dmn-backup');
    t.equal(session.status?.phase, 'Succeeded', 'the BackupSession Succeeded', { status: session.status });
    t.same(
      session.status?.targets?.[0]?.stats?.map((s) => s.hostname),
      [node],
      "the DaemonSet's host is its node",
    );
    t.equal(await snapshotCount(w, ns, 'gcs-repo', 1), 1, 'SNAPSHOT-COUNT 1');
    await pause(t, ns, 'dmn-backup');

    mkdirSync(recoveredHost, { recursive: true });
    await w.kube.create(daemonSet('stash-recovered', { args: ['sleep', '3600'] }, recoveredHost));
    await w.kube.create({
      apiVersion: RS,
      kind: 'RestoreSession',
      metadata: { name: 'dmn-restore', namespace: ns },
      spec: {
        repository: { name: 'gcs-repo' },
        target: {
          ref: { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'stash-recovered' },
          volumeMounts: [{ name: 'source-data', mountPath: '/source/data' }],
          rules: [{ paths: ['/source/data'] }],
        },
      },
    });
    const restore = await finished<KubeObject & { status?: { phase?: string } }>(
      w,
      RS,
      'RestoreSession',
      ns,
      'dmn-restore',
      150_000,
    );
    t.equal(restore.status?.phase, 'Succeeded', 'dmn-restore Succeeded', { status: restore.status });
    await podsRunning(w, ns, 'stash-recovered', 1);
    t.equal(
      readFileSync(join(recoveredHost, 'data.txt'), 'utf8'),
      'sample_data\n',
      'cat /source/data/data.txt: sample_data',
    );
    await noSessionLeftRunning(t, w, ns);
  },
);
