// Failures of the moving parts, end to end with real agents in a private local world: an agent (the `stash`
// sidecar process the pod runner started) SIGKILLed while restic runs, and two operator replicas where the
// Lease holder is SIGKILLed in the middle of a session.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import {
  FIRST_OPERATOR_IDENTITY,
  agentPids,
  backupBatch,
  backupSession,
  createApp,
  e2eWorld,
  finished,
  firstOperatorPid,
  leaseHolder,
  namespaceWithRepo,
  operatorEvents,
  pointWebhooksAt,
  resticIn,
  sidecarsRunning,
  startExtraOperator,
  until,
  type SessionObj,
} from '../support/e2e-world.ts';

const BB = apiVersionOf('BackupBatch');
const BS = apiVersionOf('BackupSession');
const MiB = 1024 * 1024;

// A whole world per file: longer than the runner's default per-file timeout.
t.setTimeout(360_000);
const w = await e2eWorld(t, 'e2e-failover');

async function readyBatch(ns: string, name: string): Promise<void> {
  await until(
    `BackupBatch ${name} Ready`,
    async () =>
      (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, name)).status?.phase ===
      'Ready',
    60_000,
  );
}

function bigFiles(n: number): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (let i = 0; i < n; i++) out[`blob-${i}.bin`] = randomBytes(10 * MiB);
  return out;
}

t.test('an agent killed mid-session: that session ends, never stays Running; the next one succeeds', async (t) => {
  const ns = 'e2e-kill';
  await namespaceWithRepo(w, ns);
  await createApp(w, ns, 'big', bigFiles(20));
  await w.kube.create(backupBatch(ns, 'app', ['big']));
  await readyBatch(ns, 'app');
  await sidecarsRunning(w, ns, ['big']);
  const [agent] = agentPids(ns, 'big');
  t.ok(agent, 'found the sidecar agent process');
  await w.kube.create(backupSession(ns, 'app-1', 'app'));
  const restic = await until(
    'restic backup running in the agent container',
    async () => resticIn(agent!).find((p) => p.args.includes(' backup')),
    60_000,
    50,
  );
  // The whole container (agent and its restic child) dies at once, as on an OOM kill.
  process.kill(-agent!, 'SIGKILL');
  t.comment(`killed agent ${agent} while ${restic.args.slice(0, 80)}... ran`);
  const running = await w.kube.get<SessionObj>(BS, 'BackupSession', ns, 'app-1');
  t.not(running.status?.phase, 'Succeeded', 'the kill landed before the session finished');
  const restarted = await until(
    'the pod runner restarts the sidecar',
    async () => agentPids(ns, 'big').find((p) => p !== agent),
    60_000,
  );
  t.ok(restarted, `the container was restarted (pid ${restarted})`);

  const s = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'app-1', 150_000);
  const host = s.status?.targets?.[0]?.stats?.[0];
  if (s.status?.phase === 'Failed') {
    t.ok(
      host?.error || s.status.conditions?.some((c) => c.status === 'False' && c.message),
      `Failed with a reason: ${host?.error ?? JSON.stringify(s.status.conditions)}`,
    );
  } else {
    t.equal(s.status?.phase, 'Succeeded');
    t.equal(
      host?.snapshots?.[0]?.fileStats?.totalFiles,
      20,
      'the restarted agent ran the backup again and completed the session',
    );
  }
  t.comment(
    `product behaviour: the session of the killed agent ended ${s.status?.phase}${host?.error ? ` (${host.error})` : ''}`,
  );

  await w.kube.create(backupSession(ns, 'app-2', 'app'));
  const next = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'app-2', 150_000);
  t.equal(
    next.status?.phase,
    'Succeeded',
    `the next session succeeds: ${JSON.stringify(next.status?.targets?.[0]?.stats)}`,
  );
  const all = await w.kube.list<SessionObj>(BS, 'BackupSession', ns);
  t.same(
    all.items.filter((x) => x.status?.phase === 'Running').map((x) => x.metadata?.name),
    [],
    'no session stays Running',
  );
});

t.test(
  'two operators: only the Lease holder acts; kill it mid-session and the other takes over and completes the session',
  async (t) => {
    const ns = 'e2e-ha';
    await namespaceWithRepo(w, ns);
    const second = 'stash-ts-operator-b';
    const b = await startExtraOperator(t, w, second);
    t.equal(await leaseHolder(w), FIRST_OPERATOR_IDENTITY, 'the first operator holds the Lease');

    await createApp(w, ns, 'first', bigFiles(6));
    await createApp(w, ns, 'second', { 'a.txt': 'second member\n', 'b.bin': randomBytes(MiB) });
    await w.kube.create(backupBatch(ns, 'app', ['first', 'second'], { executionOrder: 'Sequential' }));
    await readyBatch(ns, 'app');
    await sidecarsRunning(w, ns, ['first', 'second']);
    await w.kube.create(backupSession(ns, 'app-1', 'app'));
    await until(
      'first member initiated',
      async () =>
        (await w.kube.get<SessionObj>(BS, 'BackupSession', ns, 'app-1')).status?.targets?.some(
          (x) => x.ref?.name === 'first',
        ),
      60_000,
      100,
    );
    const before = await until(
      'the initiation event',
      async () => {
        const ev = await operatorEvents(w, ns);
        return ev.some((e) => /Initiated backup of Deployment first/.test(e.message)) ? ev : undefined;
      },
      10_000,
    );
    t.ok(before.length > 0, `${before.length} operator events so far`);
    t.same(
      [...new Set(before.map((e) => e.instance))],
      [FIRST_OPERATOR_IDENTITY],
      'every event so far was recorded by the Lease holder',
    );

    const killedAt = Date.now();
    process.kill(-firstOperatorPid(w), 'SIGKILL');
    const s0 = await w.kube.get<SessionObj>(BS, 'BackupSession', ns, 'app-1');
    t.equal(s0.status?.phase, 'Running', 'the leader died in the middle of the session');
    // A Service would now send admission requests to the surviving replica.
    await pointWebhooksAt(w, b.port);
    await until('the standby holds the Lease', async () => (await leaseHolder(w)) === second, 30_000, 100);
    const takeoverMs = Date.now() - killedAt;
    t.comment(
      `takeover ${takeoverMs} ms after SIGKILL (Lease 10 s, counted from the standby's last sight of a renewal; retry 2 s)`,
    );
    t.ok(takeoverMs <= 15_000, `the standby took over within 15 s (${takeoverMs} ms)`);

    const s = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'app-1', 120_000);
    t.equal(s.status?.phase, 'Succeeded', 'the session still completes', { status: s.status });
    t.same(
      s.status?.targets?.map((x) => x.phase),
      ['Succeeded', 'Succeeded'],
    );
    const after = await until(
      "the new leader's events",
      async () => {
        const ev = await operatorEvents(w, ns);
        return ev.some((e) => e.reason === 'BackupSessionSucceeded') ? ev : undefined;
      },
      15_000,
    );
    const by = (re: RegExp) => after.filter((e) => re.test(e.message) || re.test(e.reason)).map((e) => e.instance);
    t.same(
      by(/Initiated backup of Deployment second/),
      [second],
      'the hand-off to the second member was made by the new leader',
    );
    t.same(by(/^BackupSessionSucceeded$/), [second], 'the new leader finished the session');
    t.same(
      by(/Initiated backup of Deployment first/),
      [FIRST_OPERATOR_IDENTITY],
      'the first member was initiated once, by the old leader',
    );
  },
);
