// Story on real pods: the `stash` sidecar is killed (SIGKILL from the node, as an OOM kill would) in the middle of
// a backup. The kubelet restarts it (restartCount), and the session reaches a final phase — it never stays Running.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
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
const st = await openStory(t, 'crash');

/** Host pids of a container: the processes whose cgroup path names its containerd id. */
function containerPids(containerId: string): number[] {
  const id = containerId.replace(/^containerd:\/\//, '');
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cgroup`, 'utf8').includes(id)) pids.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return pids;
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

t.test('a sidecar killed mid-backup is restarted and the session ends in a final phase', async (t) => {
  // Enough incompressible data that the backup is still running when the sidecar is killed.
  await st.kube.create(
    appWorkload(
      'Deployment',
      st.ns,
      'big',
      '[ -f /data/b4 ] || for i in 1 2 3 4; do head -c 50000000 /dev/urandom > /data/b$i; done; httpd -f -p 8080 -h /data',
    ),
  );
  await configureBackup(st, 'big-backup', { kind: 'Deployment', name: 'big' });
  const [pod] = await podsWithSidecar(st, 'big');
  const sidecar = pod!.status!.containerStatuses!.find((c) => c.name === 'stash')!;

  await backupNow(st, 'big-backup-1', { kind: 'BackupConfiguration', name: 'big-backup' });
  // Killed while restic reads the volume: polled on the node, where the sidecar's processes are visible.
  const end = Date.now() + 120_000;
  let pids: number[] = [];
  while (Date.now() < end && !(pids = containerPids(sidecar.containerID!)).some((p) => comm(p) === 'restic'))
    await sleep(100);
  t.ok(
    pids.some((p) => comm(p) === 'restic'),
    `restic running in the sidecar (${pids.map((p) => `${p}:${comm(p)}`).join(',')})`,
  );
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  t.equal(
    (await st.kube.get<Session>(apiVersionOf('BackupSession'), 'BackupSession', st.ns, 'big-backup-1')).status?.phase,
    'Running',
    'killed while the session is Running',
  );

  const restarted = await until(
    'the kubelet restarts the sidecar',
    async () => {
      const p = await st.kube.get<Pod>('v1', 'Pod', st.ns, pod!.metadata!.name!);
      const c = p.status?.containerStatuses?.find((x) => x.name === 'stash');
      return (c?.restartCount ?? 0) >= 1 && c?.ready ? c : undefined;
    },
    120_000,
  );
  t.ok((restarted.restartCount ?? 0) >= 1, `sidecar restartCount ${restarted.restartCount}`);
  const final = await finalPhase<Session>(st, 'BackupSession', 'big-backup-1', 300_000);
  t.ok(
    ['Succeeded', 'Failed'].includes(final.status!.phase!),
    `the session ended ${final.status?.phase}, not Running`,
    { status: final.status },
  );
  if (final.status?.phase === 'Succeeded')
    t.ok(
      readdirSync(join(st.repoDir, 'snapshots')).length >= 1,
      'a Succeeded session left its snapshot in the repository',
    );
  if (final.status?.phase === 'Failed')
    t.ok(
      final.status.targets?.[0]?.stats?.some((h) => (h.error ?? '') !== ''),
      'and the failed host says why',
      { status: final.status },
    );
});
