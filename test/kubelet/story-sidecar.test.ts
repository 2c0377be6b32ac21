// Story on real pods: a running Deployment gets the `stash` sidecar injected by the operator's webhook (reached
// through its Service) and rolls; the real sidecar, under the workload's own service-account token and the RBAC
// we ship, backs up the application container's volume while the application keeps running and writing.
import t from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { AGENT_IMAGE } from '../world/entrypoints.ts';
import { until } from '../support/e2e-world.ts';
import {
  appWorkload,
  backupNow,
  configureBackup,
  finalPhase,
  openStory,
  podsWithSidecar,
  type Pod,
  type Session,
} from './story-kit.ts';

t.setTimeout(600_000);
const st = await openStory(t, 'sidecar');
const { kube, ns: NS, kubectl } = st;
type Restore = KubeObject & {
  status?: { phase?: string; stats?: Array<{ hostname?: string; phase?: string; error?: string }> };
};
let backedUp: { pod: string; sums: string } | undefined;
const sums = (pod: string) =>
  kubectl('-n', NS, 'exec', pod, '-c', 'app', '--', 'sh', '-c', 'cd /data && sha256sum pages/* uploads/*');

t.test('the sidecar is injected into a running Deployment and backs up its volume while the app writes', async (t) => {
  // The application: writes a small tree into its volume, then keeps appending while serving it over HTTP.
  await kube.create(
    appWorkload(
      'Deployment',
      NS,
      'web',
      '[ -d /data/pages ] || { mkdir -p /data/pages /data/uploads; for i in 1 2 3 4 5; do echo page $i > /data/pages/p$i.html; done; head -c 65536 /dev/urandom > /data/uploads/blob.bin; }; ls -R /data > /tmp/at-start; httpd -p 8080 -h /data; while true; do date >> /data/access.log; sleep 1; done',
    ),
  );
  const appPod = await until(
    'app pod Running',
    async () =>
      (await kube.list<Pod>('v1', 'Pod', NS, { labelSelector: 'app=web' })).items.find(
        (p) => p.status?.phase === 'Running',
      ),
    90_000,
  );
  t.same(
    appPod.spec?.containers?.map((c) => c.name),
    ['app'],
    'no sidecar before a backup is configured',
  );

  await configureBackup(st, 'web-backup', { kind: 'Deployment', name: 'web' });
  // The Deployment rolls: a new pod with the injected sidecar, both containers really running.
  const [pod] = await podsWithSidecar(st, 'web');
  t.not(pod!.metadata?.name, appPod.metadata?.name, 'the Deployment rolled to a new pod');
  t.equal(
    pod!.spec?.containers?.find((c) => c.name === 'stash')?.image,
    AGENT_IMAGE,
    'sidecar runs the locally built agent image',
  );
  const appBefore = pod!.status?.containerStatuses?.find((c) => c.name === 'app');

  await backupNow(st, 'web-backup-1', { kind: 'BackupConfiguration', name: 'web-backup' });
  const session = await finalPhase<Session>(st, 'BackupSession', 'web-backup-1', 180_000);
  const logs = (() => {
    try {
      return kubectl('-n', NS, 'logs', pod!.metadata!.name!, '-c', 'stash', '--tail=30');
    } catch (e) {
      return String(e);
    }
  })();
  t.equal(session.status?.phase, 'Succeeded', 'the session succeeded', { status: session.status, sidecarLogs: logs });
  const host = session.status?.targets?.[0]?.stats?.[0];
  t.ok(
    (host?.snapshots?.[0]?.fileStats?.totalFiles ?? 0) >= 7,
    `the app's files were backed up (${host?.snapshots?.[0]?.fileStats?.totalFiles})`,
  );
  t.ok(
    existsSync(join(st.repoDir, 'snapshots')) && readdirSync(join(st.repoDir, 'snapshots')).length === 1,
    'one snapshot in the repository on disk',
  );
  const after = (await kube.get<Pod>('v1', 'Pod', NS, pod!.metadata!.name!)).status?.containerStatuses?.find(
    (c) => c.name === 'app',
  );
  t.equal(after?.containerID, appBefore?.containerID, 'the application container kept running through the backup');
  t.equal(after?.restartCount, 0);
  t.match(
    kubectl(
      '-n',
      NS,
      'exec',
      pod!.metadata!.name!,
      '-c',
      'app',
      '--',
      'wget',
      '-qO-',
      'http://127.0.0.1:8080/pages/p3.html',
    ),
    /page 3/,
    'and still serves its files',
  );
  backedUp = { pod: pod!.metadata!.name!, sums: sums(pod!.metadata!.name!) };
});

t.test(
  'a RestoreSession: stash-init restores into the new pod before the app container starts, byte for byte',
  async (t) => {
    if (!backedUp) return t.fail('needs the backup of the previous test');
    await kube.create({
      apiVersion: apiVersionOf('RestoreSession'),
      kind: 'RestoreSession',
      metadata: { name: 'web-restore', namespace: NS },
      spec: {
        repository: { name: 'repo' },
        target: {
          ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
          rules: [{ paths: ['/data'] }],
        },
      },
    });
    const restore = await finalPhase<Restore>(st, 'RestoreSession', 'web-restore');
    t.equal(restore.status?.phase, 'Succeeded', 'the restore succeeded', { status: restore.status });
    const pod = await until(
      'the restored pod Running',
      async () => {
        const pods = (await kube.list<Pod>('v1', 'Pod', NS, { labelSelector: 'app=web' })).items.filter(
          (p) => !p.metadata?.deletionTimestamp,
        );
        return pods.find(
          (p) =>
            p.metadata?.name !== backedUp!.pod &&
            p.spec?.initContainers?.some((c) => c.name === 'stash-init') &&
            p.status?.phase === 'Running' &&
            p.status.containerStatuses?.every((c) => c.ready),
        );
      },
      180_000,
    );
    // The app's volume is a fresh emptyDir in the new pod: at its start it already held the restored tree.
    t.match(
      kubectl('-n', NS, 'exec', pod.metadata!.name!, '-c', 'app', '--', 'cat', '/tmp/at-start'),
      /blob\.bin/,
      'the app container started on the restored files',
    );
    t.equal(sums(pod.metadata!.name!), backedUp.sums, 'files byte-identical to the backed-up ones');
  },
);
