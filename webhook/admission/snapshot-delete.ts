// /validate-snapshot-delete: deleting a Snapshot forgets it in the backend, which takes restic's exclusive lock
// and may prune; while a session backs up into the Repository or a restore reads from it, the delete is refused
// with the reason (docs/decisions/0010-snapshots-as-custom-resources.md). The webhook is failurePolicy Ignore: the
// Snapshot loop asks the same question again before it forgets, so an operator outage never blocks a delete
// for good (nor a namespace deletion).
import { SNAPSHOT_GROUP } from '../../shared/api/snapshot.ts';
import { repositoryInUse, type RepositoryUsers } from '../repository-in-use.ts';
import { allowed, denied, type Handler } from './handlers.ts';

export function snapshotDeleteValidator(users: () => RepositoryUsers): Handler {
  return (r) => {
    if (r.kind.group !== SNAPSHOT_GROUP || r.operation !== 'DELETE') return allowed('not a Snapshot delete');
    const status = (r.oldObject?.status ?? {}) as { repository?: string; shortId?: string };
    const ns = r.namespace ?? '';
    if (!status.repository) return allowed('no repository');
    const busy = repositoryInUse(ns, status.repository, users());
    if (!busy) return allowed('repository idle');
    return denied(
      'repository in use',
      409,
      'Conflict',
      `Snapshot ${ns}/${r.name ?? ''} cannot be deleted now: forgetting it needs Repository ${status.repository} to itself, but ${busy}; delete it again once that has finished`,
    );
  };
}
