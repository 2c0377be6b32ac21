// Every enumerated string of the API (docs/api.md §9), as const tuples: the schemas build their `enum` from these
// and code compares against them, so a value can only be spelled one way.

export const DRIVERS = ['Restic', 'VolumeSnapshotter'] as const;
export type Driver = (typeof DRIVERS)[number];

export const EXECUTION_ORDERS = ['Parallel', 'Sequential'] as const;
export type ExecutionOrder = (typeof EXECUTION_ORDERS)[number];

/** Post-restore hooks accept the first three; post-backup hooks also `OnFinalRetryFailure`. */
export const RESTORE_HOOK_EXECUTION_POLICIES = ['Always', 'OnSuccess', 'OnFailure'] as const;
export const BACKUP_HOOK_EXECUTION_POLICIES = ['Always', 'OnSuccess', 'OnFailure', 'OnFinalRetryFailure'] as const;
export type HookExecutionPolicy = (typeof BACKUP_HOOK_EXECUTION_POLICIES)[number];

export const BACKUP_INVOKER_PHASES = ['Ready', 'NotReady', 'Invalid'] as const;
export type BackupInvokerPhase = (typeof BACKUP_INVOKER_PHASES)[number];

export const BACKUP_SESSION_PHASES = ['Pending', 'Skipped', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;
export type BackupSessionPhase = (typeof BACKUP_SESSION_PHASES)[number];

export const BACKUP_TARGET_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed'] as const;
export type BackupTargetPhase = (typeof BACKUP_TARGET_PHASES)[number];

export const HOST_BACKUP_PHASES = ['Succeeded', 'Failed'] as const;
export type HostBackupPhase = (typeof HOST_BACKUP_PHASES)[number];

export const RESTORE_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown', 'Invalid'] as const;
export type RestorePhase = (typeof RESTORE_PHASES)[number];

/** Upstream's schema lists four values but its code also writes `Unknown`, so we accept it. */
export const RESTORE_TARGET_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;
export type RestoreTargetPhase = (typeof RESTORE_TARGET_PHASES)[number];

export const HOST_RESTORE_PHASES = ['Succeeded', 'Failed', 'Running', 'Unknown'] as const;
export type HostRestorePhase = (typeof HOST_RESTORE_PHASES)[number];

export const NAMESPACE_FROM = ['Same', 'All', 'Selector'] as const;
export type NamespaceFrom = (typeof NAMESPACE_FROM)[number];

export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;
export type ConditionStatus = (typeof CONDITION_STATUSES)[number];

export const EMPTY_DIR_MEDIA = ['', 'Memory'] as const;
