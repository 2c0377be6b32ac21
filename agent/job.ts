// `run-backup --backupsession=<name>`: the job model of docs/api.md §12. A volume (PVC) or a database (AppBinding) has no
// pod to carry a sidecar, so the operator starts this in a Job once it initiates the target: it does this
// session's share exactly as a sidecar host would (HostBackup: hooks, repository init, snapshot, post-backup
// actions, per-host stats, Events) and exits 0 only when its host succeeded, so the Job's outcome matches the status.
import { apiVersionOf } from '../shared/api/constants.ts';
import { hostFor } from '../shared/restic/host.ts';
import { findTarget } from '../shared/status/index.ts';
import { getInvoker, sessionKube, waitUntil, type AgentContext } from './common.ts';
import { withHeartbeat } from './heartbeat.ts';
import { HostBackup, readiness, type OpenRepo } from './host-backup.ts';
import { sessionInvoker } from '../shared/api/target.ts';
import { requireMember } from './members.ts';
import type { BackupInvoker, BackupSession } from './types.ts';

const WAIT_MS = 30 * 60_000;

export async function runBackupJob(
  ctx: AgentContext,
  openRepo: OpenRepo,
  sessionName: string,
  signal: AbortSignal,
): Promise<number> {
  const ns = ctx.namespace;
  const getSession = () => ctx.kube.get<BackupSession>(apiVersionOf('BackupSession'), 'BackupSession', ns, sessionName);
  const first = await getSession();
  const named = sessionInvoker(first);
  const kind = named?.kind ?? ctx.invokerKind;
  const invoker = await getInvoker<BackupInvoker>(ctx.kube, kind, ns, named?.name ?? ctx.invokerName);
  const member = requireMember(invoker, kind, invoker.metadata?.name, ctx);
  // Not sidecarHost: this Job's pod and node are not the workload's, and a volume or database has one host.
  const host = ctx.hostOverride ?? hostFor({ targetKind: ctx.targetKind, alias: member.spec.target.alias });
  const log = ctx.log.child({ session: sessionName, host });

  // The operator creates the Job a moment before it records the target as initiated.
  const ready = await waitUntil(
    async () => {
      const s = await getSession();
      const r = readiness(s, invoker, member, host, ns);
      if (r.run) return { session: s };
      if (r.final) return { why: r.why, session: s };
      return undefined;
    },
    { what: 'the operator to initiate this target', timeoutMs: WAIT_MS, pollMs: 1000, signal, log },
  );
  if ('why' in ready) {
    log.info({ why: ready.why }, 'nothing to back up');
    return outcome(ready.session, member.ref, host, ns);
  }
  const session = ready.session;
  const run: AgentContext = { ...ctx, kube: sessionKube(ctx.kube, session.status?.sessionDeadline) };
  await withHeartbeat({ kube: run.kube, sessionKind: 'BackupSession', session, host, holder: ctx.podName, log }, () =>
    new HostBackup({ ctx: run, openRepo, host, signal }, session, invoker, member).run(),
  );
  return outcome(await getSession(), member.ref, host, ns);
}

function outcome(s: BackupSession, ref: Parameters<typeof findTarget>[1], host: string, ns: string): number {
  const stat = findTarget(s.status, ref, ns)?.stats?.find((x) => x.hostname === host);
  return stat?.phase === 'Succeeded' ? 0 : 1;
}
