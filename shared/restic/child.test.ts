// The process layer under the wrapper: stop signal then SIGKILL after the grace, whole-group kills for
// `sh -c` wrappers, spawn failures as outcomes, cancellation by AbortSignal, and no child left running
// when its parent exits — or is SIGKILLed (setpriv --pdeathsig).
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startChild } from './child.ts';

const PATH = process.env.PATH ?? '/usr/bin:/bin';
const dir = await mkdtemp(join(tmpdir(), 'stash-ts-child-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('exit code, signal and a child that cannot start', async (t) => {
  const ok = await startChild({
    file: 'sh',
    args: ['-c', 'exit 7'],
    env: { PATH },
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'ignore',
    stopSignal: 'SIGTERM',
    graceMs: 10_000,
  }).done;
  t.same(ok, { exitCode: 7, signal: undefined, spawnError: undefined });
  const missing = await startChild({
    file: join(dir, 'nope'),
    args: [],
    env: { PATH },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    stopSignal: 'SIGTERM',
    graceMs: 10_000,
  }).done;
  t.match(missing.spawnError?.message, /ENOENT/, 'spawn failure reported, not thrown');
});

t.test('the environment is exactly the one given', async (t) => {
  const c = startChild({
    file: 'sh',
    args: ['-c', 'env -0'],
    env: { PATH, ONLY: 'this' },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'ignore',
    stopSignal: 'SIGTERM',
    graceMs: 10_000,
  });
  let out = '';
  c.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  await c.done;
  const keys = out
    .split('\0')
    .filter(Boolean)
    .map((l) => l.split('=')[0])
    .filter((k) => k !== 'PWD' && k !== 'SHLVL' && k !== '_')
    // tap's process-info plugin wraps spawn in tests and adds its own variables
    .filter((k) => k !== undefined && !k.startsWith('_TAPJS_') && k !== 'NODE_OPTIONS');
  t.same(keys.sort(), ['ONLY', 'PATH']);
});

t.test('a child ignoring the stop signal is killed after the grace, not before', async (t) => {
  const c = startChild({
    file: 'sh',
    args: ['-c', "trap '' TERM; sleep 20"],
    env: { PATH },
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'ignore',
    group: true,
    stopSignal: 'SIGTERM',
    graceMs: 800,
  });
  await sleep(200);
  const t0 = Date.now();
  c.stop();
  const r = await c.done;
  const ms = Date.now() - t0;
  t.equal(r.signal, 'SIGKILL');
  t.ok(ms >= 750 && ms < 5000, `after the grace (${ms} ms)`);
});

t.test("a group kill takes the wrapper's children too, so their pipes close", async (t) => {
  const c = startChild({
    file: 'sh',
    args: ['-c', 'sleep 30 & wait'],
    env: { PATH },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    group: true,
    stopSignal: 'SIGTERM',
    graceMs: 10_000,
  });
  c.stdout?.resume();
  c.stderr?.resume();
  await sleep(200);
  const t0 = Date.now();
  c.stop();
  await c.done;
  t.ok(Date.now() - t0 < 3000, 'done without waiting for the grandchild');
});

// On exit the parent sends the stop signal (execa's cleanup), and the kernel's parent-death signal (SIGKILL, from
// `setpriv --pdeathsig`) follows at once: the child may not get to act on SIGINT, so restic can leave its lock,
// which the holder-aware recovery removes (agent-killed.test.ts). A graceful stop is the agent's SIGTERM path,
// which aborts runs and waits their grace (the next test). What must hold here: nothing outlives the parent.
t.test('children do not outlive a parent that exits', async (t) => {
  const pidFile = join(dir, 'exiting-parent-child-pid');
  const script = `
    import { startChild } from ${JSON.stringify(join(import.meta.dirname, 'child.ts'))};
    startChild({ file: 'sh', args: ['-c', 'echo $$ > "$0"; trap "exit 0" INT; while :; do sleep 0.05; done', ${JSON.stringify(pidFile)}],
      env: { PATH: ${JSON.stringify(PATH)} }, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', stopSignal: 'SIGINT', graceMs: 10_000 });
    const until = Date.now() + 20_000;
    const wait = async () => {
      const { readFile } = await import('node:fs/promises');
      while (!(await readFile(${JSON.stringify(pidFile)}, 'utf8').catch(() => '')) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      process.exit(0);
    };
    void wait();
  `;
  const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
  await new Promise((resolve) => parent.once('exit', resolve));
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  t.ok(pid > 0, `the child started (pid ${pid})`);
  let alive = true;
  for (let i = 0; i < 50 && alive; i++) {
    alive = await readFile(`/proc/${pid}/stat`, 'utf8').then(
      (st) => !/^\d+ \([^)]*\) Z/.test(st),
      () => false,
    );
    if (alive) await sleep(100);
  }
  t.notOk(alive, 'the child is gone once its parent exited');
});

t.test('an aborted signal stops the child with its stop signal', async (t) => {
  const ac = new AbortController();
  const c = startChild({
    file: 'sh',
    args: ['-c', 'trap "exit 42" INT; while :; do sleep 0.05; done'],
    env: { PATH },
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'ignore',
    stopSignal: 'SIGINT',
    graceMs: 10_000,
    signal: ac.signal,
  });
  await sleep(200);
  ac.abort();
  t.same(
    await c.done,
    { exitCode: 42, signal: undefined, spawnError: undefined },
    'SIGINT reached it and it exited by itself',
  );
});

t.test('children die with a parent that is SIGKILLed', async (t) => {
  const pidFile = join(dir, 'child-pid');
  const script = `
    import { writeFileSync } from 'node:fs';
    import { startChild } from ${JSON.stringify(join(import.meta.dirname, 'child.ts'))};
    const c = startChild({ file: 'sleep', args: ['60'], env: { PATH: ${JSON.stringify(PATH)} }, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', stopSignal: 'SIGINT', graceMs: 10_000 });
    writeFileSync(${JSON.stringify(pidFile)}, String(c.pid));
    setInterval(() => {}, 1000);
  `;
  const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
  let pid = 0;
  for (let i = 0; i < 100 && !pid; i++) {
    await sleep(100);
    pid = Number(await readFile(pidFile, 'utf8').catch(() => '0'));
  }
  t.ok(pid > 0, 'the child started');
  await sleep(200);
  t.match(
    await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
    /^sleep\0/,
    "setpriv exec'd the command in place (same pid)",
  );
  parent.kill('SIGKILL');
  await new Promise((resolve) => parent.once('exit', resolve));
  let alive = true;
  for (let i = 0; i < 50 && alive; i++) {
    await sleep(100);
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // gone, or a zombie waiting for its new parent to reap it
    alive = stat !== '' && !/^\d+ \([^)]*\) Z/.test(stat);
  }
  t.notOk(alive, 'no child outlives a SIGKILLed parent');
});

t.test('nice and ionice are set before the command runs, on the same pid', async (t) => {
  const { priorityOf } = await import('../../test/support/priority.ts');
  const c = startChild({
    file: 'sleep',
    args: ['30'],
    env: { PATH },
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'ignore',
    stopSignal: 'SIGTERM',
    graceMs: 1_000,
    priority: { nice: 9, ioClass: 2, ioClassData: 6 },
  });
  t.teardown(() => c.stop());
  // nice and ionice exec in place: wait until the pid runs sleep itself.
  const deadline = Date.now() + 10_000;
  while ((await readFile(`/proc/${c.pid}/comm`, 'utf8')).trim() !== 'sleep' && Date.now() < deadline) await sleep(20);
  t.same(priorityOf(c.pid!), { nice: 9, io: 'best-effort: prio 6' });
  c.stop();
  await c.done;
  const idle = startChild({
    file: 'sh',
    args: ['-c', 'exit 0'],
    env: { PATH: '/nonexistent' },
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'ignore',
    stopSignal: 'SIGTERM',
    graceMs: 1_000,
    priority: { ioClass: 3 },
  });
  t.match((await idle.done).spawnError?.message, /ENOENT/, 'a wrapper or command not on PATH is a spawn error');
});
