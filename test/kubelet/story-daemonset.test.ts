// Story on real pods: a DaemonSet gets the `stash` sidecar in its pod on every node and one BackupSession backs
// up one host per node, named after the node (as Stash names DaemonSet hosts). This world has ONE node, so the
// DaemonSet has one pod and the session one host: the per-node fan-out over several nodes is not shown here
// (the pod-runner tier cannot show it either; it runs no application containers).
import t from 'tap';
import { NODE_NAME } from '../world/node/layout.ts';
import {
  appWorkload,
  backupNow,
  configureBackup,
  finalPhase,
  openStory,
  podsWithSidecar,
  type Session,
} from './story-kit.ts';

t.setTimeout(600_000);
const st = await openStory(t, 'ds');

t.test("a DaemonSet: its node's pod backs up its volume as the host named after the node", async (t) => {
  await st.kube.create(
    appWorkload(
      'DaemonSet',
      st.ns,
      'agent',
      'mkdir -p /data/node; echo "$(hostname)" > /data/node/who; head -c 12000 /dev/urandom | base64 > /data/node/blob; httpd -f -p 8080 -h /data',
    ),
  );
  await configureBackup(st, 'agent-backup', { kind: 'DaemonSet', name: 'agent' });
  const [pod] = await podsWithSidecar(st, 'agent');
  t.equal((pod!.spec as { nodeName?: string }).nodeName, NODE_NAME, "the DaemonSet's pod runs on the one node");
  const blob = st.kubectl('-n', st.ns, 'exec', pod!.metadata!.name!, '-c', 'app', '--', 'cat', '/data/node/blob');

  await backupNow(st, 'agent-backup-1', { kind: 'BackupConfiguration', name: 'agent-backup' });
  const session = await finalPhase<Session>(st, 'BackupSession', 'agent-backup-1');
  t.equal(session.status?.phase, 'Succeeded', 'the session succeeded', { status: session.status });
  const target = session.status?.targets?.[0];
  t.equal(target?.totalHosts, 1, 'one host: one node in this world');
  t.same(
    (target?.stats ?? []).map((h) => [h.hostname, h.phase]),
    [[NODE_NAME, 'Succeeded']],
    'the host is named after the node',
  );
  t.equal(
    st.restic('dump', '--host', NODE_NAME, 'latest', '/data/node/blob'),
    blob,
    "the node's snapshot holds the pod's file, byte for byte",
  );
});
