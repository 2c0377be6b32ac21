// The backup sidecar as a process against the real apiserver: a 3-member BackupBatch, one agent per member
// workload (Deployment leader, StatefulSet pod, DaemonSet pod), each writing its own host stats. No operator
// exists here: the test writes the target initiation into the session status, as the operator would.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import { useCluster } from '../world/harness.ts';
import { makeLocalBackend } from '../backends/local.ts';
import type { BackupBatch, BackupSession, Repository } from '../../agent/types.ts';
import {
  eventsFor,
  getSession,
  initiateTargets,
  makeRepository,
  restic,
  runAgent,
  sampleCmdlines,
  seedTree,
  sidecarArgs,
  startAgent,
  type AgentProcess,
} from '../support/agent-world.ts';
import { until } from '../support/until.ts';

t.test('3-member BackupBatch: per-target, per-host stats from three sidecar processes', async (t) => {
  const { kube, namespace: ns, kubeconfigPath } = await useCluster(t);
  const canary = `canary-${Math.random().toString(36).slice(2)}-pw`;
  const backend = await makeLocalBackend({ password: canary });
  const work = await mkdtemp(join(tmpdir(), 'agent-batch-'));
  t.teardown(async () => {
    await backend.stop();
    await rm(work, { recursive: true, force: true });
  });
  await makeRepository(kube, ns, 'repo', backend.backend, backend.secret);

  const members = [
    { kind: 'Deployment', name: 'wordpress', alias: 'wp', pod: 'wordpress-5d8f7-abcde', host: 'wp' },
    { kind: 'StatefulSet', name: 'mysql', alias: 'db', pod: 'mysql-0', host: 'db-0' },
    { kind: 'DaemonSet', name: 'logs', alias: '', pod: 'logs-x7k2p', host: 'node-a' },
  ];
  for (const m of members) await seedTree(join(work, 'data', m.name), { seed: m.name });
  // Local hooks: an exec preBackup hook on the first member (runs in the agent's own container) and an
  // httpPost postBackup hook with a templated body on the last.
  const posts: string[] = [];
  const hookServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      posts.push(body);
      res.end('ok');
    });
  });
  hookServer.listen(0, '127.0.0.1');
  await once(hookServer, 'listening');
  t.teardown(() => hookServer.close());
  const hookPort = (hookServer.address() as AddressInfo).port;
  const marker = join(work, 'pre-hook-ran');
  const batch: BackupBatch = {
    apiVersion: apiVersionOf('BackupBatch'),
    kind: 'BackupBatch',
    metadata: { name: 'app', namespace: ns },
    spec: {
      schedule: '*/5 * * * *',
      repository: { name: 'repo' },
      executionOrder: 'Parallel',
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
      members: members.map((m, i) => ({
        ...(i === 0
          ? {
              hooks: {
                preBackup: {
                  exec: { command: ['/bin/sh', '-c', `echo "{{ .Target.Name }} {{ .Invoker.Kind }}" > ${marker}`] },
                },
              },
            }
          : {}),
        ...(i === 2
          ? {
              hooks: {
                postBackup: {
                  executionPolicy: 'OnSuccess' as const,
                  httpPost: {
                    port: hookPort,
                    path: '/done',
                    body: '{"target":"{{ .Target.Name }}","phase":"{{ .Status.Phase }}"}',
                  },
                },
              },
            }
          : {}),
        target: {
          ...(m.alias ? { alias: m.alias } : {}),
          ref: { apiVersion: 'apps/v1', kind: m.kind, name: m.name },
          paths: [join(work, 'data', m.name)],
        },
      })),
    },
  };
  await kube.create(batch);

  const agents: AgentProcess[] = members.map((m) =>
    startAgent(
      sidecarArgs({
        invokerKind: 'BackupBatch',
        invokerName: 'app',
        targetKind: m.kind,
        targetName: m.name,
        namespace: ns,
        scratch: join(work, 'tmp', m.pod),
      }),
      { podName: m.pod, nodeName: 'node-a', namespace: ns, kubeconfig: kubeconfigPath },
    ),
  );
  t.teardown(async () => {
    for (const a of agents) await a.stop();
  });

  // The trigger CronJob's command.
  const created = await runAgent(['create-backupsession', '--invoker-name=app', '--invoker-kind=BackupBatch'], {
    podName: 'trigger',
    namespace: ns,
    kubeconfig: kubeconfigPath,
  });
  t.equal(created.code, 0, created.output);
  const list = await kube.list<BackupSession>(apiVersionOf('BackupSession'), 'BackupSession', ns);
  t.equal(list.items.length, 1);
  const session = list.items[0]!;
  const name = session.metadata?.name ?? '';
  t.match(name, /^app-\d{10}$/);
  t.equal(session.metadata?.labels?.['stash.appscode.com/invoker-type'], 'BackupBatch');
  t.equal(session.metadata?.labels?.['stash.appscode.com/target-name'], 'wordpress');
  t.equal(session.metadata?.ownerReferences?.[0]?.kind, 'BackupBatch');
  t.equal(session.metadata?.ownerReferences?.[0]?.controller, true);
  t.equal(session.spec?.retryLeft, 0);

  const sampler = sampleCmdlines(() => agents.map((a) => a.pid));
  // Give the sidecars a moment to see the un-initiated session: they must not start before initiation.
  await new Promise((r) => setTimeout(r, 1500));
  const before = await getSession(kube, ns, name);
  t.notOk(
    before.status?.targets?.some((x) => x.stats?.length),
    'nobody backs up before the operator initiates',
  );

  await initiateTargets(
    kube,
    ns,
    name,
    members.map((m) => ({ ref: { apiVersion: 'apps/v1', kind: m.kind, name: m.name }, totalHosts: 1 })),
  );
  const done = await until(
    'all hosts to report',
    async () => {
      const s = await getSession(kube, ns, name);
      return s.status?.targets?.every((x) => (x.stats?.length ?? 0) >= 1) &&
        s.status.conditions?.some((c) => c.type === 'RepositoryMetricsPushed')
        ? s
        : undefined;
    },
    90_000,
  );
  const argvs = sampler.stop();

  for (const m of members) {
    const target = done.status?.targets?.find((x) => x.ref?.name === m.name);
    const st = target?.stats?.[0];
    t.equal(target?.stats?.length, 1, `${m.name}: one host`);
    t.equal(st?.hostname, m.host, `${m.name}: host per docs/api.md §12`);
    t.equal(st?.phase, 'Succeeded', `${m.name}: ${st?.error ?? ''}`);
    t.equal(target?.phase, 'Succeeded');
    t.match(st?.duration, /^\d+(\.\d+)?(ms|s)$|^\d+m/);
    t.equal(st?.snapshots?.length, 1);
    t.equal(st?.snapshots?.[0]?.path, join(work, 'data', m.name));
    t.match(st?.snapshots?.[0]?.name, /^[0-9a-f]{64}$/);
    t.equal(st?.snapshots?.[0]?.fileStats?.totalFiles, 14, 'regular files (symlinks are not counted by restic)');
    t.equal(st?.snapshots?.[0]?.fileStats?.newFiles, 14);
  }
  const cond = (type: string) => done.status?.conditions?.find((c) => c.type === type);
  t.equal(cond('BackendRepositoryInitialized')?.status, 'True');
  t.equal(cond('BackendRepositoryInitialized')?.reason, 'BackendRepositoryFound');
  t.equal(cond('RetentionPolicyApplied')?.status, 'True', cond('RetentionPolicyApplied')?.message ?? '');
  t.match(cond('RetentionPolicyApplied')?.message, /kept 3, removed 0/);
  t.equal(cond('RepositoryIntegrityVerified')?.status, 'True', cond('RepositoryIntegrityVerified')?.message ?? '');
  t.equal(cond('RepositoryMetricsPushed')?.status, 'True', cond('RepositoryMetricsPushed')?.message ?? '');
  t.equal(done.status?.phase, 'Running', 'final only once the operator pushes metrics');

  t.equal(
    (await readFile(marker, 'utf8')).trim(),
    'wordpress BackupBatch',
    'preBackup exec hook ran with its template rendered',
  );
  t.equal(
    done.status?.targets?.[0]?.conditions?.find((c) => c.type === 'PreBackupHookExecutionSucceeded')?.status,
    'True',
  );
  const post = await until('postBackup hook', async () => {
    const s = await getSession(kube, ns, name);
    return s.status?.targets?.[2]?.conditions?.find((c) => c.type === 'PostBackupHookExecutionSucceeded');
  });
  t.equal(post.status, 'True', post.message ?? '');
  t.same(posts, ['{"target":"logs","phase":"Succeeded"}'], 'postBackup httpPost once, body rendered');

  const repo = await kube.get<Repository>(apiVersionOf('Repository'), 'Repository', ns, 'repo');
  t.equal(repo.status?.snapshotCount, 3);
  t.equal(repo.status?.integrity, true);
  t.match(repo.status?.totalSize, /^\d+(\.\d{3} [KMG]iB| B)$/);
  t.equal(repo.status?.lastBackupTime, done.metadata?.creationTimestamp);

  // restic agrees: one snapshot per host, with the docs/api.md §12 host names.
  const snaps = JSON.parse(
    execFileSync(restic(), ['snapshots', '--json', '--no-lock', '-r', backend.dir], {
      env: { RESTIC_PASSWORD: canary, PATH: '/usr/bin:/bin', HOME: work },
    }).toString(),
  ) as Array<{ hostname: string }>;
  t.same(snaps.map((s) => s.hostname).sort(), ['db-0', 'node-a', 'wp']);

  const events = await until('events', async () => {
    const ev = await eventsFor(kube, ns, name);
    return ev.length >= 3 ? ev : undefined;
  });
  t.same(events.map((e) => e.reason).sort(), ['HostBackupSucceeded', 'HostBackupSucceeded', 'HostBackupSucceeded']);

  // The canary password: never in logs, argv, status or events.
  t.ok(
    argvs.some((a) => a.includes(' backup ')),
    'sampled restic while it ran',
  );
  t.notOk(
    argvs.some((a) => a.includes(canary)),
    'not in any child argv',
  );
  for (const a of agents) t.notOk(a.output().includes(canary), 'not in agent output');
  t.notOk(JSON.stringify(done).includes(canary), 'not in session status');
  t.notOk(JSON.stringify(repo).includes(canary), 'not in repository status');
  t.notOk(JSON.stringify(events).includes(canary), 'not in events');

  // Leases: one per workload, held by its pod.
  const leases = await kube.list<{ metadata?: { name?: string } }>('coordination.k8s.io/v1', 'Lease', ns);
  t.ok(leases.items.some((l) => l.metadata?.name === 'lock-deployment-wordpress-backup'));
});
