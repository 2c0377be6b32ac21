// The slices of the Stash kinds (docs/api.md §2–§8) and of core objects that admission reads. Admission sees
// whatever a client sent, so every field is optional here and every reader checks before trusting a value.
// The full schemas live in shared/api; these structural types are kept deliberately loose and compatible with it.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Obj = Record<string, unknown>;

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: unknown[];
  [key: string]: unknown;
}

export interface TargetRef {
  apiVersion?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

export interface VolumeMount {
  name?: string;
  mountPath?: string;
  subPath?: string;
  readOnly?: boolean;
  [key: string]: unknown;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}

export interface ContainerRuntimeSettings {
  resources?: Obj;
  livenessProbe?: Obj;
  readinessProbe?: Obj;
  lifecycle?: Obj;
  securityContext?: Obj;
  nice?: { adjustment?: number };
  ionice?: { class?: number; classData?: number };
  env?: EnvVar[];
  envFrom?: unknown[];
}

export interface RuntimeSettings {
  container?: ContainerRuntimeSettings;
  pod?: Obj;
}

export interface TempDir {
  medium?: string;
  sizeLimit?: string | number;
  disableCaching?: boolean;
}

export interface Handler {
  exec?: { command?: string[] };
  httpGet?: Obj;
  httpPost?: Obj;
  tcpSocket?: Obj;
  containerName?: string;
  executionPolicy?: string;
}

export interface BackupTarget {
  alias?: string;
  ref?: TargetRef;
  paths?: string[];
  exclude?: string[];
  volumeMounts?: VolumeMount[];
  replicas?: number;
  snapshotClassName?: string;
  args?: string[];
}

export interface RestoreRule {
  targetHosts?: string[];
  sourceHost?: string;
  paths?: string[];
  snapshots?: string[];
  include?: string[];
  exclude?: string[];
}

export interface RestoreTarget {
  alias?: string;
  ref?: TargetRef;
  volumeMounts?: VolumeMount[];
  replicas?: number;
  volumeClaimTemplates?: unknown[];
  rules?: RestoreRule[];
  args?: string[];
}

export interface MemberCommon {
  task?: { name?: string; params?: unknown[] };
  runtimeSettings?: RuntimeSettings;
  tempDir?: TempDir;
  interimVolumeTemplate?: Obj;
}

export interface BackupMember extends MemberCommon {
  target?: BackupTarget;
  hooks?: { preBackup?: Handler; postBackup?: Handler };
}

export interface RestoreMember extends MemberCommon {
  target?: RestoreTarget;
  hooks?: { preRestore?: Handler; postRestore?: Handler };
}

export interface RepositoryRef {
  name?: string;
  namespace?: string;
}

export interface BackupInvokerSpec extends BackupMember {
  members?: BackupMember[];
  schedule?: string;
  driver?: string;
  repository?: RepositoryRef;
  retentionPolicy?: Obj;
  paused?: boolean;
  backupHistoryLimit?: number;
  executionOrder?: string;
  timeOut?: string;
  retryConfig?: { maxRetry?: number; delay?: string };
}

export interface RestoreInvokerSpec extends RestoreMember {
  members?: RestoreMember[];
  driver?: string;
  repository?: RepositoryRef;
  rules?: RestoreRule[];
  executionOrder?: string;
  timeOut?: string;
}

/** A BackupConfiguration or BackupBatch. */
export interface BackupInvoker {
  apiVersion?: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: BackupInvokerSpec;
  status?: { phase?: string };
}

/** A RestoreSession or RestoreBatch. */
export interface RestoreInvoker {
  apiVersion?: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: RestoreInvokerSpec;
  status?: { phase?: string };
}

export interface LocalBackend {
  mountPath?: string;
  subPath?: string;
  [volumeSource: string]: unknown;
}

export interface Repository {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: {
    backend?: {
      storageSecretName?: string;
      local?: LocalBackend;
      s3?: Obj;
      gcs?: Obj & { maxConnections?: number };
      azure?: Obj & { maxConnections?: number };
      swift?: Obj;
      b2?: Obj & { maxConnections?: number };
      rest?: Obj;
    };
    wipeOut?: boolean;
    usagePolicy?: { allowedNamespaces?: { from?: string; selector?: Obj } };
  };
}

/** The identity of a workload as admission sees it. */
export interface WorkloadRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
}

/**
 * Invokers and repositories as the operator's informers hold them. Admission never calls the API: a webhook that
 * did would add an API round trip to every deploy and fail whenever the apiserver is slow. The loose types above
 * are used on purpose: informer caches hold whatever the apiserver stored, and admission checks before it trusts.
 */
export interface InvokerIndex {
  /** BackupConfigurations and BackupBatches with a target or member that names this workload. */
  backupInvokersFor(workload: WorkloadRef): BackupInvoker[];
  /** RestoreSessions and RestoreBatches with a target or member that names this workload. */
  restoreInvokersFor(workload: WorkloadRef): RestoreInvoker[];
  repository(namespace: string, name: string): Repository | undefined;
}
