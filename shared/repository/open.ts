// A Repository opened from outside a pod that mounts it: by the operator (Snapshot sync and forget) and by the
// kubectl-stash plugin on the user's machine. The Repository and its storage Secret are read through the API;
// credentials go only into restic's environment (shared/restic/backend.ts). A local backend is reachable here only
// when its volume is a hostPath this process can see (the operator on the node, the pod-runner world); every
// other local volume is reachable only inside a pod, and opening says so (RepositoryOnlyInPodError).
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Kube, KubeObject } from '../kube/client.ts';
import { secretValues, type SecretObject } from '../kube/secret-values.ts';
import { Restic } from '../restic/command.ts';
import { resolveRepository, type BackendSpec } from '../restic/backend.ts';
import type { Logger } from '../log.ts';

export interface RepositoryObject extends KubeObject {
  spec: { backend: BackendSpec & { local?: { hostPath?: { path?: string } } } };
}

export class RepositoryOnlyInPodError extends Error {
  readonly repository: string;
  constructor(repository: string, why: string) {
    super(`Repository ${repository}: ${why}`);
    this.repository = repository;
    this.name = 'RepositoryOnlyInPodError';
  }
}

export interface OpenedRepository {
  restic: Restic;
  /** Location without credentials, for messages. */
  display: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  resticBinary?: string;
  logger?: Logger;
  /** Parent of the private scratch directory (Secret-derived files, restic's tmp); default the OS tmp dir. */
  scratchParent?: string;
}

/** Where a local backend's repository is on this machine, or why it is not reachable from here. */
export async function localPathOf(repo: RepositoryObject): Promise<string> {
  const local = repo.spec.backend.local!;
  const key = `${repo.metadata?.namespace}/${repo.metadata?.name}`;
  const hostPath = local.hostPath?.path;
  if (!hostPath) {
    const source = Object.keys(local).find((k) => k !== 'mountPath' && k !== 'subPath') ?? 'volume';
    throw new RepositoryOnlyInPodError(key, `its local backend is a ${source} volume, reachable only inside a pod`);
  }
  const path = local.subPath ? posix.join(hostPath, local.subPath) : hostPath;
  const s = await stat(path).catch(() => undefined);
  if (!s?.isDirectory())
    throw new RepositoryOnlyInPodError(key, `its local backend (hostPath ${path}) is not a directory on this machine`);
  return path;
}

export async function readSecretData(kube: Kube, namespace: string, name: string): Promise<Record<string, string>> {
  const secret = await kube.getOrNull<SecretObject>('v1', 'Secret', namespace, name);
  if (!secret) throw new Error(`storage Secret ${namespace}/${name} not found`);
  return secretValues(secret);
}

export async function openRepository(
  kube: Kube,
  repo: RepositoryObject,
  o: OpenOptions = {},
): Promise<OpenedRepository> {
  const ns = repo.metadata?.namespace ?? '';
  const backend: BackendSpec = { ...repo.spec.backend };
  if (backend.local) backend.local = { ...backend.local, mountPath: await localPathOf(repo), subPath: undefined };
  const secretData = backend.storageSecretName ? await readSecretData(kube, ns, backend.storageSecretName) : {};
  const scratch = await mkdtemp(join(o.scratchParent ?? tmpdir(), 'stash-repo-'));
  try {
    const resolved = await resolveRepository(backend, secretData, { scratchDir: join(scratch, 'secret') });
    const restic = new Restic({
      repo: resolved,
      bin: o.resticBinary ?? 'restic',
      cache: false,
      tmpDir: scratch,
      home: scratch,
      logger: o.logger,
    });
    return { restic, display: resolved.display, close: () => rm(scratch, { recursive: true, force: true }) };
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw err;
  }
}
