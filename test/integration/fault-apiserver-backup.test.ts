// Fault injection (issue #14.6): kube-apiserver restarted at each stage of a Sequential BackupBatch, real
// processes only — a private world of real etcd + kube-apiserver + kube-controller-manager, the operator
// process, and the pod runner, which is our dev/test stand-in for a kubelet (it runs the `stash` sidecars as
// local processes; it is not a kubelet). restic writes to a local-directory Repository.
// Stages: before member 1, during its backup, during its status write (just after its restic exits), between
// members, during member 2, during the operator's final write (15 restarts; with the RestoreBatch file's 5, 20).
// Each session must end final within the liveness
// bound; afterwards a clean session succeeds, `restic check` is clean and every earlier snapshot is intact.
import t from 'tap';
import {
  BACKUP_STAGES,
  type BackupStage,
  type Turn,
  endChecks,
  faultWorld,
  sequentialBatch,
  takeTurns,
} from '../support/fault-world.ts';

// Two rounds of every stage, then once more the stages where a status write is in flight (agent or operator).
const ROUNDS: ReadonlyArray<readonly BackupStage[]> = [
  BACKUP_STAGES,
  BACKUP_STAGES,
  ['during member 1 status write', 'between members', 'during the final write'],
];

t.setTimeout(600_000);
const w = await faultWorld(t, 'fault-api-backup');

// Two namespaces, each with its own batch, take turns (fault-world.ts takeTurns).
const LANES = ['fault-api-bb', 'fault-api-bb2'];

t.test(`kube-apiserver restarted at each stage of a Sequential BackupBatch (${ROUNDS.length} rounds)`, async (t) => {
  const repoDirs = await Promise.all(LANES.map((ns) => sequentialBatch(w, ns)));
  const restarts: number[] = [];
  const turns: Turn[] = ROUNDS.flatMap((stages, i) =>
    stages.map((stage) => ({
      stage,
      label: `apiserver restart ${stage} (round ${i + 1})`,
      async inject() {
        const took = await w.restartApiServer();
        restarts.push(took);
        return `restart took ${(took / 1000).toFixed(1)} s`;
      },
    })),
  );
  await takeTurns(t, w, LANES, turns);
  t.equal(w.restarts, ROUNDS.flat().length, `${w.restarts} apiserver restarts`);
  t.comment(
    `apiserver restart durations (kill to /readyz): ${restarts.map((x) => (x / 1000).toFixed(1)).join(', ')} s`,
  );
  for (const [i, ns] of LANES.entries()) await endChecks(t, w, ns, repoDirs[i]!);
});
