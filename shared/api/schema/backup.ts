// BackupConfiguration, BackupBatch and BackupSession, stash.appscode.com/v1beta1 (docs/api.md §4–§6).

import { BACKUP_INVOKER_PHASES, BACKUP_SESSION_PHASES, DRIVERS, EXECUTION_ORDERS } from './enums.ts';
import { arr, bool, describe, duration, int32, int64, obj, req, str, strEnum, time } from './helpers.ts';
import {
  BackupConfigurationTemplateSpecSchema,
  BackupHooksSchema,
  BackupTargetSchema,
  BackupTargetStatusSchema,
  RepositoryRefSchema,
  RetentionPolicySchema,
  RetryConfigSchema,
  RuntimeSettingsSchema,
  TargetRefSchema,
  backupTemplateProps,
  conditions,
  kindSchema,
  sessionDeadline,
  timeOut,
} from './common.ts';

/** Fields every backup invoker has (docs/api.md §4 "invoker part", §5). */
const invokerProps = {
  schedule: str('Cron schedule (5 fields, e.g. "*/5 * * * *") at which the trigger CronJob creates a BackupSession.'),
  driver: strEnum(
    DRIVERS,
    'How backups are taken: Restic (file-level, default) or VolumeSnapshotter (CSI VolumeSnapshots).',
    {
      default: 'Restic',
    },
  ),
  repository: RepositoryRefSchema,
  retentionPolicy: req(RetentionPolicySchema),
  paused: bool('Stop scheduling new BackupSessions (suspends the CronJob); the workload is not restarted.', {
    default: false,
  }),
  backupHistoryLimit: int32('How many finished BackupSessions (with their Jobs and PVCs) to keep.', {
    default: 1,
    minimum: 0,
  }),
  timeOut: timeOut(),
  retryConfig: RetryConfigSchema,
};

const invokerStatusProps = {
  observedGeneration: int64('metadata.generation last processed by the operator.'),
  phase: strEnum(
    BACKUP_INVOKER_PHASES,
    'Ready once all conditions hold, NotReady while waiting, Invalid when validation failed.',
  ),
};

export const BackupConfigurationSpecSchema = obj('Desired backup of one target.', {
  ...backupTemplateProps,
  // Upstream leaves target optional, but a BackupConfiguration without one has nothing to do; requiring it
  // lets every consumer rely on spec.target.ref.
  target: req(BackupTargetSchema),
  ...invokerProps,
  runtimeSettings: describe(
    RuntimeSettingsSchema,
    'Runtime settings for the backup container (sidecar or job) and the trigger CronJob.',
  ),
});

export const BackupConfigurationStatusSchema = obj('Observed state of the BackupConfiguration.', {
  ...invokerStatusProps,
  conditions: conditions(
    'RepositoryFound, BackendSecretFound, ValidationPassed, BackupTargetFound, StashSidecarInjected (sidecar model), CronJobCreated.',
  ),
});

export const BackupConfigurationSchema = kindSchema(
  'Scheduled backup of one target (workload, PVC or database) into a Repository.',
  BackupConfigurationSpecSchema,
  BackupConfigurationStatusSchema,
);

export const MemberConditionsSchema = obj('Conditions of one batch member.', {
  target: req(describe(TargetRefSchema, 'The member these conditions are about.')),
  conditions: conditions('BackupTargetFound, StashSidecarInjected.'),
});

export const BackupBatchSpecSchema = obj(
  'Desired backup of several co-related targets (one application) as one unit.',
  {
    members: arr(
      'The targets to back up, each with its own task, runtime settings and local hooks.',
      BackupConfigurationTemplateSpecSchema,
    ),
    ...invokerProps,
    repository: describe(
      RepositoryRefSchema,
      'The one Repository shared by all members; members are told apart by host (alias).',
    ),
    retentionPolicy: req(
      describe(RetentionPolicySchema, 'Snapshots to keep; applied once per BackupSession to the whole repository.'),
    ),
    runtimeSettings: describe(RuntimeSettingsSchema, 'Runtime settings for the trigger CronJob only.'),
    hooks: describe(
      BackupHooksSchema,
      'Global hooks, run by the operator before the first member starts and after all have finished.',
    ),
    executionOrder: strEnum(
      EXECUTION_ORDERS,
      'Parallel: all members back up at once. Sequential: a member starts once every earlier member has Succeeded or Failed.',
      { default: 'Parallel' },
    ),
  },
);

export const BackupBatchStatusSchema = obj('Observed state of the BackupBatch.', {
  ...invokerStatusProps,
  conditions: conditions('RepositoryFound, BackendSecretFound, ValidationPassed, CronJobCreated.'),
  memberConditions: arr('Per-member conditions (not used to compute phase).', MemberConditionsSchema),
});

export const BackupBatchSchema = kindSchema(
  'Scheduled backup of several co-related targets (e.g. a WordPress Deployment and its MySQL database) into one Repository.',
  BackupBatchSpecSchema,
  BackupBatchStatusSchema,
);

export const BackupSessionSpecSchema = obj('What this backup run belongs to. Immutable.', {
  invoker: obj('The BackupConfiguration or BackupBatch this session runs.', {
    apiGroup: str('API group of the invoker: stash.appscode.com.'),
    kind: req(str('BackupConfiguration or BackupBatch.')),
    name: req(str('Name of the invoker, in the session namespace.')),
  }),
  retryLeft: int32('Retries still allowed if this session fails; starts at retryConfig.maxRetry.', { minimum: 0 }),
});

export const BackupSessionStatusSchema = obj('Progress of this backup run.', {
  phase: strEnum(
    BACKUP_SESSION_PHASES,
    'Pending, Skipped, Running, Succeeded, Failed or Unknown; derived from targets and conditions.',
  ),
  sessionDuration: duration('Time from creation to the final phase, as a Go duration.'),
  sessionDeadline: sessionDeadline(),
  retried: bool('A retry session has been created for this failed session.'),
  nextRetry: time('When the retry session will be created.'),
  conditions: conditions(
    'Session-level conditions: BackendRepositoryInitialized, RetentionPolicyApplied, RepositoryIntegrityVerified, RepositoryMetricsPushed, Global{Pre,Post}BackupHookSucceeded, BackupSkipped, BackupHistoryCleaned, MetricsPushed, DeadlineExceeded.',
  ),
  targets: arr('One entry per target, keyed by ref.', BackupTargetStatusSchema),
});

export const BackupSessionSchema = kindSchema(
  'One backup run of a BackupConfiguration or BackupBatch, created by its CronJob, by a retry, or by hand.',
  BackupSessionSpecSchema,
  BackupSessionStatusSchema,
);
