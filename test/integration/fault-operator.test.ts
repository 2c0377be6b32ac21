// Fault injection (issue #14.6): the operator SIGKILLed (and started again) and paused (SIGSTOP … SIGCONT) at
// each stage of a Sequential BackupBatch, real processes only — a private world of real etcd + kube-apiserver +
// kube-controller-manager, the operator process, and the pod runner, which is our dev/test stand-in for a
// kubelet (it runs the `stash` sidecars as local processes; it is not a kubelet).
// Each session must end final within the liveness bound; afterwards a clean session succeeds, `restic check`
// is clean and every earlier snapshot is intact.
import t from 'tap';
import {
  BACKUP_STAGES,
  type Turn,
  endChecks,
  faultWorld,
  killAndRestartOperator,
  pauseOperator,
  sequentialBatch,
  takeTurns,
} from '../support/fault-world.ts';

// Longer than the operator's 10 s leader Lease: the paused leader loses it and must win it back.
const PAUSE_MS = 12_000;

t.setTimeout(600_000);
const w = await faultWorld(t, 'fault-operator');

// Two namespaces, each with its own batch, take turns (fault-world.ts takeTurns).
const LANES = ['fault-op', 'fault-op2'];

t.test('the operator killed, and paused, at each stage of a Sequential BackupBatch', async (t) => {
  const repoDirs = await Promise.all(LANES.map((ns) => sequentialBatch(w, ns)));
  const stages = BACKUP_STAGES.filter((x) => x !== 'during member 1 status write');
  const turns: Turn[] = (['kill', 'pause'] as const).flatMap((fault) =>
    stages.map((stage) => ({
      stage,
      label: `operator ${fault === 'kill' ? 'SIGKILL + restart' : `SIGSTOP ${PAUSE_MS / 1000} s + SIGCONT`} ${stage}`,
      inject: () => (fault === 'kill' ? killAndRestartOperator(w) : pauseOperator(w, PAUSE_MS)),
    })),
  );
  await takeTurns(t, w, LANES, turns);
  for (const [i, ns] of LANES.entries()) await endChecks(t, w, ns, repoDirs[i]!);
});
