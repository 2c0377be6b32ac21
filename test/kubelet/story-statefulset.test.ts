// Story on real pods: a StatefulSet of 3 replicas gets the `stash` sidecar in every pod; one BackupSession backs up
// each pod's own volume as its own host (host-0..host-2, as Stash names StatefulSet hosts), each snapshot holding
// that pod's files only.
import t from 'tap';
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
const REPLICAS = 3;
const st = await openStory(t, 'sts');

t.test('a 3-replica StatefulSet: one host per pod, each backing up its own volume', async (t) => {
  // Every replica writes files named after itself, so each host's snapshot shows whose volume it holds.
  await st.kube.create(
    appWorkload(
      'StatefulSet',
      st.ns,
      'db',
      'mkdir -p /data/own; for i in 1 2 3; do echo "$(hostname) $i" > /data/own/$(hostname)-$i.txt; done; httpd -f -p 8080 -h /data',
      { replicas: REPLICAS, serviceName: 'db', podManagementPolicy: 'Parallel' },
    ),
  );
  await configureBackup(st, 'db-backup', { kind: 'StatefulSet', name: 'db' });
  const pods = await podsWithSidecar(st, 'db', REPLICAS, 240_000);
  t.same(
    pods.map((p) => p.metadata?.name).sort(),
    ['db-0', 'db-1', 'db-2'],
    'three StatefulSet pods, each with the sidecar',
  );

  await backupNow(st, 'db-backup-1', { kind: 'BackupConfiguration', name: 'db-backup' });
  const session = await finalPhase<Session>(st, 'BackupSession', 'db-backup-1');
  t.equal(session.status?.phase, 'Succeeded', 'the session succeeded', { status: session.status });
  const target = session.status?.targets?.[0];
  t.equal(target?.totalHosts, REPLICAS, 'one host per replica');
  t.same(
    (target?.stats ?? []).map((h) => h.hostname).sort(),
    ['host-0', 'host-1', 'host-2'],
    'hosts named host-<ordinal>',
  );
  for (const h of target?.stats ?? []) t.equal(h.phase, 'Succeeded', `${h.hostname} succeeded`, { error: h.error });

  // Each host's snapshot holds that pod's own files: the repository is on this machine's disk, read with restic here.
  for (let i = 0; i < REPLICAS; i++) {
    const listing = st.restic('ls', '--host', `host-${i}`, 'latest');
    t.match(listing, new RegExp(`db-${i}-1\\.txt`), `host-${i}'s snapshot holds db-${i}'s files`);
    t.notMatch(listing, new RegExp(`db-${(i + 1) % REPLICAS}-1\\.txt`), "and not another replica's");
  }
});
