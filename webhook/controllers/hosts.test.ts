import t from 'tap';
import { backupAgentOomKilled, restoreAgentStartedAt, slimBackupPod, slimRestorePod } from './hosts.ts';
import type { Member } from './common.ts';

const inv = { kind: 'RestoreBatch', metadata: { name: 'rb', namespace: 'ns' } };
const flags = (target: string, invoker = 'rb') => [
  'restore',
  '--invoker-kind=RestoreBatch',
  `--invoker-name=${invoker}`,
  `--target-name=${target}`,
  '--target-namespace=ns',
  '--target-kind=Deployment',
];
function pod(name: string, args: string[], status: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return slimRestorePod({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'ns', labels: { app: name.split('-')[0]! }, ...extra },
    spec: { nodeName: 'n1', initContainers: [{ name: 'stash-init', args }], containers: [{ name: 'app' }] },
    status: { phase: 'Pending', initContainerStatuses: [{ name: 'stash-init', ...status }] },
  } as never);
}
const member = (name: string, alias?: string) =>
  ({
    index: 0,
    ref: { apiVersion: 'apps/v1', kind: 'Deployment', name, namespace: 'ns' },
    member: { target: { ...(alias ? { alias } : {}) } },
  }) as unknown as Member;

t.test('slimRestorePod keeps whose stash-init a pod runs and when it first started', async (t) => {
  const p = pod('web-1', flags('web'), {
    state: { running: { startedAt: '2026-01-01T00:01:00Z' } },
    lastState: { terminated: { startedAt: '2026-01-01T00:00:10Z' } },
  }) as { stashInit?: unknown; spec?: unknown };
  t.same(p.stashInit, {
    invoker: 'RestoreBatch/rb',
    target: 'Deployment/ns/web',
    startedAt: '2026-01-01T00:00:10Z',
  });
  t.same(p.spec, { nodeName: 'n1' }, 'nothing else of the spec is kept');
  const waiting = pod('web-2', flags('web'), { state: { waiting: { reason: 'PodInitializing' } } }) as {
    stashInit?: { startedAt?: string };
  };
  t.equal(waiting.stashInit?.startedAt, undefined, 'not started yet');
  const plain = slimRestorePod({ kind: 'Pod', metadata: { name: 'x' }, spec: { containers: [] } }) as {
    stashInit?: unknown;
  };
  t.equal(plain.stashInit, undefined, 'a pod without stash-init has no view');
});

t.test('restoreAgentStartedAt: only this invoker and target, live pods, the earliest start', async (t) => {
  const started = (at: string) => ({ state: { running: { startedAt: at } } });
  const pods = [
    pod('web-a', flags('web'), started('2026-01-01T00:02:00Z')),
    pod('web-b', flags('web'), started('2026-01-01T00:01:00Z')),
    pod('web-c', flags('web'), started('2026-01-01T00:00:01Z'), { deletionTimestamp: '2026-01-01T00:03:00Z' }),
    pod('web-d', flags('web', 'other'), started('2026-01-01T00:00:02Z')),
    pod('db-a', flags('db'), started('2026-01-01T00:00:03Z')),
  ];
  t.equal(
    restoreAgentStartedAt(pods, inv, member('web'), 'host-0'),
    Date.parse('2026-01-01T00:01:00Z'),
    'the earliest live pod of this invoker and target',
  );
  t.equal(restoreAgentStartedAt(pods, inv, member('api'), 'host-0'), undefined, 'no pod of that target started');
});

const sidecarFlags = (target: string, kind = 'Deployment', invoker = 'bc') => [
  'run-backup',
  `--invoker-name=${invoker}`,
  '--invoker-kind=BackupConfiguration',
  `--target-name=${target}`,
  '--target-namespace=ns',
  `--target-kind=${kind}`,
];
function sidecarPod(name: string, args: string[], status: Record<string, unknown>, node = 'n1', limit = '96Mi') {
  return slimBackupPod({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'ns' },
    spec: {
      nodeName: node,
      containers: [{ name: 'app' }, { name: 'stash', args, resources: { limits: { memory: limit } } }],
    },
    status: {
      phase: 'Running',
      containerStatuses: [
        { name: 'app', lastState: { terminated: { reason: 'OOMKilled', finishedAt: '2026-01-01T00:09:00Z' } } },
        { name: 'stash', ...status },
      ],
    },
  } as never);
}
const bc = { kind: 'BackupConfiguration', metadata: { name: 'bc', namespace: 'ns' } };
const oomAt = (at: string) => ({
  state: { running: { startedAt: at } },
  lastState: { terminated: { reason: 'OOMKilled', exitCode: 137, finishedAt: at } },
});

t.test('slimBackupPod keeps whose stash sidecar a pod runs, its last OOM kill and its memory limit', async (t) => {
  const p = sidecarPod('web-1', sidecarFlags('web'), oomAt('2026-01-01T00:05:00Z')) as {
    stashSidecar?: unknown;
    spec?: unknown;
  };
  t.same(p.stashSidecar, {
    invoker: 'BackupConfiguration/bc',
    target: 'Deployment/ns/web',
    oomKilledAt: '2026-01-01T00:05:00Z',
    memoryLimit: '96Mi',
  });
  t.same(p.spec, { nodeName: 'n1' }, 'nothing else of the spec is kept');
  const current = sidecarPod('web-2', sidecarFlags('web'), {
    state: { terminated: { reason: 'OOMKilled', finishedAt: '2026-01-01T00:07:00Z' } },
    lastState: { terminated: { reason: 'OOMKilled', finishedAt: '2026-01-01T00:06:00Z' } },
  }) as { stashSidecar?: { oomKilledAt?: string } };
  t.equal(current.stashSidecar?.oomKilledAt, '2026-01-01T00:07:00Z', 'the latest of state and lastState');
  const crashed = sidecarPod('web-3', sidecarFlags('web'), {
    lastState: { terminated: { reason: 'Error', exitCode: 137, finishedAt: '2026-01-01T00:07:00Z' } },
  }) as { stashSidecar?: { oomKilledAt?: string } };
  t.equal(crashed.stashSidecar?.oomKilledAt, undefined, 'another end (killed, crashed) is no OOM kill');
  t.equal(
    (sidecarPod('web-4', sidecarFlags('web'), {}) as { stashSidecar?: { oomKilledAt?: string } }).stashSidecar
      ?.oomKilledAt,
    undefined,
    'an OOM kill of the app container is not the agent’s',
  );
});

t.test('backupAgentOomKilled: this invoker and target, the host’s own pod, the latest kill', async (t) => {
  const pods = [
    sidecarPod('web-a', sidecarFlags('web'), oomAt('2026-01-01T00:02:00Z')),
    sidecarPod('web-b', sidecarFlags('web'), oomAt('2026-01-01T00:03:00Z')),
    sidecarPod('web-c', sidecarFlags('web', 'Deployment', 'other'), oomAt('2026-01-01T00:04:00Z')),
    sidecarPod('db-0', sidecarFlags('db', 'StatefulSet'), oomAt('2026-01-01T00:01:00Z'), 'n1', '64Mi'),
    sidecarPod('db-1', sidecarFlags('db', 'StatefulSet'), {}),
  ];
  t.same(backupAgentOomKilled(pods, bc, member('web'), 'host-0'), {
    at: Date.parse('2026-01-01T00:03:00Z'),
    pod: 'web-b',
    container: 'stash',
    limit: '96Mi',
  });
  const sts = (name: string) =>
    ({
      index: 0,
      ref: { apiVersion: 'apps/v1', kind: 'StatefulSet', name, namespace: 'ns' },
      member: { target: {} },
    }) as unknown as Member;
  t.equal(backupAgentOomKilled(pods, bc, sts('db'), 'host-0')?.pod, 'db-0', 'a StatefulSet host is its ordinal’s pod');
  t.equal(backupAgentOomKilled(pods, bc, sts('db'), 'host-1'), undefined, 'the other ordinal was not killed');
  t.equal(backupAgentOomKilled(pods, bc, member('api'), 'host-0'), undefined, 'no pod of that target');
});
