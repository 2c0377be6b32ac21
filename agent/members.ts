// Which invoker a BackupSession runs, and which member of that invoker is this agent's target.
import { LABEL } from '../shared/api/constants.ts';
import { withPvcDefaults } from '../shared/api/pvc-target.ts';
import type { BackupConfigurationTemplateSpec, TargetRef } from '../shared/api/index.ts';
import { AgentError, matchesTarget, type AgentContext } from './common.ts';
import type { BackupBatch, BackupConfiguration, BackupInvoker, BackupSession } from './types.ts';

/**
 * The invoker a session runs: `spec.invoker` (kind + name) is enough; without it the invoker-type/name
 * labels, or the old `backup-configuration` label, name it.
 */
export function sessionInvoker(s: BackupSession): { kind: string; name: string } | undefined {
  const inv = s.spec?.invoker;
  if (inv?.kind && inv.name) return { kind: inv.kind, name: inv.name };
  const l = s.metadata?.labels ?? {};
  const kind = l[LABEL.invokerType];
  const name = l[LABEL.invokerName];
  if (kind && name) return { kind, name };
  const legacy = l[LABEL.legacyBackupConfiguration];
  if (legacy) return { kind: 'BackupConfiguration', name: legacy };
  return undefined;
}

export interface Member {
  index: number;
  spec: BackupConfigurationTemplateSpec;
  ref: TargetRef;
}

function membersOf(invoker: BackupInvoker, kind: string): BackupConfigurationTemplateSpec[] {
  if (kind === 'BackupBatch')
    return (invoker as BackupBatch).spec.members?.map((m) => ({ ...m, target: withPvcDefaults(m.target) })) ?? [];
  const s = (invoker as BackupConfiguration).spec;
  return [
    {
      target: withPvcDefaults(s.target as BackupConfigurationTemplateSpec['target']),
      task: s.task,
      hooks: s.hooks,
      tempDir: s.tempDir,
      runtimeSettings: s.runtimeSettings,
    },
  ];
}

export function findMember(invoker: BackupInvoker, kind: string, ctx: AgentContext): Member | undefined {
  const ns = invoker.metadata?.namespace ?? ctx.namespace;
  const members = membersOf(invoker, kind);
  const index = members.findIndex((m) => matchesTarget(m.target?.ref, ctx, ns));
  const spec = members[index];
  if (index < 0 || !spec?.target?.ref) return undefined;
  return { index, spec, ref: spec.target.ref };
}

/** findMember for a run that cannot go on without its member: `invokerName` is only for the error. */
export function requireMember(
  invoker: BackupInvoker,
  kind: string,
  invokerName: string | undefined,
  ctx: AgentContext,
): Member {
  const member = findMember(invoker, kind, ctx);
  if (!member)
    throw new AgentError(
      `${kind} ${ctx.namespace}/${invokerName} has no target ${ctx.targetKind}/${ctx.targetName} in namespace ${ctx.targetNamespace}`,
    );
  return member;
}
