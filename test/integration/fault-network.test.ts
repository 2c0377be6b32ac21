// Fault injection (issue #14.6): a loopback TCP proxy between the agents and kube-apiserver drops and stalls
// connections for some seconds at each stage of a Sequential BackupBatch, real processes only — a private
// world of real etcd + kube-apiserver + kube-controller-manager, the operator process (which talks to the
// apiserver directly), and the pod runner, which is our dev/test stand-in for a kubelet and hands its agent
// containers a kubeconfig pointing at the proxy. Each session must end final within the liveness bound;
// afterwards a clean session succeeds, `restic check` is clean and every earlier snapshot is intact.
import t from 'tap';
import { backupSession, until } from '../support/e2e-world.ts';
import {
  BACKUP_STAGES,
  FAULT_LIVENESS_MS,
  endChecks,
  faultWorld,
  figure,
  finalPhase,
  hostSummary,
  reachStage,
  sequentialBatch,
} from '../support/fault-world.ts';

const OUTAGE_MS = 8_000;

t.setTimeout(600_000);
const w = await faultWorld(t, 'fault-network', { proxy: true });
const proxy = w.proxy!;

t.test('agents behind a proxy that drops, then stalls, their apiserver connections at each stage', async (t) => {
  const ns = 'fault-net';
  const repoDir = await sequentialBatch(w, ns);
  await until('agents connected through the proxy', async () => proxy.connections > 0, 30_000);
  t.pass(`the agents talk to the apiserver through the proxy (${proxy.connections} connections)`);
  let n = 0;
  for (const fault of ['drop', 'stall'] as const) {
    // The operator's final write does not go through the proxy: that stage is the apiserver and operator files'.
    for (const stage of BACKUP_STAGES.filter((x) => x !== 'during the final write')) {
      const name = `app-${++n}`;
      await w.kube.create(backupSession(ns, name, 'app'));
      await reachStage(w, ns, name, stage);
      const at = Date.now();
      if (fault === 'drop') await proxy.drop(OUTAGE_MS);
      else await proxy.stall(OUTAGE_MS);
      const { s, ms } = await finalPhase(w, ns, name, at, FAULT_LIVENESS_MS * 4);
      figure(
        t,
        `agents' apiserver connections ${fault === 'drop' ? 'dropped' : 'stalled'} ${OUTAGE_MS / 1000} s ${stage}`,
        ms,
        `${s.status?.phase}; ${hostSummary(s)}`,
      );
      t.equal(s.status?.phase, 'Succeeded', `${fault} ${stage}: the session succeeds once the network is back`, {
        status: s.status,
      });
    }
  }
  await endChecks(t, w, ns, repoDir);
});
