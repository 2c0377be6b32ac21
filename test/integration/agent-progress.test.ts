// Progress in status while a host backs up: a 2 GiB backup by the sidecar as a process against the real
// apiserver. Every change of the session is seen through a watch: the host's progress entry changes at least three times, the host's status writes stay under
// one a second, `kubectl get backupsession` shows the percentage in its Progress column, and the entry is gone
// once the host's stats are final. No operator runs here: the test initiates the target, as the operator would.
import t from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { WatchEvent } from '../../shared/kube/client.ts';
import type { BackupSession } from '../../agent/types.ts';
import { useCluster } from '../world/harness.ts';
import { makeLocalBackend } from '../backends/local.ts';
import {
  getSession,
  initiateTargets,
  makeRepository,
  runAgent,
  sidecarArgs,
  startAgent,
} from '../support/agent-world.ts';
import { until } from '../support/until.ts';

const run = promisify(execFile);
const GiB = 1024 ** 3;

t.setTimeout(300_000);

t.test('a 2 GiB backup reports its progress every few seconds, then clears it', async (t) => {
  const { kube, namespace: ns, kubeconfigPath, kubectl } = await useCluster(t);
  const backend = await makeLocalBackend();
  const work = await mkdtemp(join(tmpdir(), 'agent-progress-'));
  t.teardown(async () => {
    await backend.stop();
    await rm(work, { recursive: true, force: true });
  });
  const data = join(work, 'data');
  await mkdir(data);
  // 2 GiB in 8 files of random bytes: restic chunks, encrypts and writes all of it, so the backup lasts long enough
  // for several progress writes even on a quiet machine (sparse files are read as zeros and deduplicated so fast
  // that a 2 GiB backup of mostly sparse data ended in 6.6 s there, with two writes).
  for (let n = 0; n < 8; n++) {
    const file = join(data, `blob-${n}`);
    await run('sh', ['-c', `head -c ${GiB / 4} /dev/urandom > "$0"`, file]);
  }
  await makeRepository(kube, ns, 'repo', backend.backend, backend.secret);
  await kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name: 'big', namespace: ns },
    spec: {
      schedule: '*/5 * * * *',
      repository: { name: 'repo' },
      retentionPolicy: { name: 'keep', keepLast: 3, prune: true },
      target: { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'big' }, paths: [data] },
    },
  });
  const agent = startAgent(
    sidecarArgs({
      invokerKind: 'BackupConfiguration',
      invokerName: 'big',
      targetKind: 'Deployment',
      targetName: 'big',
      namespace: ns,
      scratch: join(work, 'tmp'),
    }),
    { podName: 'big-5d8f7-abcde', namespace: ns, kubeconfig: kubeconfigPath },
  );
  t.teardown(() => agent.stop());
  const created = await runAgent(['create-backupsession', '--invoker-name=big', '--invoker-kind=BackupConfiguration'], {
    podName: 'trigger',
    namespace: ns,
    kubeconfig: kubeconfigPath,
  });
  t.equal(created.code, 0, created.output);
  const name =
    (await kube.list<BackupSession>(apiVersionOf('BackupSession'), 'BackupSession', ns)).items[0]?.metadata?.name ?? '';

  // Every write of the session, as the apiserver streams it.
  const stop = new AbortController();
  const seen: Array<{ at: number; s: BackupSession }> = [];
  const watching = (async () => {
    const events = kube.watch<BackupSession>(
      `/apis/stash.appscode.com/v1beta1/namespaces/${ns}/backupsessions`,
      {
        fieldSelector: `metadata.name=${name}`,
      },
      stop.signal,
    );
    for await (const e of events as AsyncGenerator<WatchEvent<BackupSession>>)
      if (e.type === 'MODIFIED') seen.push({ at: Date.now(), s: e.object });
  })().catch(() => undefined);
  t.teardown(() => stop.abort());

  await initiateTargets(kube, ns, name, [
    { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'big' }, totalHosts: 1 },
  ]);
  const progressOf = (s: BackupSession) => s.status?.targets?.[0]?.progress?.[0];
  // The column, while the backup runs.
  const column = await until(
    'a progress entry to show in kubectl get backupsession',
    async () => {
      if (!progressOf(await getSession(kube, ns, name))) return undefined;
      const out = execFileSync(kubectl, ['--kubeconfig', kubeconfigPath, 'get', 'backupsession', '-n', ns, name], {
        encoding: 'utf8',
      });
      return /PROGRESS/.test(out) ? out : undefined;
    },
    120_000,
  );
  const [header, row] = column.trim().split('\n');
  const col = header!.split(/\s{2,}/).indexOf('PROGRESS');
  t.match(row!.split(/\s{2,}/)[col], /^\d{1,3}$/, `the Progress column shows the percentage:\n${column}`);

  const done = await until(
    'the host to report',
    async () => {
      const s = await getSession(kube, ns, name);
      return s.status?.targets?.[0]?.stats?.length ? s : undefined;
    },
    { timeoutMs: 600_000, everyMs: 500 },
  );
  stop.abort();
  await watching;
  const st = done.status?.targets?.[0]?.stats?.[0];
  t.equal(st?.phase, 'Succeeded', st?.error ?? '');
  t.equal(progressOf(done), undefined, 'the progress entry is gone with the final stats');

  const withProgress = seen.filter((e) => progressOf(e.s));
  const distinct = new Set(withProgress.map((e) => JSON.stringify(progressOf(e.s))));
  const first = withProgress[0];
  const last = withProgress.at(-1);
  t.ok(distinct.size >= 4, `progress changed at least three times (${distinct.size} distinct entries)`);
  const p = progressOf(last!.s)!;
  t.ok(p.totalBytes! >= 2 * GiB - 1 && p.bytesDone! <= p.totalBytes!, 'bytes done of about 2 GiB total', p);
  t.equal(p.totalFiles, 8, 'files of the scan');
  const percents = withProgress.map((e) => progressOf(e.s)!.percent!);
  t.same(
    [...percents].sort((a, b) => a - b),
    percents,
    'the percentage only grows',
  );
  // Writes by the host while it backed up: every session change from its first progress to its final stats.
  const span = (seen.at(-1)!.at - first!.at) / 1000;
  const writes = seen.filter((e) => e.at >= first!.at).length;
  t.ok(writes / Math.max(span, 1) < 1, `under one status write a second (${writes} writes in ${span.toFixed(1)} s)`);
  t.ok(span >= 6, `the backup lasted long enough to report (${span.toFixed(1)} s)`);
});
