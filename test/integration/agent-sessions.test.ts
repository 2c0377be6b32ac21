// How the backup sidecar takes sessions up and sees them through, against the real apiserver: a session
// made by hand the way Stash's instant-backup guide makes it, the host's heartbeat Lease, an apiserver
// restart in the middle of a run, a run that cannot go on, and a sidecar killed mid-run and restarted.
// No operator exists here: the test writes the target initiation into the session status, as it would.
// The file runs its own private control plane: restarting the shared one would fail every file running beside it.
import t, { type Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import { mergeBackupSessionStatus } from '../../shared/status/index.ts';
import { HEARTBEAT, heartbeatLeaseName } from '../../shared/api/heartbeat.ts';
import { Kube, type KubeObject } from '../../shared/kube/client.ts';
import { restartApiServer } from '../world/controlplane.ts';
import { privateControlPlane } from '../world/harness.ts';
import { makeLocalBackend } from '../backends/local.ts';
import type { BackupConfiguration, BackupSession } from '../../agent/types.ts';
import {
  eventsFor,
  getSession,
  initiateTargets,
  makeRepository,
  seedTree,
  sidecarArgs,
  startAgent,
  type AgentProcess,
} from '../support/agent-world.ts';
import { until } from '../support/until.ts';

interface Lease extends KubeObject {
  spec?: { holderIdentity?: string; renewTime?: string };
}

/** A preBackup httpGet hook served here: each call waits until the test lets it answer. */
async function hookServer(t: Test) {
  const calls: Array<() => void> = [];
  let arrived: (() => void) | undefined;
  const server = http.createServer((_req, res) => {
    calls.push(() => res.end('ok'));
    arrived?.();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    port: (server.address() as AddressInfo).port,
    calls,
    /** Resolves when the next call has arrived (at once if one is waiting). */
    next: () =>
      new Promise<void>((resolve) => {
        if (calls.length) resolve();
        else arrived = resolve;
      }),
  };
}

t.setTimeout(900_000);

const controlPlane = privateControlPlane(t, 'agent-sessions');

t.test('the sidecar takes sessions up and sees them through', async (t) => {
  const world = await controlPlane.start({ withControllerManager: true });
  const kubeconfigPath = world.kubeconfig;
  const kube = Kube.load(kubeconfigPath, 'stash-ts-test');
  t.teardown(() => kube.close());
  const ns = 'agent-sessions';
  await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const backend = await makeLocalBackend();
  const work = await mkdtemp(join(tmpdir(), 'agent-sessions-'));
  t.teardown(async () => {
    await backend.stop();
    await rm(work, { recursive: true, force: true });
  });
  await makeRepository(kube, ns, 'repo', backend.backend, backend.secret);
  const hook = await hookServer(t);
  const agents: AgentProcess[] = [];
  t.teardown(async () => {
    for (const a of agents) await a.stop();
  });

  /** A BackupConfiguration for Deployment `name` (a preBackup hook with `withHook`) and the sidecar of pod `pod`. */
  const setUp = async (name: string, o: { withHook?: boolean } = {}) => {
    const data = join(work, name);
    await seedTree(data, { seed: name });
    const bc: BackupConfiguration = {
      apiVersion: apiVersionOf('BackupConfiguration'),
      kind: 'BackupConfiguration',
      metadata: { name, namespace: ns },
      spec: {
        schedule: '*/5 * * * *',
        repository: { name: 'repo' },
        retentionPolicy: { name: 'keep', keepLast: 10, prune: false },
        target: { alias: name, ref: { apiVersion: 'apps/v1', kind: 'Deployment', name }, paths: [data] },
        ...(o.withHook ? { hooks: { preBackup: { httpGet: { port: hook.port, path: `/${name}` } } } } : {}),
      },
    };
    await kube.create(bc);
  };
  const sidecar = (name: string, pod: string) => {
    const a = startAgent(
      sidecarArgs({
        invokerKind: 'BackupConfiguration',
        invokerName: name,
        targetKind: 'Deployment',
        targetName: name,
        namespace: ns,
        scratch: join(work, 'tmp', pod),
      }),
      { podName: pod, namespace: ns, kubeconfig: kubeconfigPath },
    );
    agents.push(a);
    return a;
  };
  const ref = (name: string) => ({ apiVersion: 'apps/v1', kind: 'Deployment', name });
  /** A session with nothing but spec.invoker, its target initiated as the operator would. */
  const startSession = async (name: string, invoker: string) => {
    await kube.create({
      apiVersion: apiVersionOf('BackupSession'),
      kind: 'BackupSession',
      metadata: { name, namespace: ns },
      spec: { invoker: { apiGroup: 'stash.appscode.com', kind: 'BackupConfiguration', name: invoker } },
    });
    await initiateTargets(kube, ns, name, [{ ref: ref(invoker), totalHosts: 1 }]);
  };
  /** Waits for the host's target to be final, then ends the session as the operator would (MetricsPushed). */
  const finalSession = async (name: string, timeoutMs = 120_000) => {
    await until(
      `${name}: target final`,
      async () => {
        const s = await getSession(kube, ns, name);
        const phase = s.status?.targets?.[0]?.phase;
        return phase === 'Succeeded' || phase === 'Failed' ? s : undefined;
      },
      timeoutMs,
      200,
    );
    const metricsPushed = {
      type: 'MetricsPushed',
      status: 'True' as const,
      reason: 'SuccessfullyPushedMetrics',
      message: 'Successfully pushed metrics.',
      lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    };
    return (await kube.update<BackupSession>(
      apiVersionOf('BackupSession'),
      'BackupSession',
      ns,
      name,
      (s) => {
        s.status = mergeBackupSessionStatus(s.status, { conditions: [metricsPushed] }, { namespace: ns });
        return s;
      },
      { subresource: 'status' },
    ))!;
  };
  const lease = (session: string, host: string) =>
    kube.getOrNull<Lease>('coordination.k8s.io/v1', 'Lease', ns, heartbeatLeaseName('BackupSession', session, host));

  await t.test(
    'a session made by hand as in the instant-backup guide: only spec.invoker and the old label',
    async (t) => {
      await setUp('guide');
      const a = sidecar('guide', 'guide-7d9f8-abcde');
      // The guide's object: no invoker-type/name or target labels, only the old one, and spec.invoker.
      await kube.create({
        apiVersion: apiVersionOf('BackupSession'),
        kind: 'BackupSession',
        metadata: {
          name: 'guide-instant',
          namespace: ns,
          labels: { 'stash.appscode.com/backup-configuration': 'guide' },
        },
        spec: { invoker: { apiGroup: 'stash.appscode.com', kind: 'BackupConfiguration', name: 'guide' } },
      });
      await initiateTargets(kube, ns, 'guide-instant', [{ ref: ref('guide'), totalHosts: 1 }]);
      const s = await finalSession('guide-instant');
      t.equal(s.status?.phase, 'Succeeded', a.output().slice(-2000));
      t.match(s.status?.targets?.[0]?.stats?.[0], {
        hostname: 'guide',
        phase: 'Succeeded',
        snapshots: [{ path: join(work, 'guide') }],
      });

      // The host's heartbeat: the Lease of shared/api/heartbeat.ts, left for garbage collection after the run.
      const l = await lease('guide-instant', 'guide');
      t.ok(l, 'heartbeat Lease exists');
      t.match(l?.metadata, {
        labels: { [HEARTBEAT.label.session]: 'guide-instant', [HEARTBEAT.label.sessionKind]: 'BackupSession' },
        annotations: { [HEARTBEAT.hostAnnotation]: 'guide' },
        ownerReferences: [{ kind: 'BackupSession', name: 'guide-instant', uid: s.metadata?.uid }],
      });
      t.equal(l?.spec?.holderIdentity, 'guide-7d9f8-abcde');
      const renewed = Date.parse(l?.spec?.renewTime ?? '');
      t.ok(renewed >= Date.parse(s.metadata?.creationTimestamp ?? '') - 1000, 'renewed during the run');
      await a.stop();
    },
  );

  await t.test(
    'an apiserver restart while the host works: its status writes are retried and the session succeeds',
    async (t) => {
      await setUp('restart', { withHook: true });
      const a = sidecar('restart', 'restart-5c6d7-fghij');
      await startSession('restart-1', 'restart');
      await hook.next();
      // The hook answers while the apiserver goes down: the condition write that follows meets no apiserver.
      const restarting = restartApiServer(controlPlane.dir);
      await new Promise((r) => setTimeout(r, 1500));
      hook.calls.shift()?.();
      await restarting;
      const s = await finalSession('restart-1');
      t.equal(s.status?.phase, 'Succeeded', a.output().slice(-3000));
      t.match(s.status?.targets?.[0]?.conditions, [{ type: 'PreBackupHookExecutionSucceeded', status: 'True' }]);
      t.equal(hook.calls.length, 0, 'the hook ran once: the run went on, it was not started again');
      t.notMatch(a.output(), /session run failed/, 'no run was dropped or failed');
      await a.stop();
    },
  );

  await t.test('a run that cannot go on records its host Failed with the reason', async (t) => {
    await setUp('orphan');
    const a = sidecar('orphan', 'orphan-1a2b3-klmno');
    await until(
      'the sidecar watching',
      async () => (/watching backup sessions/.test(a.output()) ? true : undefined),
      60_000,
    );
    // The invoker disappears between the sidecar's start and the session (a 404: nothing to retry).
    await kube.delete(apiVersionOf('BackupConfiguration'), 'BackupConfiguration', ns, 'orphan');
    await startSession('orphan-1', 'orphan');
    const s = await finalSession('orphan-1');
    t.equal(s.status?.phase, 'Failed');
    t.match(s.status?.targets?.[0]?.stats?.[0], {
      hostname: 'orphan',
      phase: 'Failed',
      error: /^session run failed: .*404/,
    });
    const events = await until(
      'HostBackupFailed event',
      async () => {
        const e = (await eventsFor(kube, ns, 'orphan-1')).filter((x) => x.reason === 'HostBackupFailed');
        return e.length ? e : undefined;
      },
      30_000,
    );
    t.match(events[0]?.message, /session run failed/);
    await a.stop();
  });

  await t.test('a sidecar killed mid-run: restarted, it resumes the session and finishes it', async (t) => {
    await setUp('killed', { withHook: true });
    const first = sidecar('killed', 'killed-8e9f0-aaaaa');
    await startSession('killed-1', 'killed');
    await hook.next();
    const beat = await until(
      "the first pod's heartbeat",
      async () =>
        (await lease('killed-1', 'killed'))?.spec?.holderIdentity === 'killed-8e9f0-aaaaa' ? true : undefined,
      30_000,
    );
    t.ok(beat);
    await first.kill();
    hook.calls.splice(0).forEach((answer) => answer());
    const mid = await getSession(kube, ns, 'killed-1');
    t.equal(mid.status?.targets?.[0]?.stats, undefined, 'the killed host recorded nothing');
    // The replacement pod: hooks answer at once from now on.
    const answering = setInterval(() => hook.calls.splice(0).forEach((answer) => answer()), 50);
    t.teardown(() => clearInterval(answering));
    const second = sidecar('killed', 'killed-8e9f0-bbbbb');
    const s = await finalSession('killed-1', 180_000);
    t.equal(s.status?.phase, 'Succeeded', second.output().slice(-3000));
    t.match(s.status?.targets?.[0]?.stats, [{ hostname: 'killed', phase: 'Succeeded' }]);
    t.equal(
      (await lease('killed-1', 'killed'))?.spec?.holderIdentity,
      'killed-8e9f0-bbbbb',
      'the restarted pod renewed the same Lease',
    );
    await second.stop();
  });

  const all = await kube.list<BackupSession>(apiVersionOf('BackupSession'), 'BackupSession', ns);
  t.same(
    all.items
      .filter((s) => s.status?.phase !== 'Succeeded' && s.status?.phase !== 'Failed')
      .map((s) => s.metadata?.name),
    [],
    'no session left Running',
  );
});
