// runtimeSettings.container.nice / .ionice reach the processes that do the work: the running restic of a
// stdin backup and its dump producer, then the running restic of a dump and its restore consumer, read
// from /proc (niceness, field 19) and ioprio_get (`ionice -p`) while they run.
import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resticBinaries } from '../backends/bins.ts';
import { makeLocalBackend } from '../backends/local.ts';
import { makeRestic } from '../backends/restic.ts';
import { childrenNamed, priorityOf, type SeenPriority } from '../support/priority.ts';

const [[version, bin]] = [...resticBinaries()].slice(0, 1) as [[string, string]];

/** Polls until the pid in `pidFile` and a restic child of this process both run, then reads both. */
async function sample(pidFile: string): Promise<{ restic: SeenPriority; client: SeenPriority }> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const client = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
    const [restic] = childrenNamed(process.pid, 'restic');
    if (client > 0 && restic !== undefined) return { restic: priorityOf(restic), client: priorityOf(client) };
    await sleep(50);
  }
  throw new Error('restic and its client were not seen running together');
}

t.test(`nice and ionice of restic and the database clients, restic ${version}`, async (t) => {
  const local = await makeLocalBackend();
  const work = await mkdtemp(join(tmpdir(), 'stash-ts-it-'));
  t.teardown(async () => {
    await local.stop();
    await rm(work, { recursive: true, force: true });
  });
  const backupSide = await makeRestic(bin, local.backend, local.secret, {
    priority: { nice: 7, ioClass: 2, ioClassData: 6 },
  });
  t.teardown(backupSide.cleanup);
  await backupSide.restic.init();
  const producerPid = join(work, 'producer.pid');
  // The producer stays alive (sleeping between two writes) long enough to be read beside restic.
  const seenBackup = sample(producerPid);
  const backup = await backupSide.restic.backupCommand(
    {
      file: 'sh',
      args: ['-c', 'echo $$ > "$0"; head -c 4000000 /dev/urandom; sleep 3; head -c 1000 /dev/urandom', producerPid],
    },
    { host: 'db', filename: 'dump.sql' },
  );
  const b = await seenBackup;
  t.same(b.restic, { nice: 7, io: 'best-effort: prio 6' }, 'the running restic backup');
  t.same(b.client, { nice: 7, io: 'best-effort: prio 6' }, 'the running dump producer');

  const restoreSide = await makeRestic(bin, local.backend, local.secret, { priority: { nice: 12, ioClass: 3 } });
  t.teardown(restoreSide.cleanup);
  const consumerPid = join(work, 'consumer.pid');
  // The consumer reads nothing for 3 s: restic dump blocks on the full pipe meanwhile.
  const seenRestore = sample(consumerPid);
  const dumped = await restoreSide.restic.dumpToCommand(backup.snapshotId!, 'dump.sql', {
    file: 'sh',
    args: ['-c', 'echo $$ > "$0"; sleep 3; cat > /dev/null', consumerPid],
  });
  const r = await seenRestore;
  t.equal(dumped.bytes, 4_001_000, 'the whole dump went through');
  t.same(r.restic, { nice: 12, io: 'idle' }, 'the running restic dump');
  t.same(r.client, { nice: 12, io: 'idle' }, 'the running restore client');
});
