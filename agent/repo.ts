// What the agent needs from restic for one repository, in its own terms. The implementation (below,
// openRepo) builds on shared/restic; keeping the agent behind this small interface lets sidecar/restore
// be read without restic details and lets the lock-holder policy live in one place (locks.ts).
import type { BackupResult, BackupStatus, Snapshot } from '../shared/restic/output.ts';
import type { SnapshotStats } from '../shared/restic/format.ts';
import type { RetentionPolicy } from '../shared/restic/retention.ts';
import type { Restic } from '../shared/restic/command.ts';

export interface BackupOptions {
  host: string;
  exclude?: string[];
  args?: string[];
  signal?: AbortSignal;
  /** Every restic status line (about one a second). */
  onProgress?: (s: BackupStatus) => void;
}

export interface RestoreOptions {
  /** a snapshot id or "latest" */
  snapshot: string;
  host?: string;
  path?: string;
  include?: string[];
  exclude?: string[];
  args?: string[];
  target: string;
  signal?: AbortSignal;
}

export interface ForgetOutcome {
  kept: number;
  removed: number;
}

export interface RepoStats {
  totalSize: number;
  snapshotCount: number;
}

export interface RepoOps {
  /** Location without credentials, for messages. */
  readonly display: string;
  /** Fails fast (BackendUnreachableError) when a network backend does not accept connections. */
  preflight(): Promise<void>;
  /** Cheap existence check straight at the backend (no restic); undefined when it cannot tell. */
  exists(): Promise<boolean | undefined>;
  /** restic init unless the repository exists; true when it was created now. */
  ensureInitialized(): Promise<boolean>;
  /**
   * Removes locks whose holder is provably gone; waits (up to the context's lockWaitMs) for live holders of
   * conflicting locks; throws naming the holder when they do not go away. Commands also recover by themselves
   * when restic reports the repository locked, so the happy path runs no extra restic command.
   */
  recoverLocks(opts: { exclusive: boolean }): Promise<void>;
  backup(path: string, opts: BackupOptions): Promise<{ result: BackupResult; stats: SnapshotStats }>;
  restore(opts: RestoreOptions): Promise<void>;
  snapshots(filter: { host?: string; path?: string }): Promise<Snapshot[]>;
  forget(policy: RetentionPolicy): Promise<ForgetOutcome>;
  check(): Promise<{ ok: boolean; errors: string[] }>;
  stats(): Promise<RepoStats>;
  /**
   * Runs `fn` with the repository's restic wrapper under the same holder-aware lock recovery as the other
   * commands: for stream backups and restores (database dumps) whose producer/consumer the caller owns.
   */
  withRestic<T>(fn: (restic: Restic) => Promise<T>): Promise<T>;
  /** Deletes the scratch files derived from the Secret. */
  close(): Promise<void>;
}
