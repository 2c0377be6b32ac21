// Whether a Repository is busy (docs/decisions/0010-snapshots-as-custom-resources.md): a snapshot must not be
// forgotten (restic forget + prune, an exclusive lock) while a backup session writes to the repository or a
// restore reads from it. One pure rule, asked by admission (to refuse the delete, naming the user of the
// repository) and again by the Snapshot loop before it forgets (the webhook may have been bypassed or down).
import type { Logger } from 'pino';
import { GROUP, KINDS } from '../shared/api/constants.ts';
import type { Kube, KubeObject } from '../shared/kube/client.ts';
import { Informer } from '../shared/kube/informer.ts';

type Loose = KubeObject & {
  spec?: { repository?: { name?: string; namespace?: string }; invoker?: { kind?: string; name?: string } };
  status?: { phase?: string };
};

const SESSION_FINAL = new Set(['Succeeded', 'Failed', 'Skipped', 'Unknown']);
const RESTORE_FINAL = new Set(['Succeeded', 'Failed', 'Unknown', 'Invalid']);

export interface RepositoryUsers {
  backupInvokers: readonly KubeObject[];
  backupSessions: readonly KubeObject[];
  restores: readonly KubeObject[];
}

function uses(o: Loose, namespace: string, name: string): boolean {
  const r = o.spec?.repository;
  return r?.name === name && (r.namespace || o.metadata?.namespace) === namespace;
}

/** Why the Repository `namespace/name` is in use right now, or undefined when nothing uses it. */
export function repositoryInUse(namespace: string, name: string, users: RepositoryUsers): string | undefined {
  for (const r of users.restores as Loose[]) {
    if (uses(r, namespace, name) && !RESTORE_FINAL.has(r.status?.phase ?? ''))
      return `${r.kind} ${r.metadata?.namespace}/${r.metadata?.name} is restoring from it (phase ${r.status?.phase || 'Pending'})`;
  }
  const invokers = new Set(
    (users.backupInvokers as Loose[])
      .filter((i) => uses(i, namespace, name))
      .map((i) => `${i.kind}/${i.metadata?.namespace}/${i.metadata?.name}`),
  );
  for (const s of users.backupSessions as Loose[]) {
    const inv = `${s.spec?.invoker?.kind}/${s.metadata?.namespace}/${s.spec?.invoker?.name}`;
    if (invokers.has(inv) && !SESSION_FINAL.has(s.status?.phase ?? ''))
      return `BackupSession ${s.metadata?.namespace}/${s.metadata?.name} is backing up into it (phase ${s.status?.phase || 'Pending'})`;
  }
  return undefined;
}

/** BackupSessions as the rule reads them (invoker and phase only: the cache keeps nothing else). */
export function sessionPhaseInformer(kube: Kube, o: { namespace?: string; log?: Logger } = {}): Informer<KubeObject> {
  return new Informer<KubeObject>(kube, {
    apiVersion: `${GROUP}/${KINDS.BackupSession.version}`,
    kind: 'BackupSession',
    namespace: o.namespace,
    log: o.log,
    transform: (s: Loose) =>
      ({
        apiVersion: s.apiVersion,
        kind: s.kind,
        metadata: {
          name: s.metadata?.name,
          namespace: s.metadata?.namespace,
          resourceVersion: s.metadata?.resourceVersion,
        },
        spec: { invoker: s.spec?.invoker },
        status: { phase: s.status?.phase },
      }) as KubeObject,
  });
}

/** The users of every Repository, from the operator's caches. */
export function repositoryUsersFrom(
  invokers: { informers: Map<string, Informer<KubeObject>> },
  sessions: Informer<KubeObject>,
): RepositoryUsers {
  const all = (kinds: string[]) => kinds.flatMap((k) => invokers.informers.get(k)?.list() ?? []);
  return {
    backupInvokers: all(['BackupConfiguration', 'BackupBatch']),
    backupSessions: sessions.list(),
    restores: all(['RestoreSession', 'RestoreBatch']),
  };
}
