// Names that must match upstream Stash exactly (docs/api.md §1, §11) so a Stash user's manifests,
// labels and tooling keep working. Everything else in the code refers to these, never to literals.

export const GROUP = 'stash.appscode.com';
/** Where database members live (AppBinding, appcatalog.appscode.com). */
export const APPBINDING_API_VERSION = 'appcatalog.appscode.com/v1alpha1';
export const V1ALPHA1 = 'v1alpha1';
export const V1BETA1 = 'v1beta1';

export interface KindInfo {
  kind: string;
  version: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories: string[];
  /** Cluster-scoped kinds only; every other kind is namespaced. */
  scope?: 'Cluster';
}

export const KINDS = {
  Repository: {
    kind: 'Repository',
    version: V1ALPHA1,
    plural: 'repositories',
    singular: 'repository',
    shortNames: ['repo'],
    categories: ['stash', 'appscode'],
  },
  BackupConfiguration: {
    kind: 'BackupConfiguration',
    version: V1BETA1,
    plural: 'backupconfigurations',
    singular: 'backupconfiguration',
    shortNames: ['bc'],
    categories: ['stash', 'appscode', 'all'],
  },
  BackupBatch: {
    kind: 'BackupBatch',
    version: V1BETA1,
    plural: 'backupbatches',
    singular: 'backupbatch',
    shortNames: [],
    categories: ['stash', 'appscode', 'all'],
  },
  BackupSession: {
    kind: 'BackupSession',
    version: V1BETA1,
    plural: 'backupsessions',
    singular: 'backupsession',
    shortNames: [],
    categories: ['stash', 'appscode', 'all'],
  },
  RestoreSession: {
    kind: 'RestoreSession',
    version: V1BETA1,
    plural: 'restoresessions',
    singular: 'restoresession',
    shortNames: ['restore'],
    categories: ['stash', 'appscode', 'all'],
  },
  RestoreBatch: {
    kind: 'RestoreBatch',
    version: V1BETA1,
    plural: 'restorebatches',
    singular: 'restorebatch',
    shortNames: [],
    categories: ['stash', 'appscode', 'all'],
  },
  BackupBlueprint: {
    kind: 'BackupBlueprint',
    version: V1BETA1,
    plural: 'backupblueprints',
    singular: 'backupblueprint',
    shortNames: [],
    categories: ['stash', 'appscode'],
    scope: 'Cluster',
  },
} as const satisfies Record<string, KindInfo>;

export type StashKind = keyof typeof KINDS;

export function apiVersionOf(kind: StashKind): string {
  return `${GROUP}/${KINDS[kind].version}`;
}

export const FINALIZER = 'stash.appscode.com';

/** Upstream's Repository finalizer (apis.RepositoryFinalizer): held until the data is wiped or kept (docs/api.md §3). */
export const REPOSITORY_FINALIZER = 'stash';

export const ANNOTATION = {
  lastAppliedBackupInvoker: 'stash.appscode.com/last-applied-backup-invoker',
  lastAppliedBackupInvokerKind: 'stash.appscode.com/last-applied-backup-invoker-kind',
  lastAppliedBackupInvokerHash: 'stash.appscode.com/last-applied-backup-invoker-hash',
  lastAppliedRestoreInvoker: 'stash.appscode.com/last-applied-restore-invoker',
  lastAppliedRestoreInvokerKind: 'stash.appscode.com/last-applied-restore-invoker-kind',
  lastAppliedRestoreInvokerHash: 'stash.appscode.com/last-applied-restore-invoker-hash',
} as const;

export const LABEL = {
  invokerType: 'stash.appscode.com/invoker-type',
  invokerName: 'stash.appscode.com/invoker-name',
  targetKind: 'stash.appscode.com/target-kind',
  targetName: 'stash.appscode.com/target-name',
  targetNamespace: 'stash.appscode.com/target-namespace',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  deleteJobOnCompletion: 'stash.appscode.com/delete-job-on-completion',
  /** Upstream's older label naming a session's BackupConfiguration (the instant-backup guide's session carries it). */
  legacyBackupConfiguration: 'stash.appscode.com/backup-configuration',
} as const;

export const LABEL_VALUE = {
  componentBackup: 'stash-backup',
  componentRestore: 'stash-restore',
  managedBy: 'stash.appscode.com',
} as const;

export const CONTAINER = {
  sidecar: 'stash',
  initContainer: 'stash-init',
  trigger: 'stash-trigger',
} as const;

export const VOLUME = {
  tmpDir: 'stash-tmp-dir',
  tmpDirMountPath: '/stash-tmp',
  resticCache: '/stash-tmp/restic-cache',
  interim: 'stash-interim-volume',
  interimMountPath: '/stash-interim-volume',
  jobTarget: 'stash-volume',
  jobTargetMountPath: '/stash-data',
} as const;

export const PRE_BACKUP_ACTIONS = ['InitializeBackendRepository'] as const;
export const POST_BACKUP_ACTIONS = [
  'ApplyRetentionPolicy',
  'VerifyRepositoryIntegrity',
  'SendRepositoryMetrics',
] as const;

/** Lease that elects the one backing-up (or restoring) pod of a workload, per docs/api.md §11. */
export function leaseName(kind: string, name: string, purpose: 'backup' | 'restore'): string {
  return `lock-${kind}-${name}-${purpose}`.toLowerCase();
}

// The condition catalogue (docs/api.md §10) is plain data too; re-exported here so light callers (the agent) need not load
// the TypeBox schemas behind shared/api/index.ts.
export { CONDITION, REASON } from './schema/conditions.ts';
