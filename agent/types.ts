// The API types carry client-node's V1ObjectMeta (creationTimestamp: Date), while the wire — and our Kube
// client — has strings. Objects read through Kube are these: API shape, wire metadata.
import type {
  BackupBatch as ApiBackupBatch,
  BackupConfiguration as ApiBackupConfiguration,
  BackupSession as ApiBackupSession,
  Repository as ApiRepository,
  RestoreBatch as ApiRestoreBatch,
  RestoreSession as ApiRestoreSession,
} from '../shared/api/index.ts';
import type { KubeObject } from '../shared/kube/client.ts';

export type Wire<T> = Omit<T, 'metadata'> & { metadata?: KubeObject['metadata'] } & KubeObject;

export type BackupBatch = Wire<ApiBackupBatch>;
export type BackupConfiguration = Wire<ApiBackupConfiguration>;
export type BackupSession = Wire<ApiBackupSession>;
export type Repository = Wire<ApiRepository>;
export type RestoreBatch = Wire<ApiRestoreBatch>;
export type RestoreSession = Wire<ApiRestoreSession>;
export type BackupInvoker = BackupConfiguration | BackupBatch;
export type RestoreInvoker = RestoreSession | RestoreBatch;

export interface Secret extends KubeObject {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
