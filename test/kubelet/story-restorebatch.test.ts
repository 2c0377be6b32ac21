// Story on real pods: ONE Sequential RestoreBatch over two Deployments backed up by one BackupBatch. The operator
// injects `stash-init` into both; the database's restore ends before the web's (Sequential: the members in
// order), and each app container starts on its restored files.
import t from 'tap';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { until } from '../support/e2e-world.ts';
import { appWorkload, backupNow, finalPhase, openStory, podsWithSidecar, type Pod, type Session } from './story-kit.ts';

t.setTimeout(600_000);
const st = await openStory(t, 'rbatch');
const APPS = ['db', 'web'] as const;
type InitPod = Pod & {
  status?: {
    initContainerStatuses?: Array<{
      name: string;
      state?: { terminated?: { startedAt?: string; finishedAt?: string; exitCode?: number } };
    }>;
  };
};
type Batch = KubeObject & { status?: { phase?: string; members?: Array<{ ref: { name: string }; phase?: string }> } };

const member = (name: string) => ({
  alias: name,
  ref: { apiVersion: 'apps/v1', kind: 'Deployment', name },
  volumeMounts: [{ name: 'data', mountPath: '/data' }],
});
const sums = (pod: string) =>
  st.kubectl('-n', st.ns, 'exec', pod, '-c', 'app', '--', 'sh', '-c', 'cd /data && sha256sum own/*');

t.test('a Sequential RestoreBatch restores the database, then the web, each before its app starts', async (t) => {
  // Each app writes its files only into an empty volume, so a restored pod's files are the restored ones.
  for (const app of APPS)
    await st.kube.create(
      appWorkload(
        'Deployment',
        st.ns,
        app,
        `[ -d /data/own ] || { mkdir -p /data/own; echo ${app} > /data/own/name; head -c 32768 /dev/urandom > /data/own/blob; }; ls -R /data > /tmp/at-start; httpd -f -p 8080 -h /data`,
      ),
    );
  await st.kube.create({
    apiVersion: apiVersionOf('BackupBatch'),
    kind: 'BackupBatch',
    metadata: { name: 'shop-backup', namespace: st.ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      executionOrder: 'Sequential',
      members: APPS.map((a) => ({ target: { ...member(a), paths: ['/data'] } })),
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
    },
  });
  const backedUp: Record<string, { pod: string; sums: string }> = {};
  for (const app of APPS) {
    const [pod] = await podsWithSidecar(st, app);
    backedUp[app] = { pod: pod!.metadata!.name!, sums: sums(pod!.metadata!.name!) };
  }
  await backupNow(st, 'shop-backup-1', { kind: 'BackupBatch', name: 'shop-backup' });
  const session = await finalPhase<Session>(st, 'BackupSession', 'shop-backup-1');
  t.equal(session.status?.phase, 'Succeeded', 'the batch backup succeeded', { status: session.status });
  await st.kube.patch(apiVersionOf('BackupBatch'), 'BackupBatch', st.ns, 'shop-backup', { spec: { paused: true } });

  await st.kube.create({
    apiVersion: apiVersionOf('RestoreBatch'),
    kind: 'RestoreBatch',
    metadata: { name: 'shop-restore', namespace: st.ns },
    spec: {
      repository: { name: 'repo' },
      executionOrder: 'Sequential',
      members: APPS.map((a) => ({ target: { ...member(a), rules: [{ paths: ['/data'] }] } })),
    },
  });
  const restore = await finalPhase<Batch>(st, 'RestoreBatch', 'shop-restore');
  t.equal(restore.status?.phase, 'Succeeded', 'the RestoreBatch succeeded', { status: restore.status });
  t.same(
    restore.status?.members?.map((m) => [m.ref.name, m.phase]),
    APPS.map((a) => [a, 'Succeeded']),
    'both members restored',
  );

  const init: Record<string, { startedAt: number; finishedAt: number }> = {};
  for (const app of APPS) {
    const pod = await until(
      `the restored ${app} pod Running`,
      async () => {
        const pods = (await st.kube.list<InitPod>('v1', 'Pod', st.ns, { labelSelector: `app=${app}` })).items.filter(
          (p) => !p.metadata?.deletionTimestamp,
        );
        return pods.find(
          (p) =>
            p.spec?.initContainers?.some((c) => c.name === 'stash-init') &&
            p.status?.phase === 'Running' &&
            p.status.containerStatuses?.every((c) => c.ready),
        );
      },
      180_000,
    );
    const term = pod.status?.initContainerStatuses?.find((c) => c.name === 'stash-init')?.state?.terminated;
    t.equal(term?.exitCode, 0, `${app}: stash-init ran to completion`);
    init[app] = { startedAt: Date.parse(term?.startedAt ?? ''), finishedAt: Date.parse(term?.finishedAt ?? '') };
    t.match(
      st.kubectl('-n', st.ns, 'exec', pod.metadata!.name!, '-c', 'app', '--', 'cat', '/tmp/at-start'),
      /blob/,
      `${app}: the app container started on the restored files`,
    );
    t.equal(sums(pod.metadata!.name!), backedUp[app]!.sums, `${app}: files byte-identical to the backed-up ones`);
  }
  // Sequential: the database's restore ends first. (The web's stash-init may already run, waiting for its turn:
  // the order is the members', not the init-containers' starts.) Kubelet timestamps have a resolution of a second.
  t.ok(
    init.db!.finishedAt <= init.web!.finishedAt,
    `Sequential: db's stash-init finished (${new Date(init.db!.finishedAt).toISOString()}) no later than web's (${new Date(init.web!.finishedAt).toISOString()}; web's started ${new Date(init.web!.startedAt).toISOString()})`,
  );
});
