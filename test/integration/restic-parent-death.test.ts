// Processes die together (#14.4): a process running the wrapper is SIGKILLed — no exit handler of
// ours runs — while restic backs up a dump stream from a producer, and while restic dump feeds a
// consumer. Neither restic nor the dump client may survive it (checked from /proc), and no snapshot of
// the interrupted stream appears afterwards.
import t from 'tap';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resticBinaries } from '../backends/bins.ts';
import { makeLocalBackend } from '../backends/local.ts';
import { makeRestic } from '../backends/restic.ts';
import { descendants, isRunning } from '../support/agent-world.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const NODE = join(ROOT, 'node_modules', '.bin', 'node');

function commOf(pid: number): Promise<string> {
  return readFile(`/proc/${pid}/comm`, 'utf8').then(
    (s) => s.trim(),
    () => '',
  );
}

for (const [version, bin] of resticBinaries()) {
  t.test(`restic and the dump clients die with a SIGKILLed parent, restic ${version}`, async (t) => {
    const local = await makeLocalBackend();
    const work = await mkdtemp(join(tmpdir(), 'stash-ts-pdeath-'));
    const { restic, cleanup } = await makeRestic(bin, local.backend, local.secret);
    t.teardown(async () => {
      await cleanup();
      await local.stop();
      await rm(work, { recursive: true, force: true });
    });
    await restic.init();
    const dump = join(work, 'db.dump');
    // Far larger than a pipe buffer, so restic dump blocks on a consumer that does not read.
    await writeFile(dump, randomBytes(4 * 1024 * 1024));
    const base = await restic.backupCommand({ file: 'cat', args: [dump] }, { host: 'db', filename: 'db.dump' });

    const scenario = async (label: string, call: string, clientComm: string) => {
      const script = `
        import { resolveRepository } from ${JSON.stringify(join(ROOT, 'shared/restic/backend.ts'))};
        import { Restic } from ${JSON.stringify(join(ROOT, 'shared/restic/command.ts'))};
        const repo = await resolveRepository(${JSON.stringify(local.backend)}, ${JSON.stringify(local.secret)}, { scratchDir: ${JSON.stringify(join(work, `s-${label}`))} });
        const restic = new Restic({ repo, bin: ${JSON.stringify(bin)}, cache: false, tmpDir: ${JSON.stringify(work)} });
        await ${call};
      `;
      const parent = spawn(NODE, ['--input-type=module', '-e', script], { stdio: ['ignore', 'inherit', 'inherit'] });
      const exited = new Promise((resolve) => parent.once('exit', resolve));
      let kids: Array<{ pid: number; comm: string }> = [];
      for (let i = 0; i < 150; i++) {
        await sleep(100);
        kids = await Promise.all(descendants(parent.pid!).map(async (pid) => ({ pid, comm: await commOf(pid) })));
        if (kids.some((k) => k.comm === 'restic') && kids.some((k) => k.comm === clientComm)) break;
      }
      t.ok(
        kids.some((k) => k.comm === 'restic'),
        `${label}: restic runs (${kids.map((k) => k.comm).join(', ')})`,
      );
      t.ok(
        kids.some((k) => k.comm === clientComm),
        `${label}: the dump client (${clientComm}) runs`,
      );
      await sleep(500);
      parent.kill('SIGKILL');
      await exited;
      let left = kids;
      for (let i = 0; i < 50 && left.length > 0; i++) {
        await sleep(100);
        left = kids.filter((k) => isRunning(k.pid));
      }
      t.same(left, [], `${label}: no child outlives its SIGKILLed parent`);
    };

    // An endless producer: only a kill stops this backup.
    await scenario(
      'stdin backup',
      `restic.backupCommand({ file: 'yes', args: ['insert into t values (1);'] }, { host: 'db', filename: 'db.dump' })`,
      'yes',
    );
    // A consumer that never reads: restic dump blocks on a full pipe until killed.
    await scenario(
      'dump restore',
      `restic.dumpToCommand('latest', 'db.dump', { file: 'sleep', args: ['60'] }, { host: 'db' })`,
      'sleep',
    );

    await sleep(1000);
    const snaps = await restic.snapshots();
    t.same(
      snaps.map((s) => s.id.slice(0, 8)),
      [base.snapshotId!.slice(0, 8)],
      'the killed stdin backup wrote no snapshot',
    );
  });
}
