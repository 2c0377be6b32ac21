// A sidecar agent SIGKILLed mid-backup (#14.4): only the agent process dies (not its process group, as
// when the runtime kills the agent alone or it is OOM-killed), and no restic it started may survive it —
// checked from /proc — so no snapshot appears that no session records. The next sidecar then backs up
// the same data and the repository checks clean. The test plays the operator's part in session status.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { apiVersionOf } from '../../shared/api/index.ts';
import { mergeBackupSessionStatus } from '../../shared/status/index.ts';
import type { BackupSession } from '../../agent/types.ts';
import { useCluster } from '../world/harness.ts';
import { makeLocalBackend } from '../backends/local.ts';
import {
  createSession,
  descendants,
  getSession,
  isRunning,
  makeBackupConfiguration,
  makeRepository,
  resticRun,
  runSession,
  sidecarArgs,
  startAgent,
} from '../support/agent-world.ts';
import { until } from '../support/until.ts';

const comm = (pid: number) =>
  readFile(`/proc/${pid}/comm`, 'utf8').then(
    (s) => s.trim(),
    () => '',
  );

t.test('no restic outlives a SIGKILLed agent', async (t) => {
  const { kube, namespace: ns, kubeconfigPath } = await useCluster(t);
  const b = await makeLocalBackend();
  const work = await mkdtemp(join(tmpdir(), 'agent-killed-'));
  t.teardown(async () => {
    await b.stop();
    await rm(work, { recursive: true, force: true });
  });
  const data = join(work, 'data');
  await mkdir(data, { recursive: true });
  // Large enough that the backup is still running when the agent is killed.
  for (let i = 0; i < 6; i++) await writeFile(join(data, `big-${i}.bin`), randomBytes(24 * 1024 * 1024));
  await makeRepository(kube, ns, 'repo', b.backend, b.secret);
  await makeBackupConfiguration(kube, ns, 'app-backup', {
    repo: 'repo',
    targetName: 'app',
    alias: 'app',
    paths: [data],
  });
  const ref = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'app' };
  const args = sidecarArgs({
    invokerKind: 'BackupConfiguration',
    invokerName: 'app-backup',
    targetKind: 'Deployment',
    targetName: 'app',
    namespace: ns,
    scratch: join(work, 'tmp'),
  });
  const pod = { podName: 'app-6b7c-k1l2d', namespace: ns, kubeconfig: kubeconfigPath };

  const victim = startAgent(args, pod);
  t.teardown(() => victim.kill());
  await createSession(kube, ns, 'app-backup-1', 'BackupConfiguration', 'app-backup');
  await kube.update<BackupSession>(
    apiVersionOf('BackupSession'),
    'BackupSession',
    ns,
    'app-backup-1',
    (s) => {
      s.status = mergeBackupSessionStatus(
        s.status,
        { targets: [{ ref, totalHosts: 1, preBackupActions: ['InitializeBackendRepository'] }] },
        { namespace: ns },
      );
      return s;
    },
    { subresource: 'status' },
  );
  const backing = await until(
    'restic backup under the agent',
    async () => {
      for (const pid of descendants(victim.pid)) {
        const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if ((await comm(pid)) === 'restic' && cmdline.split('\0').includes('backup')) return pid;
      }
      return undefined;
    },
    90_000,
    20,
  );
  const children = descendants(victim.pid);
  t.ok(children.includes(backing), `restic backup runs as pid ${backing}`);

  process.kill(victim.pid, 'SIGKILL');
  await victim.exited;
  let left = children;
  for (let i = 0; i < 50 && left.length > 0; i++) {
    await sleep(100);
    left = children.filter(isRunning);
  }
  t.same(left, [], 'every child of the killed agent is gone within 5 s (restic included)');
  const s1 = await getSession(kube, ns, 'app-backup-1');
  t.notOk(s1.status?.targets?.[0]?.stats?.length, 'the killed host reported nothing');
  await sleep(2000);
  const snaps = () => JSON.parse(resticRun(['snapshots', '--json', '--no-lock', '-r', b.dir], b.secret)) as unknown[];
  t.equal(snaps().length, 0, 'no snapshot was written that no session records');

  // A restarted sidecar recovers the dead restic's lock (its pid is gone) and backs up.
  const next = startAgent(args, pod);
  t.teardown(() => next.stop());
  const s2 = await runSession(kube, ns, 'app-backup-2', 'app-backup', ref, { timeoutMs: 180_000 });
  const st = s2.status?.targets?.[0]?.stats?.[0];
  t.equal(st?.phase, 'Succeeded', st?.error ?? '');
  t.ok(snaps().length >= 1, 'the next session wrote its snapshot (a re-run of the killed session may add one)');
  resticRun(['check', '-r', b.dir], b.secret);
  t.pass('restic check is clean');
});
