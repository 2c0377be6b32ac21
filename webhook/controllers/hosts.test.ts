import t from 'tap';
import { restoreAgentStartedAt, slimRestorePod } from './hosts.ts';
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
