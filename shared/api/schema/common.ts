// Nested types shared by several kinds (docs/api.md §2).

import { Type, type TSchema } from '@sinclair/typebox';
import type { ObjectMeta } from '../meta.ts';
import {
  BACKUP_HOOK_EXECUTION_POLICIES,
  BACKUP_TARGET_PHASES,
  CONDITION_STATUSES,
  EMPTY_DIR_MEDIA,
  HOST_BACKUP_PHASES,
  HOST_RESTORE_PHASES,
  RESTORE_HOOK_EXECUTION_POLICIES,
  RESTORE_TARGET_PHASES,
} from './enums.ts';
import {
  Affinity,
  EnvFromSource,
  EnvVar,
  ExecAction,
  HTTPGetAction,
  HTTPHeader,
  Lifecycle,
  LocalObjectReference,
  PartialObjectMeta,
  PersistentVolumeClaimSpec,
  PodReadinessGate,
  PodSecurityContext,
  Probe,
  ResourceRequirements,
  SecurityContext,
  TCPSocketAction,
  Toleration,
  TopologySpreadConstraint,
  VolumeMount,
} from './core.ts';
import {
  arr,
  bool,
  describe,
  duration,
  int32,
  int64,
  intOrString,
  obj,
  quantity,
  req,
  str,
  strEnum,
  strMap,
  strs,
  time,
} from './helpers.ts';

/** docs/api.md §2.11 */
export const ConditionSchema = obj('Observed state of one aspect of the object; conditions are keyed by type.', {
  type: req(str('Condition type in CamelCase, e.g. RepositoryFound.')),
  status: req(strEnum(CONDITION_STATUSES, 'Status of the condition: True, False or Unknown.')),
  observedGeneration: int64('metadata.generation the condition was computed from.'),
  severity: str('How bad a False condition is (Error, Warning, Info); empty otherwise.'),
  lastTransitionTime: req(time('When the status last changed.')),
  reason: str('One-word CamelCase reason for the last transition, e.g. RepositoryAvailable.'),
  message: str('Human-readable details about the transition.'),
});

export const conditions = (description: string) => arr(description, ConditionSchema);

/** docs/api.md §2.1 */
export const TargetRefSchema = obj('Reference to the object a target stands for.', {
  apiVersion: str('API version of the referent, e.g. apps/v1, v1 or appcatalog.appscode.com/v1alpha1.'),
  kind: req(
    str(
      'Kind of the referent: Deployment, StatefulSet, DaemonSet, DeploymentConfig, PersistentVolumeClaim, AppBinding, …',
    ),
  ),
  name: req(str('Name of the referent.')),
  namespace: str("Namespace of the referent; defaults to the invoker's namespace."),
});

/** docs/api.md §2.12 */
export const RepositoryRefSchema = obj('The Repository (backend) to use.', {
  name: req(str('Name of the Repository.')),
  namespace: str(
    "Namespace of the Repository; defaults to the invoker's. Cross-namespace use must be allowed by the Repository's usagePolicy.",
  ),
});

/** docs/api.md §2.4 */
export const TaskRefSchema = obj(
  'The Task that performs backup or restore in a job. Leave empty for workloads (sidecar / init-container model); required for PVC and database targets.',
  {
    name: str('Name of the Task, e.g. pvc-backup, pvc-restore, mysql-backup-8.0.21.'),
    params: arr(
      'Parameters passed to the Task.',
      obj('A Task parameter.', {
        name: req(str('Parameter name.')),
        value: req(str('Parameter value.')),
      }),
    ),
  },
);

/** docs/api.md §2.5 */
export const ContainerRuntimeSettingsSchema = obj(
  'Settings for the Stash container (sidecar, init-container or job container).',
  {
    resources: ResourceRequirements,
    livenessProbe: describe(Probe, 'Liveness probe of the Stash container.'),
    readinessProbe: describe(Probe, 'Readiness probe of the Stash container.'),
    lifecycle: Lifecycle,
    securityContext: SecurityContext,
    nice: obj('CPU scheduling priority of restic and the dump/restore clients (`nice -n`).', {
      adjustment: int32('nice adjustment (-20 highest priority … 19 lowest); passed as NICE_ADJUSTMENT.'),
    }),
    ionice: obj('I/O scheduling of restic and the dump/restore clients (`ionice -c -n`).', {
      class: int32('ionice class (1 realtime, 2 best-effort, 3 idle); passed as IONICE_CLASS.'),
      classData: int32('Priority within the class (0 highest … 7 lowest); passed as IONICE_CLASS_DATA.'),
    }),
    env: arr('Extra environment variables for the Stash container.', EnvVar),
    envFrom: arr('ConfigMaps or Secrets exported as environment variables.', EnvFromSource),
  },
);

export const PodRuntimeSettingsSchema = obj(
  'Settings for pods Stash creates (backup/restore jobs and the trigger CronJob).',
  {
    podLabels: strMap('Labels added to the pod.'),
    podAnnotations: strMap('Annotations added to the pod.'),
    nodeSelector: strMap('Node labels the pod must match.'),
    serviceAccountName: str('ServiceAccount the pod runs as; Stash creates one with the needed RBAC when empty.'),
    serviceAccountAnnotations: strMap('Annotations for the ServiceAccount Stash creates (e.g. cloud IAM roles).'),
    automountServiceAccountToken: bool('Whether to mount the ServiceAccount token.'),
    nodeName: str('Schedule onto this node.'),
    securityContext: PodSecurityContext,
    imagePullSecrets: arr('Secrets for pulling the Stash image.', LocalObjectReference),
    affinity: Affinity,
    schedulerName: str('Scheduler that places the pod.'),
    tolerations: arr('Taints the pod tolerates.', Toleration),
    priorityClassName: str('PriorityClass of the pod.'),
    priority: int32('Pod priority value.'),
    readinessGates: arr('Extra readiness conditions.', PodReadinessGate),
    runtimeClassName: str('RuntimeClass to run the pod with.'),
    enableServiceLinks: bool('Inject Service environment variables.'),
    topologySpreadConstraints: arr('How the pods spread across topology domains.', TopologySpreadConstraint),
  },
);

export const RuntimeSettingsSchema = obj('Resource and scheduling settings for what Stash runs for this target.', {
  pod: PodRuntimeSettingsSchema,
  container: ContainerRuntimeSettingsSchema,
});

/** docs/api.md §2.6 */
export const EmptyDirSettingsSchema = obj('The stash-tmp-dir emptyDir used for temporary files and the restic cache.', {
  medium: strEnum(EMPTY_DIR_MEDIA, 'Storage medium of the directory: "" (node default) or Memory.'),
  sizeLimit: quantity('Size limit of the directory, e.g. 1Gi.'),
  disableCaching: bool('Run restic without its local cache (--no-cache).', { default: false }),
});

/** docs/api.md §2.7 and RestoreTarget.volumeClaimTemplates */
export const PVCTemplateSchema = obj('A PersistentVolumeClaim template.', {
  metadata: PartialObjectMeta,
  spec: PersistentVolumeClaimSpec,
});
export const InterimVolumeTemplateSchema = describe(
  PVCTemplateSchema,
  'PVC the operator creates (named <invoker>-<template name>) as scratch space at /stash-interim-volume for job-model targets that need it.',
);

/** docs/api.md §2.8 */
export const RetentionPolicySchema = obj(
  'Which snapshots to keep (restic forget), applied once per BackupSession to the whole repository.',
  {
    name: req(str('Name of the policy (free text).')),
    keepLast: int64('Keep the last N snapshots (--keep-last).'),
    keepHourly: int64('Keep the last N hourly snapshots (--keep-hourly).'),
    keepDaily: int64('Keep the last N daily snapshots (--keep-daily).'),
    keepWeekly: int64('Keep the last N weekly snapshots (--keep-weekly).'),
    keepMonthly: int64('Keep the last N monthly snapshots (--keep-monthly).'),
    keepYearly: int64('Keep the last N yearly snapshots (--keep-yearly).'),
    keepTags: strs('Keep snapshots carrying any of these tags (--keep-tag).'),
    prune: req(bool('Also remove data no longer referenced (--prune).')),
    dryRun: bool('Only report what would be removed (--dry-run).'),
  },
);

/** docs/api.md §2.9 */
export const RetryConfigSchema = obj('Retry a failed BackupSession. Without it, failed sessions are not retried.', {
  maxRetry: int32('Maximum number of retries after a failed session.', { default: 1, minimum: 0 }),
  delay: duration('How long to wait before a retry, as a Go duration (30s, 10m, 1h30m); empty retries immediately.'),
});

/** docs/api.md §2.10 */
const handlerProps = {
  exec: describe(
    ExecAction,
    'Run a command in a container of the executor pod; exit 0 is success. Entries may use Go templates ({{ .Status.Phase }} …).',
  ),
  httpGet: describe(
    HTTPGetAction,
    'Send an HTTP GET; a 2xx/3xx response is success. A missing host means the executor pod IP.',
  ),
  httpPost: obj('Send an HTTP POST with a body or a URL-encoded form; a 2xx/3xx response is success.', {
    path: str('Path to request.'),
    port: req(intOrString('Port number or name to connect to (a name needs containerName).')),
    host: str('Host to connect to; defaults to the executor pod IP.'),
    scheme: str('HTTP or HTTPS; defaults to HTTP.'),
    httpHeaders: arr('Custom headers to send.', HTTPHeader),
    body: str('Request body; may use Go templates ({{ .Status.Phase }} …).'),
    form: arr(
      'URL-encoded form fields.',
      obj('A form field.', {
        key: req(str('Field name.')),
        values: strs('Field values.'),
      }),
    ),
  }),
  tcpSocket: describe(TCPSocketAction, 'Check that a TCP port is open.'),
  containerName: str('Container that runs exec, or where a named port is resolved; defaults to the first container.'),
};

export const HandlerSchema = obj('A hook action; set exactly one of exec, httpGet, httpPost, tcpSocket.', handlerProps);

const postBackupHandler = obj('Hook run after backup; set exactly one of exec, httpGet, httpPost, tcpSocket.', {
  ...handlerProps,
  executionPolicy: strEnum(
    BACKUP_HOOK_EXECUTION_POLICIES,
    'When the hook runs: Always, OnSuccess, OnFailure, or OnFinalRetryFailure (failed with no retries left).',
    { default: 'Always' },
  ),
});

const postRestoreHandler = obj('Hook run after restore; set exactly one of exec, httpGet, httpPost, tcpSocket.', {
  ...handlerProps,
  executionPolicy: strEnum(RESTORE_HOOK_EXECUTION_POLICIES, 'When the hook runs: Always, OnSuccess or OnFailure.', {
    default: 'Always',
  }),
});

export const BackupHooksSchema = obj('Actions run before and after backup.', {
  preBackup: describe(HandlerSchema, 'Hook run before backup; if it fails the backup is not taken.'),
  postBackup: postBackupHandler,
});

export const RestoreHooksSchema = obj('Actions run before and after restore.', {
  preRestore: describe(HandlerSchema, 'Hook run before restore; if it fails the restore is not done.'),
  postRestore: postRestoreHandler,
});

/** docs/api.md §2.2 */
export const BackupTargetSchema = obj('What to back up and how.', {
  alias: str(
    "Identifier of this target's data in the repository; becomes the restic --host (with -<ordinal> or -<node> for StatefulSets and DaemonSets). Needed when several targets share a Repository.",
  ),
  ref: req(describe(TargetRefSchema, 'The object to back up.')),
  paths: strs('Directories to back up; one snapshot per path.'),
  exclude: strs('restic exclude patterns (Restic driver only).'),
  volumeMounts: arr(
    "Volumes of the workload to mount into the backup container, by the pod spec's volume name.",
    VolumeMount,
  ),
  replicas: int32('VolumeSnapshotter driver: how many StatefulSet replicas to snapshot.', { minimum: 0 }),
  snapshotClassName: str('VolumeSnapshotClass for the VolumeSnapshotter driver.'),
  args: strs('Extra arguments appended verbatim to restic backup.'),
});

/** docs/api.md §2.3 */
export const RuleSchema = obj('Which data a set of hosts restores.', {
  targetHosts: strs(
    'Hosts this rule applies to; empty makes it the fallback rule for every host without a specific rule.',
  ),
  sourceHost: str('Host whose backed-up data to restore; empty means the restoring host itself.'),
  paths: strs('Paths to restore, from the latest snapshot of each. Not together with snapshots.'),
  snapshots: strs('Snapshot IDs to restore (or latest). Not together with paths.'),
  include: strs('restic include patterns (Restic driver only).'),
  exclude: strs('restic exclude patterns (Restic driver only).'),
});

export const RestoreTargetSchema = obj('Where and what to restore.', {
  alias: str('Must equal the alias used at backup; derives this host name and the default source host.'),
  ref: describe(TargetRefSchema, 'The object to restore into; may be omitted when volumeClaimTemplates are used.'),
  volumeMounts: arr(
    'Volumes to mount into the restore container; the mount path must match the path backed up.',
    VolumeMount,
  ),
  replicas: int32('With volumeClaimTemplates: number of ordinals to create.', { minimum: 0 }),
  volumeClaimTemplates: arr(
    'PVCs to create and restore into; ${POD_ORDINAL} in names is replaced per ordinal.',
    PVCTemplateSchema,
  ),
  rules: arr('Per-host restore rules; a host with no matching rule restores nothing.', RuleSchema),
  args: strs('Extra arguments appended to restic restore.'),
});

/** Template part shared by BackupConfiguration.spec (inlined) and BackupBatch.spec.members[] (docs/api.md §4, §5). */
export const backupTemplateProps = {
  task: TaskRefSchema,
  runtimeSettings: RuntimeSettingsSchema,
  tempDir: EmptyDirSettingsSchema,
  interimVolumeTemplate: InterimVolumeTemplateSchema,
  hooks: describe(BackupHooksSchema, 'Hooks run for this target, before and after its backup.'),
};

export const BackupConfigurationTemplateSpecSchema = obj('One member of a batch: a target and how to back it up.', {
  ...backupTemplateProps,
  target: req(BackupTargetSchema),
});

/** RestoreSession.spec (inlined) and RestoreBatch.spec.members[] (docs/api.md §7, §8). */
export const restoreTargetProps = {
  task: TaskRefSchema,
  target: RestoreTargetSchema,
  runtimeSettings: RuntimeSettingsSchema,
  tempDir: EmptyDirSettingsSchema,
  interimVolumeTemplate: InterimVolumeTemplateSchema,
  hooks: describe(RestoreHooksSchema, 'Hooks run for this target, before and after its restore.'),
};

export const RestoreTargetSpecSchema = obj(
  'One member of a restore batch: a target and how to restore it.',
  restoreTargetProps,
);

/** docs/api.md §6 status */
export const SnapshotStatsSchema = obj('Result of one restic snapshot.', {
  name: str('Snapshot ID.'),
  path: str('Directory backed up (or the stdin file name).'),
  totalSize: str('Data processed, e.g. 12.345 MiB.'),
  uploaded: str('Data added to the repository, same format.'),
  processingTime: str('Time restic took, M:SS or H:MM:SS.'),
  fileStats: obj('File counts of the snapshot.', {
    totalFiles: int64('Files processed.'),
    newFiles: int64('Files new since the parent snapshot.'),
    modifiedFiles: int64('Files changed since the parent snapshot.'),
    unmodifiedFiles: int64('Files unchanged since the parent snapshot.'),
  }),
});

export const HostBackupStatsSchema = obj("One host's share of a backup.", {
  hostname: str('restic host name (alias, alias-<ordinal>, node name, host-0 …).'),
  phase: strEnum(HOST_BACKUP_PHASES, 'Outcome for this host: Succeeded or Failed.'),
  snapshots: arr('Snapshots taken, one per path.', SnapshotStatsSchema),
  duration: duration('How long the host took, as a Go duration.'),
  error: str('Why the host failed.'),
});

/** docs/api.md §6: restic's --json status of a host still at work, refreshed every few seconds. */
export const HostProgressSchema = obj(
  "A running host's progress, from restic's status lines; removed when it is final.",
  {
    hostname: str('restic host name, as in stats.'),
    percent: int32('Percent done (0-100), as restic estimates it.'),
    bytesDone: int64('Bytes processed so far.'),
    totalBytes: int64('Bytes to process, as far as restic has scanned.'),
    filesDone: int64('Files processed so far.'),
    totalFiles: int64('Files to process, as far as restic has scanned.'),
  },
);

export const BackupTargetStatusSchema = obj('Progress of one target in this session.', {
  ref: describe(TargetRefSchema, 'The target this entry is about.'),
  totalHosts: int32('Number of hosts expected to report.'),
  phase: strEnum(BACKUP_TARGET_PHASES, 'Phase of this target: Pending, Running, Succeeded or Failed.'),
  stats: arr('Per-host results.', HostBackupStatsSchema),
  progress: arr('Hosts still backing up, with their latest progress.', HostProgressSchema),
  preBackupActions: strs('Actions to run before the backup (InitializeBackendRepository).'),
  postBackupActions: strs(
    'Actions to run after the backup (ApplyRetentionPolicy, VerifyRepositoryIntegrity, SendRepositoryMetrics).',
  ),
  conditions: conditions('Target-level conditions.'),
});

/** docs/api.md §7, §8 status */
export const HostRestoreStatsSchema = obj("One host's share of a restore.", {
  hostname: str('restic host name this restore was done for.'),
  phase: strEnum(HOST_RESTORE_PHASES, 'Outcome for this host: Succeeded, Failed, Running or Unknown.'),
  duration: duration('How long the host took, as a Go duration.'),
  error: str('Why the host failed.'),
});

export const RestoreMemberStatusSchema = obj('Progress of one member of the restore batch.', {
  ref: req(describe(TargetRefSchema, 'The member this entry is about.')),
  conditions: conditions('Member-level conditions.'),
  totalHosts: int32('Number of hosts that will restore.'),
  phase: strEnum(RESTORE_TARGET_PHASES, 'Phase of this member: Pending, Running, Succeeded, Failed or Unknown.'),
  stats: arr('Per-host results.', HostRestoreStatsSchema),
});

/**
 * A whole object of one of our kinds. metadata is only `type: object`: the apiserver owns its schema and rejects
 * anything more in a CRD.
 */
export function kindSchema<Spec extends TSchema, Status extends TSchema>(
  description: string,
  spec: Spec,
  status: Status,
) {
  return obj(description, {
    apiVersion: str('Versioned schema of this object, e.g. stash.appscode.com/v1beta1.'),
    kind: str('Kind of this object.'),
    metadata: Type.Unsafe<ObjectMeta>({ type: 'object' }),
    spec: req(spec),
    status,
  });
}

export const sessionDeadline = () => time('Deadline of the session (creation time + spec.timeOut).');
export const timeOut = () =>
  duration('Deadline for the whole session, as a Go duration (30m, 1h30m) counted from its creation; no default.');
