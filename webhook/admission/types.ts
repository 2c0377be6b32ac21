// The types admission reads: our kinds exactly as the schema types them (shared/api/types.ts, derived from the
// TypeBox source of the CRDs, metadata as the apiserver serves it); plus the identity of a workload and the
// invoker index admission asks. Untyped input (a review's object) is checked against the schema before a rule
// trusts it (validate.ts); invokers and repositories come from the informers, i.e. the apiserver already checked them.
import type {
  BackupConfigurationSpec,
  BackupConfigurationTemplateSpec,
  RestoreSessionSpec,
  RestoreTargetSpec,
} from '../../shared/api/types.ts';
import type { BackupInvoker, Repository, RestoreInvoker } from '../../shared/api/types.ts';

export type { BackupInvoker, Repository, RestoreInvoker, TargetRef } from '../../shared/api/types.ts';

export type Obj = Record<string, unknown>;

/** What one target of an invoker says: a batch member, or a single-target invoker's own spec. */
export type BackupMember = BackupConfigurationTemplateSpec | BackupConfigurationSpec;
export type RestoreMember = RestoreTargetSpec | RestoreSessionSpec;

/** The identity of a workload as admission sees it. */
export interface WorkloadRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
}

/**
 * Invokers and repositories as the operator's informers hold them. Admission never calls the API: a webhook that
 * did would add an API round trip to every deploy and fail whenever the apiserver is slow.
 */
export interface InvokerIndex {
  /** BackupConfigurations and BackupBatches with a target or member that names this workload. */
  backupInvokersFor(workload: WorkloadRef): BackupInvoker[];
  /** RestoreSessions and RestoreBatches with a target or member that names this workload. */
  restoreInvokersFor(workload: WorkloadRef): RestoreInvoker[];
  repository(namespace: string, name: string): Repository | undefined;
}
