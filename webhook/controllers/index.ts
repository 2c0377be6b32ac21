// The control loops that run only on the elected leader. Each loop owns one concern; they share the
// operator's informers and client, and stop when `signal` aborts (leadership lost or shutdown).
import type { ControllerDeps } from './deps.ts';
import { runBackupInvokers } from './invoker.ts';
import { runBlueprints } from './blueprint.ts';
import { runBackupSessions } from './backup-session.ts';
import { runRestores } from './restore.ts';
import { runWorkloads } from './workload.ts';
import { runSnapshots } from './snapshots.ts';
import { runRepositories } from './repositories.ts';

export type { ControllerDeps };

export type Controller = (deps: ControllerDeps, signal: AbortSignal) => Promise<void>;

/** Registered loops. */
export const CONTROLLERS: Array<{ name: string; run: Controller }> = [
  { name: 'workloads', run: runWorkloads },
  { name: 'backup-invokers', run: runBackupInvokers },
  { name: 'backup-sessions', run: runBackupSessions },
  { name: 'restores', run: runRestores },
  { name: 'blueprints', run: runBlueprints },
  { name: 'snapshots', run: runSnapshots },
  { name: 'repositories', run: runRepositories },
];

export async function startControllers(deps: ControllerDeps, signal: AbortSignal): Promise<void> {
  for (const c of CONTROLLERS) {
    deps.log.info({ controller: c.name }, 'starting controller');
    void c
      .run(deps, signal)
      .catch((err: unknown) =>
        deps.log.error({ controller: c.name, err: String(err) }, 'controller stopped with an error'),
      );
  }
}
