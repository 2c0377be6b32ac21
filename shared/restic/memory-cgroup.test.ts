// Telling an OOM kill of restic (docs/restic.md §2.5): the cgroup v1 and v2 files (test/fixtures/cgroup/, v1
// recorded around a real OOM kill), where they are found, the decision, and the wiring through Restic.exec with a
// stand-in restic that dies of SIGKILL with the counter raised, and with it unchanged.
import t from 'tap';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveRepository } from './backend.ts';
import { Restic } from './command.ts';
import { OutOfMemoryError, ResticFailedError } from './errors.ts';
import {
  locateMemoryCgroup,
  memoryCounters,
  oomKilledText,
  ownMemoryCounters,
  parseMemoryLimit,
  parseOomKillCount,
  quantity,
  wasOomKilled,
} from './memory-cgroup.ts';

const FIX = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'cgroup');
const FAKE = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'restic', 'fake-restic.sh');
const fx = (p: string) => readFile(join(FIX, p), 'utf8');

t.test('cgroup v1: memory.oom_control and memory.limit_in_bytes', async (t) => {
  t.equal(parseOomKillCount(await fx('v1/memory.oom_control.before')), 0);
  t.equal(parseOomKillCount(await fx('v1/memory.oom_control.after')), 1, 'one kill recorded');
  t.equal(parseOomKillCount(await fx('v1/memory.oom_control.before-4.13')), undefined, 'no counter before 4.13');
  t.equal(parseMemoryLimit(await fx('v1/memory.limit_in_bytes')), 32 * 2 ** 20);
  t.equal(parseMemoryLimit(await fx('v1/memory.limit_in_bytes.unlimited')), undefined, 'the root cgroup: no limit');
});

t.test('cgroup v2: memory.events and memory.max', async (t) => {
  t.equal(parseOomKillCount(await fx('v2/memory.events.before')), 0);
  // "oom 1" and "oom_group_kill 0" are other counters: only the oom_kill line counts
  t.equal(parseOomKillCount(await fx('v2/memory.events.after')), 1);
  t.equal(parseOomKillCount('oom 7\noom_group_kill 2\n'), undefined, 'no oom_kill line, no count');
  t.equal(parseMemoryLimit(await fx('v2/memory.max')), 192 * 2 ** 20);
  t.equal(parseMemoryLimit(await fx('v2/memory.max.unlimited')), undefined, '"max": no limit');
  t.equal(parseMemoryLimit(''), undefined);
});

t.test('the limit as a quantity', async (t) => {
  t.equal(quantity(32 * 2 ** 20), '32Mi');
  t.equal(quantity(2 ** 30), '1Gi');
  t.equal(quantity(1500 * 1024), '1500Ki');
  t.equal(quantity(100_000_000), '100000000', 'a decimal limit (100M) is given in bytes, never rounded');
  t.equal(oomKilledText('restic backup', 192 * 2 ** 20), 'restic backup was OOM-killed (container memory limit 192Mi)');
  t.match(oomKilledText('restic backup', undefined), /OOM-killed \(no container memory limit/);
});

t.test('the decision: SIGKILL we did not send, and the counter rose', async (t) => {
  const kill = { signal: 'SIGKILL', stoppedByUs: false };
  t.equal(wasOomKilled(0, 1, kill), true, 'counter rose');
  t.equal(wasOomKilled(3, 3, kill), false, 'counter unchanged: somebody else SIGKILLed it');
  t.equal(wasOomKilled(0, 1, { signal: 'SIGKILL', stoppedByUs: true }), false, 'our own kill after the grace');
  t.equal(
    wasOomKilled(0, 1, { signal: undefined, stoppedByUs: false }),
    false,
    'exited: another process was the victim',
  );
  t.equal(wasOomKilled(0, 1, { signal: 'SIGTERM', stoppedByUs: false }), false);
  t.equal(wasOomKilled(undefined, 1, kill), false, 'no reading before');
  t.equal(wasOomKilled(0, undefined, kill), false, 'no reading after');
});

t.test('finding the files: v1 in a container, v1 on a host, v2 with and without a cgroup namespace', async (t) => {
  const have =
    (...paths: string[]) =>
    (p: string) =>
      paths.includes(p);
  // runc: /proc/self/cgroup names the host path, the mount is the container's own cgroup
  t.same(
    locateMemoryCgroup(
      '12:memory:/kubepods/burstable/pod1/abc\n1:name=systemd:/kubepods/burstable/pod1/abc\n',
      '/sys/fs/cgroup',
      have('/sys/fs/cgroup/memory/memory.oom_control'),
    ),
    {
      version: 1,
      counter: '/sys/fs/cgroup/memory/memory.oom_control',
      limit: '/sys/fs/cgroup/memory/memory.limit_in_bytes',
    },
  );
  t.same(
    locateMemoryCgroup(
      '4:memory:/process_api/x\n',
      '/sys/fs/cgroup',
      have('/sys/fs/cgroup/memory/memory.oom_control', '/sys/fs/cgroup/memory/process_api/x/memory.oom_control'),
    )?.counter,
    '/sys/fs/cgroup/memory/process_api/x/memory.oom_control',
    'a host process: its own cgroup, not the root',
  );
  t.same(locateMemoryCgroup('0::/\n', '/sys/fs/cgroup', have('/sys/fs/cgroup/memory.events')), {
    version: 2,
    counter: '/sys/fs/cgroup/memory.events',
    limit: '/sys/fs/cgroup/memory.max',
  });
  t.equal(
    locateMemoryCgroup(
      '0::/kubepods.slice/c1.scope\n',
      '/sys/fs/cgroup',
      have('/sys/fs/cgroup/kubepods.slice/c1.scope/memory.events'),
    )?.counter,
    '/sys/fs/cgroup/kubepods.slice/c1.scope/memory.events',
  );
  t.equal(locateMemoryCgroup('0::/\n', '/sys/fs/cgroup', have()), undefined, 'no memory controller');
  t.equal(ownMemoryCounters('/nonexistent', '/nonexistent/cgroup'), undefined, 'nothing to read');
});

t.test(
  'Restic.exec: a run killed with the counter raised is OutOfMemoryError naming the limit; unchanged stays SIGKILL',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'stash-ts-oom-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const repo = await resolveRepository(
      { local: { mountPath: join(dir, 'repo') } },
      { RESTIC_PASSWORD: 'fake-password' },
      { scratchDir: join(dir, 's') },
    );
    for (const v of ['v1', 'v2'] as const) {
      const cg = join(dir, v);
      await mkdir(cg, { recursive: true });
      const files =
        v === 'v1'
          ? { version: 1 as const, counter: join(cg, 'memory.oom_control'), limit: join(cg, 'memory.limit_in_bytes') }
          : { version: 2 as const, counter: join(cg, 'memory.events'), limit: join(cg, 'memory.max') };
      const before = v === 'v1' ? 'v1/memory.oom_control.before' : 'v2/memory.events.before';
      const after = v === 'v1' ? 'v1/memory.oom_control.after' : 'v2/memory.events.after';
      await copyFile(join(FIX, v === 'v1' ? 'v1/memory.limit_in_bytes' : 'v2/memory.max'), files.limit);
      const restic = (oomAfter: string | undefined) =>
        new Restic({
          repo,
          bin: FAKE,
          cache: false,
          tmpDir: dir,
          memory: memoryCounters(files),
          extraEnv: {
            FAKE_MODE: 'sigkill',
            FAKE_OOM_COUNTER: files.counter,
            ...(oomAfter ? { FAKE_OOM_AFTER: oomAfter } : {}),
          },
        });

      await copyFile(join(FIX, before), files.counter);
      const oom = await restic(join(FIX, after)).exec(['backup']);
      t.equal(oom.signal, 'SIGKILL', `${v}: died of SIGKILL`);
      t.ok(oom.error instanceof OutOfMemoryError, `${v}: OutOfMemoryError`, { error: oom.error });
      t.equal(
        oom.error?.message,
        `restic backup was OOM-killed (container memory limit ${v === 'v1' ? '32Mi' : '192Mi'}): raise runtimeSettings.container.resources.limits.memory`,
      );

      await copyFile(join(FIX, before), files.counter);
      const killed = await restic(undefined).exec(['backup']);
      t.equal(killed.signal, 'SIGKILL', `${v}: SIGKILL again`);
      t.ok(killed.error instanceof ResticFailedError, `${v}: counter unchanged → a plain failure`);
      t.match(killed.error?.message, /failed \(signal SIGKILL\)/);
      t.notMatch(killed.error?.message, /OOM/);
    }
    // A limit the container does not have: the message says so instead of inventing one.
    const cg = join(dir, 'nolimit');
    await mkdir(cg);
    await copyFile(join(FIX, 'v1/memory.oom_control.before'), join(cg, 'memory.oom_control'));
    await writeFile(join(cg, 'memory.limit_in_bytes'), await fx('v1/memory.limit_in_bytes.unlimited'));
    const r = await new Restic({
      repo,
      bin: FAKE,
      cache: false,
      tmpDir: dir,
      memory: memoryCounters({
        version: 1,
        counter: join(cg, 'memory.oom_control'),
        limit: join(cg, 'memory.limit_in_bytes'),
      }),
      extraEnv: {
        FAKE_MODE: 'sigkill',
        FAKE_OOM_COUNTER: join(cg, 'memory.oom_control'),
        FAKE_OOM_AFTER: join(FIX, 'v1/memory.oom_control.after'),
      },
    }).exec(['backup']);
    t.ok(r.error instanceof OutOfMemoryError);
    t.match(r.error?.message, /no container memory limit: the pod or node ran out of memory/);
  },
);
