// Story on real pods: hooks through the real exec API. A BackupBatch's member has a local `exec` preBackup hook
// that the sidecar runs inside the APPLICATION container (pods/exec via the kubelet) — it writes a dump into the
// volume, which the backup that follows holds; the batch's global preBackup `exec` hook is run by the operator in
// its own pod, and its output is the session's Event.
import t from 'tap';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { OPERATOR_DEPLOYMENT } from '../world/node/install.ts';
import { appWorkload, backupNow, finalPhase, openStory, podsWithSidecar, type Session } from './story-kit.ts';

t.setTimeout(600_000);
type Event = KubeObject & { reason?: string; message?: string; involvedObject?: { name?: string } };
const st = await openStory(t, 'hooks');

t.test(
  'a local exec hook runs in the app container and a global exec hook in the operator pod, before the backup',
  async (t) => {
    // The app marks its own container (a file outside the volume), so the hook's dump proves where it ran.
    await st.kube.create(
      appWorkload(
        'Deployment',
        st.ns,
        'shop',
        'echo "app container $(date +%s%N)" > /tmp/whoami; echo order-1 > /data/orders.txt; httpd -f -p 8080 -h /data',
      ),
    );
    await st.kube.create({
      apiVersion: apiVersionOf('BackupBatch'),
      kind: 'BackupBatch',
      metadata: { name: 'shop-backup', namespace: st.ns },
      spec: {
        repository: { name: 'repo' },
        schedule: '0 0 1 1 *',
        hooks: { preBackup: { exec: { command: ['sh', '-c', 'echo "global-pre-backup from $(hostname)"'] } } },
        members: [
          {
            target: {
              alias: 'shop',
              ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'shop' },
              paths: ['/data'],
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
            hooks: {
              preBackup: {
                containerName: 'app',
                exec: { command: ['sh', '-c', 'cp /tmp/whoami /data/dump.txt && echo dumped'] },
              },
            },
          },
        ],
        retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
      },
    });
    const [pod] = await podsWithSidecar(st, 'shop');
    const whoami = st.kubectl('-n', st.ns, 'exec', pod!.metadata!.name!, '-c', 'app', '--', 'cat', '/tmp/whoami');

    await backupNow(st, 'shop-backup-1', { kind: 'BackupBatch', name: 'shop-backup' });
    const session = await finalPhase<Session>(st, 'BackupSession', 'shop-backup-1');
    t.equal(session.status?.phase, 'Succeeded', 'the session succeeded', { status: session.status });
    t.equal(
      session.status?.conditions?.find((c) => c.type === 'GlobalPreBackupHookSucceeded')?.status,
      'True',
      'global preBackup hook condition True',
    );
    t.equal(
      session.status?.targets?.[0]?.conditions?.find((c) => c.type === 'PreBackupHookExecutionSucceeded')?.status,
      'True',
      'local preBackup hook condition True',
    );

    // The global hook ran in the operator's pod, through pods/exec: its output names that pod.
    const events = (await st.kube.list<Event>('v1', 'Event', st.ns)).items.filter(
      (e) => e.involvedObject?.name === 'shop-backup-1',
    );
    const global = events.find((e) => e.reason === 'GlobalPreBackupHookSucceeded');
    t.match(
      global?.message ?? '',
      new RegExp(`global-pre-backup from ${OPERATOR_DEPLOYMENT}-`),
      'the global hook ran in the operator pod',
      { events: events.map((e) => `${e.reason}: ${e.message}`) },
    );

    // The local hook ran in the app container (its /tmp is the app's) before restic read the volume.
    t.equal(
      st.restic('dump', 'latest', '/data/dump.txt'),
      whoami,
      "the snapshot holds the hook's dump, written from the app container",
    );
  },
);
