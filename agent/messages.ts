// Turns a failure into a sentence a person can act on: what failed, where, and what to check. Restic's own
// text (already redacted by the wrapper) is kept at the end for the details.
import {
  BackendAccessDeniedError,
  BackendUnreachableError,
  CancelledError,
  LockedError,
  PartialBackupError,
  RepositoryMissingError,
  RetentionPolicyError,
  WrongPasswordError,
} from '../shared/restic/errors.ts';
import { errorMessage } from '../shared/errors.ts';

export interface Where {
  repository: string;
  secret?: string;
}

export function actionable(err: unknown, where: Where): string {
  const detail = errorMessage(err);
  const secret = where.secret ? `Secret ${where.secret}` : 'the storage Secret';
  if (err instanceof WrongPasswordError) {
    return `wrong repository password: RESTIC_PASSWORD in ${secret} does not open the repository at ${where.repository}; restore the original password or point the Repository at a new location (${detail})`;
  }
  if (err instanceof BackendUnreachableError) {
    return `backend unreachable: cannot connect to ${where.repository}; check the endpoint/URL in the Repository (spec.backend), the network path and TLS settings (${detail})`;
  }
  if (err instanceof BackendAccessDeniedError) {
    const keys = err.secretKeys.length > 0 ? err.secretKeys.join(' and ') : 'the access keys or username/password';
    return `backend refused the credentials in ${secret} for ${where.repository}; check ${keys} in ${secret} (${detail})`;
  }
  if (err instanceof RepositoryMissingError) {
    return `no restic repository at ${where.repository}: it has not been initialised yet or the Repository points at the wrong place (${detail})`;
  }
  if (err instanceof LockedError) {
    const h = err.holder;
    return `repository ${where.repository} is locked${h ? ` by PID ${h.pid} on ${h.hostname}` : ''}, and that holder is still alive; wait for it to finish or stop it (${detail})`;
  }
  if (err instanceof PartialBackupError) {
    return `some files could not be read (a snapshot was still written); check file permissions under the target paths (${detail})`;
  }
  if (err instanceof RetentionPolicyError) {
    return `${detail}; fix spec.retentionPolicy of the invoker`;
  }
  if (err instanceof CancelledError) {
    return `restic was stopped before it finished (${detail}); the next session will retry`;
  }
  return detail;
}
