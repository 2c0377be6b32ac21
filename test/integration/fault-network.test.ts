// Fault injection (issue #14.6): a loopback TCP proxy between the agents and kube-apiserver drops and stalls
// connections for some seconds at each stage of a Sequential BackupBatch, real processes only — a private
// world of real etcd + kube-apiserver + kube-controller-manager, the operator process (which talks to the
// apiserver directly), and the pod runner, which is our dev/test stand-in for a kubelet and hands its agent
// containers a kubeconfig pointing at the proxy. Each session must end final within the liveness bound;
// afterwards a clean session succeeds, `restic check` is clean and every earlier snapshot is intact.
import t from 'tap';
import { until } from '../support/e2e-world.ts';
import { BACKUP_STAGES, type Turn, endChecks, faultWorld, sequentialBatch, takeTurns } from '../support/fault-world.ts';

const OUTAGE_MS = 8_000;

t.setTimeout(600_000);
const w = await faultWorld(t, 'fault-network', { proxy: true });
const proxy = w.proxy!;

// Two namespaces, each with its own batch, take turns (fault-world.ts takeTurns).
const LANES = ['fault-net', 'fault-net2'];

t.test('agents behind a proxy that drops, then stalls, their apiserver connections at each stage', async (t) => {
  const repoDirs = await Promise.all(LANES.map((ns) => sequentialBatch(w, ns)));
  await until('agents connected through the proxy', async () => proxy.connections > 0, 30_000);
  t.pass(`the agents talk to the apiserver through the proxy (${proxy.connections} connections)`);
  // The operator's final write does not go through the proxy: that stage is the apiserver and operator files'.
  const stages = BACKUP_STAGES.filter((x) => x !== 'during the final write');
  const turns: Turn[] = (['drop', 'stall'] as const).flatMap((fault) =>
    stages.map((stage) => ({
      stage,
      label: `agents' apiserver connections ${fault === 'drop' ? 'dropped' : 'stalled'} ${OUTAGE_MS / 1000} s ${stage}`,
      inject: () => (fault === 'drop' ? proxy.drop(OUTAGE_MS) : proxy.stall(OUTAGE_MS)),
    })),
  );
  await takeTurns(t, w, LANES, turns);
  for (const [i, ns] of LANES.entries()) await endChecks(t, w, ns, repoDirs[i]!);
});
