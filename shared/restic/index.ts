// The restic wrapper's public surface (see command.ts for the rules it enforces, locks.ts for locks).
export {
  Restic,
  type ResticOptions,
  type BackupOptions,
  type StdinBackupOptions,
  type StdinFeed,
  type ConsumerCommand,
  type DumpOptions,
  type RestoreOptions,
  type ForgetOptions,
  type ForgetResult,
  type SnapshotFilter,
  type CallOptions,
  type RunResult,
} from './command.ts';
export {
  resolveRepository,
  backendKindOf,
  ResolvedRepository,
  type BackendSpec,
  type BackendKind,
  type SecretData,
  type DirectAccess,
} from './backend.ts';
export * from './errors.ts';
export { classify } from './classify.ts';
export * from './output.ts';
export { hostFor, ordinalOf, restoreHostForTemplates, type HostInput, type TargetKind } from './host.ts';
export { retentionFlags, retentionProblems, validateRetention, type RetentionPolicy } from './retention.ts';
export { formatBytes, formatSeconds, formatGoDuration, snapshotStats, type SnapshotStats } from './format.ts';
export {
  recoverLocks,
  withLockRecovery,
  localHolderAlive,
  describeLock,
  RESTIC_STALE_AFTER_MS,
  type LockRecoveryOptions,
} from './locks.ts';
export { directLockRemover, LockRemovalError, type LockRemover } from './lock-remover.ts';
export { probeRepository, backendRequest, endpointOf, tcpProblem, type RepositoryProbe } from './backend-client.ts';
export { parseVersion, atLeast, featuresOf, type ResticVersion, type Features } from './version.ts';
export { makeRedactor, type Redactor } from './redact.ts';
export {
  ownMemoryCounters,
  parseOomKillCount,
  parseMemoryLimit,
  wasOomKilled,
  quantity,
  type MemoryCounters,
} from './memory-cgroup.ts';
