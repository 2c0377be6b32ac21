// `create-backupsession` (docs/api.md §14.2): what the trigger CronJob runs. Builds a BackupSession named and labelled as
// in docs/api.md §6, owned by its invoker (so it is garbage-collected with it), with retryLeft = retryConfig.maxRetry.
import { GROUP, LABEL, LABEL_VALUE, apiVersionOf } from '../shared/api/constants.ts';
import type { BackupBatch, BackupConfiguration, BackupSession } from './types.ts';
import { isConflict, type Kube } from '../shared/kube/client.ts';
import { ValidationError } from '../shared/errors.ts';

export const MAX_NAME = 63;

/** `<invoker>-<unix seconds>`, truncated to 63 characters keeping the suffix (docs/api.md §6). */
export function sessionName(invokerName: string, now: Date = new Date()): string {
  const suffix = `-${Math.floor(now.getTime() / 1000)}`;
  return invokerName.slice(0, MAX_NAME - suffix.length).replace(/[-.]+$/, '') + suffix;
}

export function buildBackupSession(
  invoker: BackupConfiguration | BackupBatch,
  kind: 'BackupConfiguration' | 'BackupBatch',
  now: Date = new Date(),
): BackupSession {
  const name = invoker.metadata?.name;
  const namespace = invoker.metadata?.namespace;
  if (!name || !namespace) throw new ValidationError('metadata', 'invoker has no name or namespace');
  const firstTarget =
    kind === 'BackupBatch'
      ? (invoker as BackupBatch).spec.members?.[0]?.target?.ref
      : (invoker as BackupConfiguration).spec.target?.ref;
  const labels: Record<string, string> = {
    ...(invoker.metadata?.labels ?? {}),
    [LABEL.component]: LABEL_VALUE.componentBackup,
    [LABEL.managedBy]: LABEL_VALUE.managedBy,
    [LABEL.invokerType]: kind,
    [LABEL.invokerName]: name,
  };
  if (firstTarget) {
    labels[LABEL.targetKind] = firstTarget.kind;
    labels[LABEL.targetName] = firstTarget.name;
    labels[LABEL.targetNamespace] = firstTarget.namespace || namespace;
  }
  return {
    apiVersion: apiVersionOf('BackupSession'),
    kind: 'BackupSession',
    metadata: {
      name: sessionName(name, now),
      namespace,
      labels,
      ownerReferences: [
        {
          apiVersion: apiVersionOf(kind),
          kind,
          name,
          uid: invoker.metadata?.uid ?? '',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      invoker: { apiGroup: GROUP, kind, name },
      retryLeft: invoker.spec.retryConfig?.maxRetry ?? 0,
    },
  };
}

export async function createBackupSession(
  kube: Kube,
  namespace: string,
  kind: string,
  invokerName: string,
  now: Date = new Date(),
): Promise<BackupSession> {
  if (kind !== 'BackupConfiguration' && kind !== 'BackupBatch') {
    throw new ValidationError('--invoker-kind', `must be BackupConfiguration or BackupBatch, got "${kind}"`);
  }
  const invoker = await kube.get<BackupConfiguration | BackupBatch>(apiVersionOf(kind), kind, namespace, invokerName);
  const session = buildBackupSession(invoker, kind, now);
  try {
    return await kube.create(session);
  } catch (err) {
    // A create the client retried after a lost answer may have landed the first time: ours if the invoker owns it.
    if (!isConflict(err)) throw err;
    const existing = await kube.getOrNull<BackupSession>(
      apiVersionOf('BackupSession'),
      'BackupSession',
      namespace,
      session.metadata?.name ?? '',
    );
    if (existing && existing.metadata?.ownerReferences?.some((o) => o.uid && o.uid === invoker.metadata?.uid))
      return existing;
    throw err;
  }
}
