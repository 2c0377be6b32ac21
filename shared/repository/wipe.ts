// Deleting a Repository's data from its backend, from outside a pod (the operator, when a Repository with
// `wipeOut: true` is deleted: docs/decisions/0015-repository-wipeout.md). The storage Secret is read through the
// API and its values go only into the request headers of the direct client (shared/restic/backend-wipe.ts);
// every message that leaves here is passed through the Secret's redactor first.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kube } from '../kube/client.ts';
import { resolveRepository, type BackendSpec } from '../restic/backend.ts';
import { wipeRepository, type WipeOptions } from '../restic/backend-wipe.ts';
import { errorMessage } from '../errors.ts';
import { readSecretData, type RepositoryObject } from './open.ts';

export interface WipedRepository {
  deleted: number;
  /** Location without credentials, for messages. */
  display: string;
}

export class WipeOutFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WipeOutFailedError';
  }
}

/** Deletes every file of the Repository's restic repository; throws WipeOutFailedError (redacted) otherwise. */
export async function wipeOutRepository(
  kube: Kube,
  repo: RepositoryObject,
  o: WipeOptions & { scratchParent?: string } = {},
): Promise<WipedRepository> {
  const ns = repo.metadata?.namespace ?? '';
  const backend: BackendSpec = { ...repo.spec.backend };
  let secretData: Record<string, string>;
  try {
    secretData = backend.storageSecretName ? await readSecretData(kube, ns, backend.storageSecretName) : {};
  } catch (err) {
    throw new WipeOutFailedError(errorMessage(err));
  }
  const scratch = await mkdtemp(join(o.scratchParent ?? tmpdir(), 'stash-wipe-'));
  try {
    let resolved;
    try {
      resolved = await resolveRepository(backend, secretData, { scratchDir: join(scratch, 'secret') });
    } catch (err) {
      throw new WipeOutFailedError(errorMessage(err));
    }
    try {
      const r = await wipeRepository(resolved.access, o);
      return { deleted: r.deleted, display: resolved.display };
    } catch (err) {
      throw new WipeOutFailedError(`${resolved.display}: ${resolved.redact(errorMessage(err))}`);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
