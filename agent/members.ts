// Which invoker a BackupSession runs, and which member of that invoker is this agent's target.
import { membersOf } from '../shared/api/target.ts';
import type { BackupConfigurationTemplateSpec, TargetRef } from '../shared/api/index.ts';
import { AgentError, matchesTarget, type AgentContext } from './common.ts';
import type { BackupInvoker } from './types.ts';

export interface Member {
  index: number;
  spec: BackupConfigurationTemplateSpec;
  ref: TargetRef;
}

export function findMember(invoker: BackupInvoker, kind: string, ctx: AgentContext): Member | undefined {
  const ns = invoker.metadata?.namespace ?? ctx.namespace;
  const members = membersOf({ ...invoker, kind });
  const found = members.find((m) => matchesTarget(m.member.target?.ref, ctx, ns));
  const ref = found?.member.target?.ref;
  if (!found || !ref) return undefined;
  return { index: found.index, spec: found.member, ref };
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
