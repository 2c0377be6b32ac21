// Static types of the API, derived from the schemas so they cannot disagree with the CRDs.
// Object kinds carry apiVersion/kind/metadata (the wire ObjectMeta of meta.ts); everything below `spec`/`status` is optional exactly
// where the schema says so.

import type { Static } from '@sinclair/typebox';
import type {
  BackupBatchSchema,
  BackupBatchSpecSchema,
  BackupBatchStatusSchema,
  BackupConfigurationSchema,
  BackupConfigurationSpecSchema,
  BackupConfigurationStatusSchema,
  BackupConfigurationTemplateSpecSchema,
  BackupHooksSchema,
  BackupSessionSchema,
  BackupSessionSpecSchema,
  BackupSessionStatusSchema,
  BackupTargetSchema,
  BackupTargetStatusSchema,
  BackendSchema,
  ConditionSchema,
  ContainerRuntimeSettingsSchema,
  EmptyDirSettingsSchema,
  HandlerSchema,
  HostBackupStatsSchema,
  HostRestoreStatsSchema,
  MemberConditionsSchema,
  PodRuntimeSettingsSchema,
  PVCTemplateSchema,
  RepositoryRefSchema,
  RepositorySchema,
  RepositorySpecSchema,
  RepositoryStatusSchema,
  RestoreBatchSchema,
  RestoreBatchSpecSchema,
  RestoreBatchStatusSchema,
  RestoreHooksSchema,
  RestoreMemberStatusSchema,
  RestoreSessionSchema,
  RestoreSessionSpecSchema,
  RestoreSessionStatusSchema,
  RestoreTargetSchema,
  RestoreTargetSpecSchema,
  RetentionPolicySchema,
  RetryConfigSchema,
  RuleSchema,
  RuntimeSettingsSchema,
  SnapshotStatsSchema,
  TargetRefSchema,
  TaskRefSchema,
  UsagePolicySchema,
  LocalSpecSchema,
  S3SpecSchema,
  GCSSpecSchema,
  AzureSpecSchema,
  SwiftSpecSchema,
  B2SpecSchema,
  RestServerSpecSchema,
} from './schema/index.ts';

// Kinds
export type Repository = Static<typeof RepositorySchema>;
export type BackupConfiguration = Static<typeof BackupConfigurationSchema>;
export type BackupBatch = Static<typeof BackupBatchSchema>;
export type BackupSession = Static<typeof BackupSessionSchema>;
export type RestoreSession = Static<typeof RestoreSessionSchema>;
export type RestoreBatch = Static<typeof RestoreBatchSchema>;

/** Any object of our kinds. */
export type StashObject =
  Repository | BackupConfiguration | BackupBatch | BackupSession | RestoreSession | RestoreBatch;
/** Kinds that schedule backups (BackupSession.spec.invoker.kind). */
export type BackupInvoker = BackupConfiguration | BackupBatch;
/** Kinds that run a restore. */
export type RestoreInvoker = RestoreSession | RestoreBatch;
/** Any kind with targets (members). */
export type Invoker = BackupInvoker | RestoreInvoker;

// Specs and statuses
export type RepositorySpec = Static<typeof RepositorySpecSchema>;
export type RepositoryStatus = Static<typeof RepositoryStatusSchema>;
export type BackupConfigurationSpec = Static<typeof BackupConfigurationSpecSchema>;
export type BackupConfigurationStatus = Static<typeof BackupConfigurationStatusSchema>;
export type BackupBatchSpec = Static<typeof BackupBatchSpecSchema>;
export type BackupBatchStatus = Static<typeof BackupBatchStatusSchema>;
export type BackupSessionSpec = Static<typeof BackupSessionSpecSchema>;
export type BackupSessionStatus = Static<typeof BackupSessionStatusSchema>;
export type RestoreSessionSpec = Static<typeof RestoreSessionSpecSchema>;
export type RestoreSessionStatus = Static<typeof RestoreSessionStatusSchema>;
export type RestoreBatchSpec = Static<typeof RestoreBatchSpecSchema>;
export type RestoreBatchStatus = Static<typeof RestoreBatchStatusSchema>;

// Nested
export type Condition = Static<typeof ConditionSchema>;
export type TargetRef = Static<typeof TargetRefSchema>;
export type RepositoryRef = Static<typeof RepositoryRefSchema>;
export type TaskRef = Static<typeof TaskRefSchema>;
export type BackupTarget = Static<typeof BackupTargetSchema>;
export type RestoreTarget = Static<typeof RestoreTargetSchema>;
export type Rule = Static<typeof RuleSchema>;
export type RuntimeSettings = Static<typeof RuntimeSettingsSchema>;
export type ContainerRuntimeSettings = Static<typeof ContainerRuntimeSettingsSchema>;
export type PodRuntimeSettings = Static<typeof PodRuntimeSettingsSchema>;
export type EmptyDirSettings = Static<typeof EmptyDirSettingsSchema>;
export type PVCTemplate = Static<typeof PVCTemplateSchema>;
export type RetentionPolicy = Static<typeof RetentionPolicySchema>;
export type RetryConfig = Static<typeof RetryConfigSchema>;
export type Handler = Static<typeof HandlerSchema>;
export type BackupHooks = Static<typeof BackupHooksSchema>;
export type RestoreHooks = Static<typeof RestoreHooksSchema>;
export type PostBackupHook = NonNullable<BackupHooks['postBackup']>;
export type PostRestoreHook = NonNullable<RestoreHooks['postRestore']>;
/** A BackupBatch member; BackupConfiguration.spec inlines the same fields. */
export type BackupConfigurationTemplateSpec = Static<typeof BackupConfigurationTemplateSpecSchema>;
/** A RestoreBatch member; RestoreSession.spec inlines the same fields. */
export type RestoreTargetSpec = Static<typeof RestoreTargetSpecSchema>;
export type MemberConditions = Static<typeof MemberConditionsSchema>;
export type BackupTargetStatus = Static<typeof BackupTargetStatusSchema>;
export type HostBackupStats = Static<typeof HostBackupStatsSchema>;
export type SnapshotStats = Static<typeof SnapshotStatsSchema>;
export type HostRestoreStats = Static<typeof HostRestoreStatsSchema>;
export type RestoreMemberStatus = Static<typeof RestoreMemberStatusSchema>;
export type Backend = Static<typeof BackendSchema>;
export type LocalSpec = Static<typeof LocalSpecSchema>;
export type S3Spec = Static<typeof S3SpecSchema>;
export type GCSSpec = Static<typeof GCSSpecSchema>;
export type AzureSpec = Static<typeof AzureSpecSchema>;
export type SwiftSpec = Static<typeof SwiftSpecSchema>;
export type B2Spec = Static<typeof B2SpecSchema>;
export type RestServerSpec = Static<typeof RestServerSpecSchema>;
export type UsagePolicy = Static<typeof UsagePolicySchema>;
