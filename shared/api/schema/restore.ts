// RestoreSession and RestoreBatch, stash.appscode.com/v1beta1 (docs/api.md §7, §8).

import { DRIVERS, EXECUTION_ORDERS, RESTORE_PHASES } from './enums.ts';
import { arr, describe, duration, int32, obj, strEnum } from './helpers.ts';
import {
  HostRestoreStatsSchema,
  RepositoryRefSchema,
  RestoreHooksSchema,
  RestoreMemberStatusSchema,
  RestoreTargetSpecSchema,
  RuleSchema,
  conditions,
  kindSchema,
  restoreTargetProps,
  sessionDeadline,
  timeOut,
} from './common.ts';

const driver = () =>
  strEnum(DRIVERS, 'How data is restored: Restic (default) or VolumeSnapshotter (from CSI VolumeSnapshots).', {
    default: 'Restic',
  });
const phase = () =>
  strEnum(
    RESTORE_PHASES,
    'Pending, Running, Succeeded, Failed, Unknown or Invalid; derived from members and conditions.',
  );

export const RestoreSessionSpecSchema = obj('What to restore, from where, into what. Immutable after creation.', {
  ...restoreTargetProps,
  driver: driver(),
  repository: describe(RepositoryRefSchema, 'The Repository to restore from.'),
  rules: arr('Deprecated: use target.rules (moved there on admission).', RuleSchema),
  timeOut: timeOut(),
});

export const RestoreSessionStatusSchema = obj('Progress of the restore.', {
  phase: phase(),
  totalHosts: int32('Number of hosts that will restore.'),
  sessionDuration: duration('Time from creation to the final phase, as a Go duration.'),
  sessionDeadline: sessionDeadline(),
  stats: arr('Per-host results.', HostRestoreStatsSchema),
  conditions: conditions(
    'RepositoryFound, BackendSecretFound, ValidationPassed, RestoreTargetFound, StashInitContainerInjected or RestoreJobCreated, RestoreExecutorEnsured, {Pre,Post}RestoreHookExecutionSucceeded, RestoreCompleted, MetricsPushed, DeadlineExceeded.',
  ),
});

export const RestoreSessionSchema = kindSchema(
  'A one-off restore of one target from a Repository.',
  RestoreSessionSpecSchema,
  RestoreSessionStatusSchema,
);

export const RestoreBatchSpecSchema = obj('What to restore for each member of an application, from one Repository.', {
  driver: driver(),
  repository: describe(RepositoryRefSchema, 'The Repository shared by all members.'),
  members: arr(
    'The targets to restore, each with its own task, runtime settings and local hooks.',
    RestoreTargetSpecSchema,
  ),
  executionOrder: strEnum(
    EXECUTION_ORDERS,
    'Parallel: all members restore at once. Sequential: a member starts once every earlier member has finished.',
    { default: 'Parallel' },
  ),
  hooks: describe(
    RestoreHooksSchema,
    'Global hooks, run by the operator before the first member starts and after all have finished.',
  ),
  timeOut: timeOut(),
});

export const RestoreBatchStatusSchema = obj('Progress of the batch restore.', {
  phase: phase(),
  sessionDuration: duration('Time from creation to the final phase, as a Go duration.'),
  sessionDeadline: sessionDeadline(),
  conditions: conditions(
    'RepositoryFound, BackendSecretFound, ValidationPassed, GlobalPreRestoreHookSucceeded, GlobalPostRestoreHookSucceeded, MetricsPushed, DeadlineExceeded.',
  ),
  members: arr('One entry per member, keyed by ref.', RestoreMemberStatusSchema),
});

export const RestoreBatchSchema = kindSchema(
  'A one-off restore of several co-related targets (one application) from one Repository.',
  RestoreBatchSpecSchema,
  RestoreBatchStatusSchema,
);
