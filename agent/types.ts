// The kinds the agent reads: our API types as they are (shared/api/types.ts), plus the one core kind it reads.
import type { KubeObject } from '../shared/kube/client.ts';

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

export interface Secret extends KubeObject {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
