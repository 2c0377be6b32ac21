// Fault injection (issue #14.6): kube-apiserver restarted at each stage of a Sequential BackupBatch, real
// processes only — a private world of real etcd + kube-apiserver + kube-controller-manager, the operator
// process, and the pod runner, which is our dev/test stand-in for a kubelet (it runs the `stash` sidecars as
// local processes; it is not a kubelet). restic writes to a local-directory Repository.
// Stages: before member 1, during its backup, during its status write (just after its restic exits), between
// members, during member 2, during the operator's final write (15 restarts; with the RestoreBatch file's 5, 20).
// Each session must end final within the liveness
// bound; afterwards a clean session succeeds, `restic check` is clean and every earlier snapshot is intact.
import t from 'tap';
import { backupSession } from '../support/e2e-world.ts';
import {
  BACKUP_STAGES,
  FAULT_LIVENESS_MS,
  type BackupStage,
  endChecks,
  faultWorld,
  figure,
  finalPhase,
  hostSummary,
  reachStage,
  sequentialBatch,
} from '../support/fault-world.ts';

// Two rounds of every stage, then once more the stages where a status write is in flight (agent or operator).
const ROUNDS: ReadonlyArray<readonly BackupStage[]> = [
  BACKUP_STAGES,
  BACKUP_STAGES,
  ['during member 1 status write', 'between members', 'during the final write'],
];

t.setTimeout(600_000);
const w = await faultWorld(t, 'fault-api-backup');

t.test(`kube-apiserver restarted at each stage of a Sequential BackupBatch (${ROUNDS.length} rounds)`, async (t) => {
  const ns = 'fault-api-bb';
  const repoDir = await sequentialBatch(w, ns);
  const restarts: number[] = [];
  let n = 0;
  for (const [i, stages] of ROUNDS.entries()) {
    const round = i + 1;
    for (const stage of stages) {
      const name = `app-${++n}`;
      await w.kube.create(backupSession(ns, name, 'app'));
      await reachStage(w, ns, name, stage);
      const at = Date.now();
      const took = await w.restartApiServer();
      restarts.push(took);
      const { s, ms } = await finalPhase(w, ns, name, at, FAULT_LIVENESS_MS * 4);
      figure(
        t,
        `apiserver restart ${stage} (round ${round})`,
        ms,
        `restart took ${(took / 1000).toFixed(1)} s; ${s.status?.phase}; ${hostSummary(s)}`,
      );
      t.equal(s.status?.phase, 'Succeeded', `${stage}, round ${round}: the session succeeds despite the restart`, {
        status: s.status,
      });
      t.same(
        s.status?.targets?.map((x) => x.phase),
        ['Succeeded', 'Succeeded'],
        'both members final',
      );
    }
  }
  t.equal(w.restarts, ROUNDS.flat().length, `${w.restarts} apiserver restarts`);
  t.comment(
    `apiserver restart durations (kill to /readyz): ${restarts.map((x) => (x / 1000).toFixed(1)).join(', ')} s`,
  );
  await endChecks(t, w, ns, repoDir);
});
