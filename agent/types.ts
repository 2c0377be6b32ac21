// The kinds the agent reads: our API types as they are (shared/api/types.ts), plus the one core kind it reads.

export type {
  BackupBatch,
  BackupConfiguration,
  BackupInvoker,
  BackupSession,
  Repository,
  RestoreBatch,
  RestoreInvoker,
  RestoreSession,
} from '../shared/api/types.ts';

export type { SecretObject as Secret } from '../shared/kube/secret-values.ts';
