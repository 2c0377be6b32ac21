// Table tests of the orchestration rules both session loops decide with (rules.ts).
import t from 'tap';
import {
  closeOutMember,
  deadlineFor,
  deadlineState,
  hostsToFail,
  invokerLabelsToAdd,
  mayStart,
  skipReason,
  type MemberProgress,
} from './rules.ts';
import { sessionInvoker } from '../../shared/api/target.ts';

t.test('mayStart: Sequential waits for every earlier member to be final; Parallel starts all', async (t) => {
  const P = (initiated: boolean, final: boolean): MemberProgress => ({ initiated, final });
  const rows: Array<[string, string | undefined, MemberProgress[], boolean[]]> = [
    [
      'Sequential, nothing started: only the first',
      'Sequential',
      [P(false, false), P(false, false), P(false, false)],
      [true, false, false],
    ],
    [
      'Sequential, first running: nobody else',
      'Sequential',
      [P(true, false), P(false, false), P(false, false)],
      [false, false, false],
    ],
    [
      'Sequential, first final: the second',
      'Sequential',
      [P(true, true), P(false, false), P(false, false)],
      [false, true, false],
    ],
    [
      'Sequential, a Failed member hands over too',
      'Sequential',
      [P(true, true), P(true, true), P(false, false)],
      [false, false, true],
    ],
    [
      'Sequential, a member failed at initiation counts as final',
      'Sequential',
      [P(true, true), P(false, false)],
      [false, true],
    ],
    [
      'Parallel: every member not yet initiated',
      'Parallel',
      [P(true, false), P(false, false), P(false, false)],
      [false, true, true],
    ],
    ['order unset is Parallel', undefined, [P(false, false), P(false, false)], [true, true]],
  ];
  for (const [name, order, progress, want] of rows)
    t.same(
      progress.map((_, i) => mayStart(order, progress, i)),
      want,
      name,
    );
  t.equal(mayStart('Sequential', [], 0), false, 'no such member');
});

t.test('skipReason: not Ready, paused, another session running; else none', async (t) => {
  const base = { invoker: 'BackupBatch app', invokerPhase: 'Ready', paused: false, otherRunning: undefined };
  t.equal(skipReason(base), undefined, 'a Ready invoker with nothing running runs the session');
  t.match(skipReason({ ...base, invokerPhase: 'NotReady' }), /BackupBatch app is not Ready \(phase NotReady\)/);
  t.match(skipReason({ ...base, invokerPhase: undefined }), /phase unset/);
  t.match(skipReason({ ...base, paused: true }), /is paused/);
  t.match(skipReason({ ...base, otherRunning: 'app-1' }), /BackupSession app-1 of BackupBatch app is still running/);
  t.match(skipReason({ ...base, invokerPhase: 'Invalid', paused: true }), /not Ready/, 'not Ready is said first');
});

t.test('deadlines: from creation plus timeOut; passed once reached', async (t) => {
  const created = Date.parse('2026-01-01T00:00:00Z');
  t.equal(deadlineFor(created, '90s'), '2026-01-01T00:01:30Z');
  t.equal(deadlineFor(created, undefined), undefined, 'no timeOut, no deadline');
  t.equal(deadlineFor(created, '0s'), undefined, 'zero means none');
  t.equal(deadlineFor(created, 'soon'), undefined, 'unparseable means none (admission rejects it)');
  const dl = '2026-01-01T00:01:30Z';
  t.same(deadlineState(dl, created + 60_000), { passed: false, inMs: 30_000 });
  t.same(deadlineState(dl, created + 90_000), { passed: true });
  t.same(deadlineState(undefined, created), { passed: false });
});

t.test('hostsToFail: pod gone after its grace, stale heartbeat, never taken up within the bound', async (t) => {
  const now = 1_000_000;
  const base = {
    now,
    eligibleSince: now - 10_000,
    boundMs: 120_000,
    goneGraceMs: 60_000,
    target: 'Deployment shop/web',
  };
  type Row = [string, Parameters<typeof hostsToFail>[0], string[], RegExp | undefined, number | undefined];
  const rows: Row[] = [
    [
      'fresh heartbeat: alive, look again when it would go stale',
      { ...base, hosts: [{ host: 'web', heartbeatAt: now - 5_000 }] },
      [],
      undefined,
      115_001,
    ],
    [
      'stale heartbeat while the pod exists: failed, naming host and bound',
      { ...base, hosts: [{ host: 'web', heartbeatAt: now - 121_000 }] },
      ['web'],
      /host web of Deployment shop\/web stopped working.*liveness bound of 2m0s/,
      undefined,
    ],
    ['no Lease, turn began 10 s ago: wait', { ...base, hosts: [{ host: 'web' }] }, [], undefined, 110_001],
    [
      'no Lease, turn began longer ago than the bound: nobody took it up',
      { ...base, eligibleSince: now - 130_000, hosts: [{ host: 'web' }] },
      ['web'],
      /no agent took up the session for host web.*2m0s.*stash container is injected.*invoker-type\/invoker-name labels/,
      undefined,
    ],
    [
      'pod gone within the grace: wait for the grace',
      { ...base, hosts: [{ host: 'web', gone: { reason: 'pod gone', forMs: 20_000 }, heartbeatAt: now - 200_000 }] },
      [],
      undefined,
      40_000,
    ],
    [
      'pod gone past the grace: failed with the pod reason',
      { ...base, hosts: [{ host: 'web', gone: { reason: 'pod web-0 is gone', forMs: 60_000 } }] },
      ['web'],
      /pod web-0 is gone/,
      undefined,
    ],
    [
      "a Job's pod the scheduler cannot place yet, past an ended Job's short grace: it gets the longer one",
      {
        ...base,
        goneGraceMs: 3_000,
        unschedulableGraceMs: 60_000,
        hosts: [
          { host: 'host-0', gone: { reason: 'cannot be scheduled: unbound claim', forMs: 5_000, unschedulable: true } },
        ],
      },
      [],
      undefined,
      55_000,
    ],
    [
      "a Job's pod the scheduler still cannot place after the longer grace: failed with the scheduler's message",
      {
        ...base,
        goneGraceMs: 3_000,
        unschedulableGraceMs: 60_000,
        hosts: [
          {
            host: 'host-0',
            gone: { reason: 'cannot be scheduled: unbound claim', forMs: 60_000, unschedulable: true },
          },
        ],
      },
      ['host-0'],
      /cannot be scheduled: unbound claim/,
      undefined,
    ],
    [
      'an ended Job past its short grace: failed, the longer grace is only for an unplaced pod',
      {
        ...base,
        goneGraceMs: 3_000,
        unschedulableGraceMs: 60_000,
        hosts: [{ host: 'host-0', gone: { reason: 'Job completed without its host reporting', forMs: 3_000 } }],
      },
      ['host-0'],
      /completed without its host reporting/,
      undefined,
    ],
    [
      'stale heartbeat after the kubelet OOM-killed the agent this session: the kill and the limit are named',
      {
        ...base,
        hosts: [
          {
            host: 'web',
            heartbeatAt: now - 121_000,
            agentOomKilled: { at: now - 10_000, pod: 'web-7d9', container: 'stash', limit: '96Mi' },
          },
        ],
      },
      ['web'],
      /stopped working.*liveness bound of 2m0s.*; container stash of pod web-7d9 was OOMKilled at .* \(memory limit 96Mi\): raise runtimeSettings\.container\.resources\.limits\.memory$/,
      undefined,
    ],
    [
      "stale heartbeat, the OOM kill was before the member's turn: not this session's, not named",
      {
        ...base,
        hosts: [
          {
            host: 'web',
            heartbeatAt: now - 121_000,
            agentOomKilled: { at: now - 11_000, pod: 'web-7d9', container: 'stash', limit: '96Mi' },
          },
        ],
      },
      ['web'],
      /^(?!.*OOMKilled).*liveness bound of 2m0s; see the agent's log$/,
      undefined,
    ],
    [
      'OOM-killed this session but the agent renews again: alive, an OOM kill alone fails nobody',
      {
        ...base,
        hosts: [
          { host: 'web', heartbeatAt: now - 5_000, agentOomKilled: { at: now - 8_000, pod: 'p', container: 'stash' } },
        ],
      },
      [],
      undefined,
      115_001,
    ],
    [
      'no Lease, OOM-killed before its first renewal, past the bound: named, without a limit it does not have',
      {
        ...base,
        eligibleSince: now - 130_000,
        hosts: [{ host: 'web', agentOomKilled: { at: now - 129_000, pod: 'p', container: 'stash' } }],
      },
      ['web'],
      /no agent took up.*; container stash of pod p was OOMKilled at .*\(no memory limit of its own\)/,
      undefined,
    ],
    [
      'several hosts: each by its own rule, the earliest recheck wins',
      {
        ...base,
        hosts: [{ host: 'a', heartbeatAt: now - 500_000 }, { host: 'b', heartbeatAt: now - 100_000 }, { host: 'c' }],
      },
      ['a'],
      /host a/,
      20_001,
    ],
  ];
  for (const [name, input, hosts, reason, recheck] of rows) {
    const out = hostsToFail(input);
    t.same(
      out.failed.map((f) => f.host),
      hosts,
      `${name}: failed hosts`,
    );
    if (reason) t.match(out.failed[0]?.reason, reason, `${name}: reason`);
    t.equal(out.recheckInMs, recheck, `${name}: recheck`);
  }
  const short = hostsToFail({ ...base, boundMs: 3_000, eligibleSince: now - 4_000, hosts: [{ host: 'x' }] });
  t.match(short.failed[0]?.reason, /liveness bound of 3s/, 'the configured bound is the one named');
});

t.test('hostsToFail: a restore host whose agent starts only after a pod rollout', async (t) => {
  const now = 1_000_000;
  const base = {
    now,
    boundMs: 60_000,
    startBoundMs: 300_000,
    goneGraceMs: 60_000,
    target: 'Deployment shop/web',
  };
  // The case of issue #14: the turn began 70 s ago, the workload controller was slow to roll the pod out after
  // an apiserver restart, and stash-init started 20 s ago. Counting from the turn would fail it; it is alive.
  const late = hostsToFail({
    ...base,
    eligibleSince: now - 70_000,
    hosts: [{ host: 'web', agentStartedAt: now - 20_000 }],
  });
  t.same(late.failed, [], 'agent started 20 s ago, no Lease yet: not failed although the turn began 70 s ago');
  t.equal(late.recheckInMs, 40_001, 'looked at again when the bound counted from its start runs out');

  const silent = hostsToFail({
    ...base,
    eligibleSince: now - 200_000,
    hosts: [{ host: 'web', agentStartedAt: now - 61_000 }],
  });
  t.same(
    silent.failed.map((f) => f.host),
    ['web'],
    'started 61 s ago and never renewed: failed by the liveness bound',
  );
  t.match(silent.failed[0]?.reason, /started \(.*\) but never renewed a heartbeat Lease.*container's log/);

  const rolling = hostsToFail({ ...base, eligibleSince: now - 200_000, hosts: [{ host: 'web' }] });
  t.same(rolling.failed, [], 'not started 200 s after its turn: still within the start bound');
  t.equal(rolling.recheckInMs, 60_000, 'looked at again within one liveness bound, in case it starts meanwhile');

  const stuck = hostsToFail({ ...base, eligibleSince: now - 301_000, hosts: [{ host: 'web' }] });
  t.same(
    stuck.failed.map((f) => f.host),
    ['web'],
    'not started past the start bound: failed',
  );
  t.match(stuck.failed[0]?.reason, /did not start within 5m0s of the member's turn.*rollout/);

  const before = hostsToFail({
    ...base,
    eligibleSince: now - 61_000,
    hosts: [{ host: 'web', agentStartedAt: now - 500_000 }],
  });
  t.same(
    before.failed.map((f) => f.host),
    ['web'],
    'a start before the turn (an earlier invoker of the same name) counts from the turn',
  );
  t.match(before.failed[0]?.reason, /stash container is injected/);

  const stale = hostsToFail({
    ...base,
    eligibleSince: now - 10_000,
    hosts: [{ host: 'web', heartbeatAt: now - 61_000, agentStartedAt: now - 100_000 }],
  });
  t.same(
    stale.failed.map((f) => f.host),
    ['web'],
    'a Lease, once there, is judged by its age alone',
  );
});

t.test('closeOutMember: an ended session leaves no member or host open', async (t) => {
  t.same(
    closeOutMember({ initiated: false, openHosts: [], missingCount: 1 }),
    { failHosts: [], failMember: true },
    'never started: the member fails as a whole',
  );
  t.same(
    closeOutMember({ initiated: true, openHosts: ['a', 'b'], missingCount: 2 }),
    { failHosts: ['a', 'b'], failMember: false },
    'named open hosts fail one by one',
  );
  t.same(
    closeOutMember({ initiated: true, openHosts: ['a'], missingCount: 3 }),
    { failHosts: ['a'], failMember: true },
    'unnamed missing hosts (DaemonSet nodes): the member fails too',
  );
});

t.test(
  'sessions made by hand: the invoker from spec.invoker or the older label; the labels agents select by',
  async (t) => {
    const T = 'stash.appscode.com/invoker-type';
    const N = 'stash.appscode.com/invoker-name';
    const bySpec = { spec: { invoker: { apiGroup: 'stash.appscode.com', kind: 'BackupConfiguration', name: 'app' } } };
    const byOldLabel = { metadata: { labels: { 'stash.appscode.com/backup-configuration': 'app' } } };
    t.same(sessionInvoker(bySpec), { kind: 'BackupConfiguration', name: 'app' });
    t.same(
      sessionInvoker(byOldLabel),
      { kind: 'BackupConfiguration', name: 'app' },
      "the guide's older label alone names a BackupConfiguration",
    );
    t.equal(sessionInvoker({}), undefined);
    t.same(invokerLabelsToAdd(bySpec), { [T]: 'BackupConfiguration', [N]: 'app' });
    t.same(
      invokerLabelsToAdd({ ...bySpec, ...byOldLabel }),
      { [T]: 'BackupConfiguration', [N]: 'app' },
      'both the spec and the older label',
    );
    t.equal(
      invokerLabelsToAdd({ ...bySpec, metadata: { labels: { [T]: 'BackupConfiguration', [N]: 'app' } } }),
      undefined,
      'nothing to add',
    );
    t.same(
      invokerLabelsToAdd({ ...bySpec, metadata: { labels: { [T]: 'BackupConfiguration', [N]: 'other' } } }),
      { [T]: 'BackupConfiguration', [N]: 'app' },
      'a wrong label is corrected from spec.invoker',
    );
    t.equal(invokerLabelsToAdd({}), undefined, 'no invoker, nothing to add');
  },
);
