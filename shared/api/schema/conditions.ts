// Condition types and reasons (docs/api.md §10). Upstream tooling and dashboards match these strings, so they
// must stay byte-identical; code refers to CONDITION.x / REASON.y, never to literals.

export const CONDITION = {
  // invoker (BackupConfiguration, BackupBatch, RestoreSession, RestoreBatch)
  RepositoryFound: 'RepositoryFound',
  BackendSecretFound: 'BackendSecretFound',
  ValidationPassed: 'ValidationPassed',
  CronJobCreated: 'CronJobCreated',
  BackupTargetFound: 'BackupTargetFound',
  StashSidecarInjected: 'StashSidecarInjected',
  RestoreTargetFound: 'RestoreTargetFound',
  StashInitContainerInjected: 'StashInitContainerInjected',
  RestoreJobCreated: 'RestoreJobCreated',
  RestoreExecutorEnsured: 'RestoreExecutorEnsured',
  PreRestoreHookExecutionSucceeded: 'PreRestoreHookExecutionSucceeded',
  PostRestoreHookExecutionSucceeded: 'PostRestoreHookExecutionSucceeded',
  RestoreCompleted: 'RestoreCompleted',
  GlobalPreRestoreHookSucceeded: 'GlobalPreRestoreHookSucceeded',
  GlobalPostRestoreHookSucceeded: 'GlobalPostRestoreHookSucceeded',
  MetricsPushed: 'MetricsPushed',
  DeadlineExceeded: 'DeadlineExceeded',
  // BackupSession, session level
  BackendRepositoryInitialized: 'BackendRepositoryInitialized',
  RetentionPolicyApplied: 'RetentionPolicyApplied',
  RepositoryIntegrityVerified: 'RepositoryIntegrityVerified',
  RepositoryMetricsPushed: 'RepositoryMetricsPushed',
  GlobalPreBackupHookSucceeded: 'GlobalPreBackupHookSucceeded',
  GlobalPostBackupHookSucceeded: 'GlobalPostBackupHookSucceeded',
  BackupSkipped: 'BackupSkipped',
  BackupHistoryCleaned: 'BackupHistoryCleaned',
  // BackupSession, target level
  BackupExecutorEnsured: 'BackupExecutorEnsured',
  PreBackupHookExecutionSucceeded: 'PreBackupHookExecutionSucceeded',
  PostBackupHookExecutionSucceeded: 'PostBackupHookExecutionSucceeded',
  BackupDisrupted: 'BackupDisrupted',
} as const;
export type ConditionType = (typeof CONDITION)[keyof typeof CONDITION];

export const REASON = {
  RepositoryAvailable: 'RepositoryAvailable',
  RepositoryNotAvailable: 'RepositoryNotAvailable',
  UnableToCheckRepositoryAvailability: 'UnableToCheckRepositoryAvailability',
  BackendSecretAvailable: 'BackendSecretAvailable',
  BackendSecretNotAvailable: 'BackendSecretNotAvailable',
  UnableToCheckBackendSecretAvailability: 'UnableToCheckBackendSecretAvailability',
  ResourceValidationPassed: 'ResourceValidationPassed',
  ResourceValidationFailed: 'ResourceValidationFailed',
  CronJobCreationSucceeded: 'CronJobCreationSucceeded',
  CronJobCreationFailed: 'CronJobCreationFailed',
  TargetAvailable: 'TargetAvailable',
  TargetNotAvailable: 'TargetNotAvailable',
  UnableToCheckTargetAvailability: 'UnableToCheckTargetAvailability',
  SidecarInjectionSucceeded: 'SidecarInjectionSucceeded',
  SidecarInjectionFailed: 'SidecarInjectionFailed',
  InitContainerInjectionSucceeded: 'InitContainerInjectionSucceeded',
  InitContainerInjectionFailed: 'InitContainerInjectionFailed',
  RestoreJobCreationSucceeded: 'RestoreJobCreationSucceeded',
  RestoreJobCreationFailed: 'RestoreJobCreationFailed',
  SuccessfullyEnsuredRestoreExecutor: 'SuccessfullyEnsuredRestoreExecutor',
  FailedToEnsureRestoreExecutor: 'FailedToEnsureRestoreExecutor',
  SuccessfullyExecutedPreRestoreHook: 'SuccessfullyExecutedPreRestoreHook',
  FailedToExecutePreRestoreHook: 'FailedToExecutePreRestoreHook',
  SuccessfullyExecutedPostRestoreHook: 'SuccessfullyExecutedPostRestoreHook',
  FailedToExecutePostRestoreHook: 'FailedToExecutePostRestoreHook',
  PostRestoreTasksExecuted: 'PostRestoreTasksExecuted',
  PostRestoreTasksNotExecuted: 'PostRestoreTasksNotExecuted',
  GlobalPreRestoreHookExecutedSuccessfully: 'GlobalPreRestoreHookExecutedSuccessfully',
  GlobalPreRestoreHookExecutionFailed: 'GlobalPreRestoreHookExecutionFailed',
  GlobalPostRestoreHookExecutedSuccessfully: 'GlobalPostRestoreHookExecutedSuccessfully',
  GlobalPostRestoreHookExecutionFailed: 'GlobalPostRestoreHookExecutionFailed',
  SuccessfullyPushedMetrics: 'SuccessfullyPushedMetrics',
  FailedToPushMetrics: 'FailedToPushMetrics',
  FailedToCompleteWithinDeadline: 'FailedToCompleteWithinDeadline',
  BackendRepositoryFound: 'BackendRepositoryFound',
  FailedToInitializeBackendRepository: 'FailedToInitializeBackendRepository',
  SuccessfullyAppliedRetentionPolicy: 'SuccessfullyAppliedRetentionPolicy',
  FailedToApplyRetentionPolicy: 'FailedToApplyRetentionPolicy',
  SuccessfullyVerifiedRepositoryIntegrity: 'SuccessfullyVerifiedRepositoryIntegrity',
  FailedToVerifyRepositoryIntegrity: 'FailedToVerifyRepositoryIntegrity',
  SuccessfullyPushedRepositoryMetrics: 'SuccessfullyPushedRepositoryMetrics',
  FailedToPushRepositoryMetrics: 'FailedToPushRepositoryMetrics',
  GlobalPreBackupHookExecutedSuccessfully: 'GlobalPreBackupHookExecutedSuccessfully',
  GlobalPreBackupHookExecutionFailed: 'GlobalPreBackupHookExecutionFailed',
  GlobalPostBackupHookExecutedSuccessfully: 'GlobalPostBackupHookExecutedSuccessfully',
  GlobalPostBackupHookExecutionFailed: 'GlobalPostBackupHookExecutionFailed',
  SkippedTakingNewBackup: 'SkippedTakingNewBackup',
  SuccessfullyCleanedBackupHistory: 'SuccessfullyCleanedBackupHistory',
  FailedToCleanBackupHistory: 'FailedToCleanBackupHistory',
  SuccessfullyEnsuredBackupExecutor: 'SuccessfullyEnsuredBackupExecutor',
  FailedToEnsureBackupExecutor: 'FailedToEnsureBackupExecutor',
  SuccessfullyExecutedPreBackupHook: 'SuccessfullyExecutedPreBackupHook',
  FailedToExecutePreBackupHook: 'FailedToExecutePreBackupHook',
  SuccessfullyExecutedPostBackupHook: 'SuccessfullyExecutedPostBackupHook',
  FailedToExecutePostBackupHook: 'FailedToExecutePostBackupHook',
  FailedToCompleteDueToDisruption: 'FailedToCompleteDueToDisruption',
} as const;
export type ConditionReason = (typeof REASON)[keyof typeof REASON];

/**
 * Which reasons belong to which condition type, per docs/api.md §10; `true`/`false`/`unknown` are the reasons for that status.
 * Used to keep writers honest (a test checks every REASON appears here exactly where docs/api.md §10 puts it).
 */
export const CONDITION_REASONS: Record<
  ConditionType,
  { true?: ConditionReason; false?: ConditionReason; unknown?: ConditionReason }
> = {
  RepositoryFound: {
    true: REASON.RepositoryAvailable,
    false: REASON.RepositoryNotAvailable,
    unknown: REASON.UnableToCheckRepositoryAvailability,
  },
  BackendSecretFound: {
    true: REASON.BackendSecretAvailable,
    false: REASON.BackendSecretNotAvailable,
    unknown: REASON.UnableToCheckBackendSecretAvailability,
  },
  ValidationPassed: { true: REASON.ResourceValidationPassed, false: REASON.ResourceValidationFailed },
  CronJobCreated: { true: REASON.CronJobCreationSucceeded, false: REASON.CronJobCreationFailed },
  BackupTargetFound: {
    true: REASON.TargetAvailable,
    false: REASON.TargetNotAvailable,
    unknown: REASON.UnableToCheckTargetAvailability,
  },
  StashSidecarInjected: { true: REASON.SidecarInjectionSucceeded, false: REASON.SidecarInjectionFailed },
  RestoreTargetFound: {
    true: REASON.TargetAvailable,
    false: REASON.TargetNotAvailable,
    unknown: REASON.UnableToCheckTargetAvailability,
  },
  StashInitContainerInjected: {
    true: REASON.InitContainerInjectionSucceeded,
    false: REASON.InitContainerInjectionFailed,
  },
  RestoreJobCreated: { true: REASON.RestoreJobCreationSucceeded, false: REASON.RestoreJobCreationFailed },
  RestoreExecutorEnsured: {
    true: REASON.SuccessfullyEnsuredRestoreExecutor,
    false: REASON.FailedToEnsureRestoreExecutor,
  },
  PreRestoreHookExecutionSucceeded: {
    true: REASON.SuccessfullyExecutedPreRestoreHook,
    false: REASON.FailedToExecutePreRestoreHook,
  },
  PostRestoreHookExecutionSucceeded: {
    true: REASON.SuccessfullyExecutedPostRestoreHook,
    false: REASON.FailedToExecutePostRestoreHook,
  },
  RestoreCompleted: { true: REASON.PostRestoreTasksExecuted, false: REASON.PostRestoreTasksNotExecuted },
  GlobalPreRestoreHookSucceeded: {
    true: REASON.GlobalPreRestoreHookExecutedSuccessfully,
    false: REASON.GlobalPreRestoreHookExecutionFailed,
  },
  GlobalPostRestoreHookSucceeded: {
    true: REASON.GlobalPostRestoreHookExecutedSuccessfully,
    false: REASON.GlobalPostRestoreHookExecutionFailed,
  },
  MetricsPushed: { true: REASON.SuccessfullyPushedMetrics, false: REASON.FailedToPushMetrics },
  DeadlineExceeded: { true: REASON.FailedToCompleteWithinDeadline },
  BackendRepositoryInitialized: {
    true: REASON.BackendRepositoryFound,
    false: REASON.FailedToInitializeBackendRepository,
  },
  RetentionPolicyApplied: {
    true: REASON.SuccessfullyAppliedRetentionPolicy,
    false: REASON.FailedToApplyRetentionPolicy,
  },
  RepositoryIntegrityVerified: {
    true: REASON.SuccessfullyVerifiedRepositoryIntegrity,
    false: REASON.FailedToVerifyRepositoryIntegrity,
  },
  RepositoryMetricsPushed: {
    true: REASON.SuccessfullyPushedRepositoryMetrics,
    false: REASON.FailedToPushRepositoryMetrics,
  },
  GlobalPreBackupHookSucceeded: {
    true: REASON.GlobalPreBackupHookExecutedSuccessfully,
    false: REASON.GlobalPreBackupHookExecutionFailed,
  },
  GlobalPostBackupHookSucceeded: {
    true: REASON.GlobalPostBackupHookExecutedSuccessfully,
    false: REASON.GlobalPostBackupHookExecutionFailed,
  },
  BackupSkipped: { true: REASON.SkippedTakingNewBackup },
  BackupHistoryCleaned: { true: REASON.SuccessfullyCleanedBackupHistory, false: REASON.FailedToCleanBackupHistory },
  BackupExecutorEnsured: { true: REASON.SuccessfullyEnsuredBackupExecutor, false: REASON.FailedToEnsureBackupExecutor },
  PreBackupHookExecutionSucceeded: {
    true: REASON.SuccessfullyExecutedPreBackupHook,
    false: REASON.FailedToExecutePreBackupHook,
  },
  PostBackupHookExecutionSucceeded: {
    true: REASON.SuccessfullyExecutedPostBackupHook,
    false: REASON.FailedToExecutePostBackupHook,
  },
  BackupDisrupted: { true: REASON.FailedToCompleteDueToDisruption },
};
