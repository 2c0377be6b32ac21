// Upstream Stash's volume guides followed as a new user would: a stand-alone PVC backed up and restored with the
// `pvc-backup` / `pvc-restore` tasks and no paths or volumeMounts (stashed/docs docs/guides/volumes/pvc), and the
// volumes of a Deployment cloned into new PVCs from `volumeClaimTemplates` (docs/guides/use-cases/clone-pvc,
// "Clone the Volumes of a Deployment"). Changes for this world are said next to them and in
// test/support/guide-world.ts (local backend for the guide's GCS bucket; files the application would write put
// in its volume by the test, as the pod runner — our kubelet stand-in — does not run application containers).
import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../../shared/kube/client.ts';
import { pvcDir } from '../world/pod-runner/volumes.ts';
import { e2eWorld, finished, readTree, until, type SessionObj } from '../support/e2e-world.ts';
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
  sessionsOf,
  snapshotCount,
} from '../support/guide-world.ts';

t.setTimeout(420_000);
const w = await e2eWorld(t, 'guide-volumes');

t.test(
  'volumes/pvc: a stand-alone PVC with task pvc-backup, no paths and no volumeMounts, backed up and restored',
  async (t) => {
    const ns = 'demo-pvc';
    await namespace(w, ns);
    // The guide's PV is served by an NFS server; there is none here (and no volume binder): the pod runner backs
    // every claim with a directory of this world. The PV object is created as the guide writes it all the same.
    await w.kube.create({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `nfs-pv-${ns}`, labels: { app: 'nfs-demo' } },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteMany'],
        nfs: { server: 'nfs-service.storage.svc.cluster.local', path: '/' },
      },
    }); // named nfs-pv in the guide; PVs are cluster-wide and this world is shared by the tests of the file
    // demo-pod-1 and demo-pod-2 each write hello.txt into their subPath of the claim; the claim holds both.
    const claim = await claimWithFiles(
      w,
      ns,
      {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'nfs-pvc' },
        spec: {
          accessModes: ['ReadWriteMany'],
          storageClassName: '',
          resources: { requests: { storage: '1Gi' } },
          selector: { matchLabels: { app: 'nfs-demo' } },
        },
      },
      { 'pod-1/data/hello.txt': 'hello from pod 1.\n', 'pod-2/data/hello.txt': 'hello from pod 2.\n' },
    );
    for (const n of [1, 2]) {
      await w.kube.create({
        kind: 'Pod',
        apiVersion: 'v1',
        metadata: { name: `demo-pod-${n}`, namespace: ns },
        spec: {
          containers: [
            {
              name: 'busybox',
              image: 'busybox',
              command: ['/bin/sh', '-c', `echo 'hello from pod ${n}.' > /sample/data/hello.txt && sleep 3000`],
              volumeMounts: [{ name: 'my-volume', mountPath: '/sample/data', subPath: `pod-${n}/data` }],
            },
          ],
          volumes: [{ name: 'my-volume', persistentVolumeClaim: { claimName: 'nfs-pvc' } }],
        },
      });
    }
    const before = readTree(claim);
    await guideRepository(w, ns, 'gcs-repo', 'gcs-secret');
    await w.kube.create({
      apiVersion: BC,
      kind: 'BackupConfiguration',
      metadata: { name: 'nfs-pvc-backup', namespace: ns },
      spec: {
        task: { name: 'pvc-backup' },
        repository: { name: 'gcs-repo' },
        schedule: '*/5 * * * *',
        target: { ref: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'nfs-pvc' } },
        retentionPolicy: { name: 'keep-last-5', keepLast: 5, prune: true },
      },
    });
    await phaseIs(w, BC, 'BackupConfiguration', ns, 'nfs-pvc-backup', 'Ready');
    const cj = await w.kube.get<KubeObject & { spec?: { schedule?: string } }>(
      'batch/v1',
      'CronJob',
      ns,
      'stash-trigger-nfs-pvc-backup',
    );
    t.equal(cj.spec?.schedule, '*/5 * * * *', "the CronJob runs on the guide's schedule");
    const session = await nextScheduledBackup(w, ns, 'nfs-pvc-backup');
    t.equal(session.status?.phase, 'Succeeded', 'the BackupSession Succeeded', { status: session.status });
    const snap = session.status?.targets?.[0]?.stats?.[0]?.snapshots?.[0];
    t.equal(snap?.path, '/stash-data', 'the claim was mounted at /stash-data and that is what was backed up');
    t.equal(snap?.fileStats?.totalFiles, 2, "both pods' files");
    t.equal(await snapshotCount(w, ns, 'gcs-repo', 1), 1, 'SNAPSHOT-COUNT 1');

    // kubectl patch backupconfiguration -n demo nfs-pvc-backup --type=merge --patch='{"spec": {"paused": true}}'
    await w.kube.patch(BC, 'BackupConfiguration', ns, 'nfs-pvc-backup', { spec: { paused: true } });
    // Simulate disaster: `rm /sample/data/*` in both pods.
    for (const n of [1, 2]) rmSync(join(claim, `pod-${n}`, 'data', 'hello.txt'));
    await w.kube.create({
      apiVersion: RS,
      kind: 'RestoreSession',
      metadata: { name: 'nfs-pvc-restore', namespace: ns },
      spec: {
        task: { name: 'pvc-restore' },
        repository: { name: 'gcs-repo' },
        target: {
          ref: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'nfs-pvc' },
          rules: [{ snapshots: ['latest'] }],
        },
      },
    });
    const restore = await finished<KubeObject & { status?: { phase?: string } }>(
      w,
      RS,
      'RestoreSession',
      ns,
      'nfs-pvc-restore',
      150_000,
    );
    t.equal(restore.status?.phase, 'Succeeded', 'the RestoreSession Succeeded', { status: restore.status });
    t.equal(
      readFileSync(join(claim, 'pod-1', 'data', 'hello.txt'), 'utf8'),
      'hello from pod 1.\n',
      'demo-pod-1: hello from pod 1.',
    );
    t.equal(
      readFileSync(join(claim, 'pod-2', 'data', 'hello.txt'), 'utf8'),
      'hello from pod 2.\n',
      'demo-pod-2: hello from pod 2.',
    );
    t.same(readTree(claim), before, 'the claim is back byte for byte');
    await noSessionLeftRunning(t, w, ns);
  },
);

t.test(
  "use-cases/clone-pvc: a Deployment's volumes backed up on its schedule and cloned into restore-data and restore-config",
  async (t) => {
    const ns = 'demo-clone';
    await namespace(w, ns);
    const pvc = (name: string): KubeObject => ({
      kind: 'PersistentVolumeClaim',
      apiVersion: 'v1',
      metadata: { name },
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: 'standard',
        resources: { requests: { storage: '2Gi' } },
      },
    });
    // The busybox writes data.txt and config.cfg; the claims hold them.
    const data = await claimWithFiles(w, ns, pvc('source-data'), { 'data.txt': 'sample_data\n' });
    const config = await claimWithFiles(w, ns, pvc('source-config'), { 'config.cfg': 'config_data\n' });
    await w.kube.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { labels: { app: 'stash-demo' }, name: 'stash-demo', namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'stash-demo' } },
        template: {
          metadata: { labels: { app: 'stash-demo' }, name: 'busybox' },
          spec: {
            containers: [
              {
                args: [
                  'echo sample_data > /source/data/data.txt; echo config_data > /source/config/config.cfg && sleep 3000',
                ],
                command: ['/bin/sh', '-c'],
                image: 'busybox',
                imagePullPolicy: 'IfNotPresent',
                name: 'busybox',
                volumeMounts: [
                  { mountPath: '/source/data', name: 'source-data' },
                  { mountPath: '/source/config', name: 'source-config' },
                ],
              },
            ],
            restartPolicy: 'Always',
            volumes: [
              { name: 'source-data', persistentVolumeClaim: { claimName: 'source-data' } },
              { name: 'source-config', persistentVolumeClaim: { claimName: 'source-config' } },
            ],
          },
        },
      },
    });
    await podsRunning(w, ns, 'stash-demo', 1);
    await guideRepository(w, ns, 'gcs-repo', 'gcs-secret');
    await w.kube.create({
      apiVersion: BC,
      kind: 'BackupConfiguration',
      metadata: { name: 'deployment-backup', namespace: ns },
      spec: {
        repository: { name: 'gcs-repo' },
        schedule: '* * * * *',
        target: {
          ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'stash-demo' },
          volumeMounts: [
            { name: 'source-data', mountPath: '/source/data' },
            { name: 'source-config', mountPath: '/source/config' },
          ],
          paths: ['/source/data', '/source/config'],
        },
        retentionPolicy: { name: 'keep-last-5', keepLast: 5, prune: true },
      },
    });
    await phaseIs(w, BC, 'BackupConfiguration', ns, 'deployment-backup', 'Ready');
    await podsRunning(w, ns, 'stash-demo', 1, { sidecar: true });
    // This guide's schedule is every minute: the test waits for the real slot, as the guide does.
    const first = await until(
      'the scheduled BackupSession',
      async () =>
        (await sessionsOf(w, ns, 'deployment-backup')).find(
          (s) => s.status?.phase === 'Succeeded' || s.status?.phase === 'Failed',
        ),
      150_000,
    );
    t.equal(first.status?.phase, 'Succeeded', 'the scheduled BackupSession Succeeded', { status: first.status });
    t.same(
      first.status?.targets?.[0]?.stats?.[0]?.snapshots?.map((s) => s.path).sort(),
      ['/source/config', '/source/data'],
      'one snapshot per path',
    );
    await w.kube.patch(BC, 'BackupConfiguration', ns, 'deployment-backup', { spec: { paused: true } });
    // Any session the schedule started before the pause finishes first (the guide waits "for a moment").
    await until(
      'sessions of deployment-backup to be final',
      async () =>
        (await sessionsOf(w, ns, 'deployment-backup')).every((s: SessionObj) =>
          ['Succeeded', 'Failed', 'Skipped'].includes(s.status?.phase ?? ''),
        ),
      90_000,
    );

    await w.kube.create({
      apiVersion: RS,
      kind: 'RestoreSession',
      metadata: { name: 'restore-deployment', namespace: ns },
      spec: {
        repository: { name: 'gcs-repo' },
        target: {
          rules: [{ paths: ['/source/data', '/source/config'] }],
          volumeMounts: [
            { name: 'restore-data', mountPath: '/source/data' },
            { name: 'restore-config', mountPath: '/source/config' },
          ],
          volumeClaimTemplates: [
            {
              metadata: { name: 'restore-data' },
              spec: {
                accessModes: ['ReadWriteOnce'],
                storageClassName: 'standard',
                resources: { requests: { storage: '2Gi' } },
              },
            },
            {
              metadata: { name: 'restore-config' },
              spec: {
                accessModes: ['ReadWriteOnce'],
                storageClassName: 'standard',
                resources: { requests: { storage: '2Gi' } },
              },
            },
          ],
        },
      },
    });
    const restore = await finished<KubeObject & { status?: { phase?: string } }>(
      w,
      RS,
      'RestoreSession',
      ns,
      'restore-deployment',
      150_000,
    );
    t.equal(restore.status?.phase, 'Succeeded', 'the RestoreSession Succeeded', { status: restore.status });
    const claims = (await w.kube.list('v1', 'PersistentVolumeClaim', ns)).items
      .map((c) => c.metadata?.name ?? '')
      .sort();
    t.same(
      claims,
      ['restore-config', 'restore-data', 'source-config', 'source-data'],
      'kubectl get pvc: restore-config and restore-data, named as the templates',
    );

    await w.kube.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { labels: { app: 'restore-demo' }, name: 'restore-demo', namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'restore-demo' } },
        template: {
          metadata: { labels: { app: 'restore-demo' }, name: 'busybox' },
          spec: {
            containers: [
              {
                args: ['sleep', '3600'],
                image: 'busybox',
                imagePullPolicy: 'IfNotPresent',
                name: 'busybox',
                volumeMounts: [
                  { mountPath: '/restore/data', name: 'restore-data' },
                  { mountPath: '/restore/config', name: 'restore-config' },
                ],
              },
            ],
            restartPolicy: 'Always',
            volumes: [
              { name: 'restore-data', persistentVolumeClaim: { claimName: 'restore-data' } },
              { name: 'restore-config', persistentVolumeClaim: { claimName: 'restore-config' } },
            ],
          },
        },
      },
    });
    await podsRunning(w, ns, 'restore-demo', 1);
    t.equal(
      readFileSync(join(pvcDir(w.dir, ns, 'restore-data'), 'data.txt'), 'utf8'),
      'sample_data\n',
      'cat /restore/data/data.txt: sample_data',
    );
    t.equal(
      readFileSync(join(pvcDir(w.dir, ns, 'restore-config'), 'config.cfg'), 'utf8'),
      'config_data\n',
      'cat /restore/config/config.cfg: config_data',
    );
    t.same(readTree(pvcDir(w.dir, ns, 'restore-data')), readTree(data), 'restore-data is source-data byte for byte');
    t.same(
      readTree(pvcDir(w.dir, ns, 'restore-config')),
      readTree(config),
      'restore-config is source-config byte for byte',
    );
    await noSessionLeftRunning(t, w, ns);
  },
);

// Not a guide: issue #15's user who gave the Deployment guide's BackupConfiguration a wrong target and fixes it
// with `kubectl apply` while it is Ready. The sidecar moves from the old workload to the new one.
t.test('a wrong target fixed by kubectl apply while Ready: the sidecar moves to the new workload', async (t) => {
  const ns = 'demo-retarget';
  await namespace(w, ns);
  const app = async (name: string, data: string): Promise<string> => {
    const dir = await claimWithFiles(
      w,
      ns,
      {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: `${name}-data` },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
      { 'data.txt': data },
    );
    await w.kube.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { labels: { app: name }, name, namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            containers: [
              {
                args: ['sleep', '3600'],
                image: 'busybox',
                name: 'busybox',
                volumeMounts: [{ mountPath: '/source/data', name: 'source-data' }],
              },
            ],
            volumes: [{ name: 'source-data', persistentVolumeClaim: { claimName: `${name}-data` } }],
          },
        },
      },
    });
    return dir;
  };
  await app('stash-demo-old', 'not this one\n');
  await app('stash-demo', 'sample_data\n');
  await guideRepository(w, ns, 'gcs-repo', 'gcs-secret');
  const bc = (target: string): KubeObject => ({
    apiVersion: BC,
    kind: 'BackupConfiguration',
    metadata: { name: 'deployment-backup', namespace: ns },
    spec: {
      repository: { name: 'gcs-repo' },
      schedule: '*/5 * * * *',
      target: {
        ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: target },
        volumeMounts: [{ name: 'source-data', mountPath: '/source/data' }],
        paths: ['/source/data'],
      },
      retentionPolicy: { name: 'keep-last-5', keepLast: 5, prune: true },
    },
  });
  await w.kube.create(bc('stash-demo-old'));
  await phaseIs(w, BC, 'BackupConfiguration', ns, 'deployment-backup', 'Ready');
  await podsRunning(w, ns, 'stash-demo-old', 1, { sidecar: true });
  await w.kube.apply(bc('stash-demo'), { force: true });
  await podsRunning(w, ns, 'stash-demo', 1, { sidecar: true });
  await podsRunning(w, ns, 'stash-demo-old', 1, { sidecar: false });
  const events = (
    await w.kube.list<KubeObject & { reason?: string; message?: string }>('v1', 'Event', ns)
  ).items.filter((e) => e.reason === 'SidecarRemoved');
  t.ok(
    events.some((e) => /stash-demo-old/.test(e.message ?? '')),
    'an Event says the sidecar left stash-demo-old',
  );
  const s = await nextScheduledBackup(w, ns, 'deployment-backup');
  t.equal(s.status?.phase, 'Succeeded', 'the next backup Succeeded', { status: s.status });
  t.same(
    s.status?.targets?.map((x) => x.ref?.name),
    ['stash-demo'],
    'and backed up the new target',
  );
  await noSessionLeftRunning(t, w, ns);
});
