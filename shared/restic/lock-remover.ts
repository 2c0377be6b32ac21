// Deleting exactly one lock file through the backend (see locks.ts for when that is safe). Its own
// module so that the wrapper (command.ts, which cleans up after a child it interrupted) and the
// recovery policy (locks.ts, which drives the wrapper) do not import each other.
import { StashError } from '../errors.ts';
import type { DirectAccess } from './backend.ts';
import { deleteObject, hasDirectCredentials } from './backend-client.ts';
import type { LockInfo } from './output.ts';

export class LockRemovalError extends StashError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RESTIC_LOCK_REMOVAL_FAILED', message, options);
  }
}

/** Deletes exactly one lock file; resolves when it is gone (already gone counts as done). */
export type LockRemover = (lock: LockInfo) => Promise<void>;

/** A remover that talks to the backend directly (backend-client.ts), or undefined when it has no direct client. */
export function directLockRemover(access: DirectAccess): LockRemover | undefined {
  if (access.kind === 'unsupported') return undefined;
  if (access.kind === 's3' && !hasDirectCredentials(access)) {
    return () =>
      Promise.reject(
        new LockRemovalError(
          'deleting a single S3 lock needs AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the backend Secret',
        ),
      );
  }
  return async (lock) => {
    if (!/^[0-9a-f]{64}$/.test(lock.id))
      throw new LockRemovalError(`refusing to delete ${JSON.stringify(lock.id)}: not a lock id`);
    const short = lock.id.slice(0, 8);
    let status: number;
    try {
      status = await deleteObject(access, `locks/${lock.id}`, 30_000);
    } catch (err) {
      throw new LockRemovalError(
        `cannot delete lock ${short}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        { cause: err },
      );
    }
    if (status === 403 && access.kind === 'rest')
      throw new LockRemovalError(`REST server refused to delete lock ${short} (append-only mode?)`);
    if (status !== 200 && status !== 204 && status !== 404)
      throw new LockRemovalError(
        `${access.kind === 'rest' ? 'REST server' : 'S3'} answered ${status} deleting lock ${short}`,
      );
  };
}
