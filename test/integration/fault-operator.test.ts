// Fault injection (issue #14.6): the operator SIGKILLed (and started again) and paused (SIGSTOP … SIGCONT) at
// each stage of a Sequential BackupBatch, real processes only — a private world of real etcd + kube-apiserver +
// kube-controller-manager, the operator process, and the pod runner, which is our dev/test stand-in for a
// kubelet (it runs the `stash` sidecars as local processes; it is not a kubelet).
// Each session must end final within the liveness bound; afterwards a clean session succeeds, `restic check`
// is clean and every earlier snapshot is intact.
import t from 'tap';
import { backupSession } from '../support/e2e-world.ts';
import {
  BACKUP_STAGES,
  FAULT_LIVENESS_MS,
  endChecks,
  faultWorld,
  figure,
  finalPhase,
  hostSummary,
  killAndRestartOperator,
  pauseOperator,
  reachStage,
  sequentialBatch,
} from '../support/fault-world.ts';

// Longer than the operator's 10 s leader Lease: the paused leader loses it and must win it back.
const PAUSE_MS = 12_000;

t.setTimeout(600_000);
const w = await faultWorld(t, 'fault-operator');

t.test('the operator killed, and paused, at each stage of a Sequential BackupBatch', async (t) => {
  const ns = 'fault-op';
  const repoDir = await sequentialBatch(w, ns);
  let n = 0;
  for (const fault of ['kill', 'pause'] as const) {
    for (const stage of BACKUP_STAGES.filter((x) => x !== 'during member 1 status write')) {
      const name = `app-${++n}`;
      await w.kube.create(backupSession(ns, name, 'app'));
      await reachStage(w, ns, name, stage);
      const at = Date.now();
      if (fault === 'kill') await killAndRestartOperator(w);
      else await pauseOperator(w, PAUSE_MS);
      const { s, ms } = await finalPhase(w, ns, name, at, FAULT_LIVENESS_MS * 4);
      figure(
        t,
        `operator ${fault === 'kill' ? 'SIGKILL + restart' : `SIGSTOP ${PAUSE_MS / 1000} s + SIGCONT`} ${stage}`,
        ms,
        `${s.status?.phase}; ${hostSummary(s)}`,
      );
      t.equal(s.status?.phase, 'Succeeded', `operator ${fault} ${stage}: the session still succeeds`, {
        status: s.status,
      });
      t.same(
        s.status?.targets?.map((x) => x.phase),
        ['Succeeded', 'Succeeded'],
        'both members final and Succeeded',
      );
    }
  }
  await endChecks(t, w, ns, repoDir);
});
