// Subcommands that open a Repository from the user's machine (shared/repository/open.ts): unlock, check,
// download and key. The Repository and its Secret are read with the user's kubeconfig; credentials reach restic
// only through its environment or a file, never its command line or our output.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, posix, resolve } from 'node:path';
import { apiVersionOf } from '../shared/api/constants.ts';
import { resolveSnapshotRef } from '../shared/api/snapshot-names.ts';
import { holderChecker } from '../agent/locks.ts';
import { errorMessage } from '../shared/errors.ts';
import {
  openRepository,
  RepositoryOnlyInPodError,
  type OpenedRepository,
  type RepositoryObject,
} from '../shared/repository/open.ts';
import { Restic } from '../shared/restic/command.ts';
import { directLockRemover } from '../shared/restic/lock-remover.ts';
import { describeLock } from '../shared/restic/locks.ts';
import { CliError, EXIT, getOrFail, type Cli } from './context.ts';
import { openRepositoryInPod, POD_SCRATCH, type RepositoryPod } from './repository-pod.ts';

/** An opened Repository; `pod` when the restic work runs in a short-lived pod (cli/repository-pod.ts). */
export type CliRepository = OpenedRepository & { pod?: RepositoryPod };

/**
 * Opens the Repository for `fn`: from this machine when it can reach the backend, else — a local volume only a pod
 * can mount — through a short-lived pod, mounted read-write only when `writable` (the command locks or deletes).
 */
export async function withRepository<T>(
  cli: Cli,
  name: string,
  fn: (r: CliRepository, repo: RepositoryObject) => Promise<T>,
  o: { writable: boolean; notInPod?: string } = { writable: true },
): Promise<T> {
  const repo = await getOrFail<RepositoryObject>(cli, apiVersionOf('Repository'), 'Repository', name);
  let opened: CliRepository;
  try {
    opened = await openRepository(cli.kube, repo, { resticBinary: cli.resticBinary });
  } catch (err) {
    if (!(err instanceof RepositoryOnlyInPodError)) throw new CliError(EXIT.failed, errorMessage(err));
    if (o.notInPod) throw new CliError(EXIT.failed, `${err.message}: ${o.notInPod}`);
    cli.err(`${err.message}: the work runs in a short-lived pod`);
    const scratch = await mkdtemp(join(tmpdir(), 'kubectl-stash-'));
    try {
      const pod = await openRepositoryInPod(cli, repo, { writable: o.writable, scratch });
      opened = { ...pod, pod, close: () => pod.close().finally(() => rm(scratch, { recursive: true, force: true })) };
    } catch (e) {
      await rm(scratch, { recursive: true, force: true });
      throw e;
    }
  }
  try {
    return await fn(opened, repo);
  } finally {
    await opened.close();
  }
}

/**
 * Holder-aware unlock (docs/decisions/0004): a lock is removed only when the Kubernetes API says its holder pod is
 * gone or finished (or, for locks of this machine, its restic pid is); a live holder's lock is kept and named.
 */
export async function unlock(
  cli: Cli,
  name: string,
  podNamespace: string | undefined,
): Promise<{ removed: number; kept: number }> {
  return await withRepository(cli, name, async ({ restic, pod }) => {
    const alive = holderChecker({
      kube: cli.kube,
      namespace: podNamespace || cli.namespace,
      ownHostname: Restic.lockHostname(),
    });
    const remove = pod ? pod.removeLock : directLockRemover(restic.repo.access);
    let removed = 0;
    let kept = 0;
    for (const lock of await restic.locks()) {
      if (await alive(lock)) {
        kept++;
        cli.out(`kept    ${describeLock(lock)}: its holder is alive`);
        continue;
      }
      if (!remove)
        throw new CliError(EXIT.failed, `cannot remove ${describeLock(lock)}: this backend has no direct lock removal`);
      await remove(lock);
      removed++;
      cli.out(`removed ${describeLock(lock)}: its holder is gone`);
    }
    cli.out(`${removed} stale lock(s) removed, ${kept} live lock(s) kept`);
    return { removed, kept };
  });
}

/** `restic check`; the result goes into the Repository's status.integrity, as a session's check does. */
export async function check(
  cli: Cli,
  name: string,
  o: { readData?: boolean; readDataSubset?: string },
): Promise<boolean> {
  return await withRepository(cli, name, async ({ restic, display }) => {
    cli.err(`checking ${display}${o.readData || o.readDataSubset ? ' (reading data)' : ''} …`);
    const r = await restic.check({ readDataSubset: o.readData ? '100%' : o.readDataSubset, signal: cli.signal });
    await cli.kube.patch(
      apiVersionOf('Repository'),
      'Repository',
      cli.namespace,
      name,
      { status: { integrity: r.ok } },
      { subresource: 'status' },
    );
    for (const e of r.errors) cli.out(`error: ${e}`);
    cli.out(`Repository ${cli.namespace}/${name}: integrity ${r.ok ? 'ok' : `FAILED (${r.errors.length} error(s))`}`);
    return r.ok;
  });
}

/** Restores each snapshot into `<destination>/<short id>/`, optionally only `paths` (restic --include). */
export async function download(
  cli: Cli,
  name: string,
  o: { destination: string; snapshots: string[]; paths: string[]; host?: string },
): Promise<string[]> {
  if (!o.destination) throw new CliError(EXIT.usage, '--destination is required');
  const dest = isAbsolute(o.destination) ? o.destination : resolve(o.destination);
  const signal = cli.signal;
  return await withRepository(
    cli,
    name,
    async ({ restic, pod }) => {
      const listed = await restic.snapshots(o.host ? { host: o.host } : {}, { signal });
      const refs = o.snapshots.length > 0 ? o.snapshots : ['latest'];
      const ids: string[] = [];
      // Every name is resolved before anything is restored: a wrong one fails the command before any work.
      for (const ref of refs) {
        let id: string;
        try {
          id = resolveSnapshotRef(
            ref,
            name,
            listed.map((s) => s.id),
          );
        } catch (err) {
          throw new CliError(EXIT.notFound, errorMessage(err));
        }
        if (id === 'latest') {
          const latest = listed.at(-1);
          if (!latest)
            throw new CliError(
              EXIT.notFound,
              `Repository ${name} has no snapshot${o.host ? ` of host ${o.host}` : ''}`,
            );
          id = latest.id;
        }
        // An id (or its prefix) must name one of the listed snapshots: a wrong one is "not found" before any work.
        const matching = listed.filter((s) => s.id.startsWith(id));
        if (matching.length === 0)
          throw new CliError(
            EXIT.notFound,
            `no snapshot ${ref} in Repository ${name}${o.host ? ` of host ${o.host}` : ''} (kubectl get snapshots -n ${cli.namespace} -l repository=${name})`,
          );
        if (matching.length > 1)
          throw new CliError(EXIT.usage, `${matching.length} snapshots start with ${ref}; give more of the id`);
        ids.push(matching[0]!.id);
      }
      const dirs: string[] = [];
      for (const id of ids) {
        const short = id.slice(0, 8);
        const dir = join(dest, short);
        const t0 = Date.now();
        cli.err(`downloading snapshot ${short} into ${dir} …`);
        if (!pod) await mkdir(dir, { recursive: true });
        const r = await restic.restore(id, {
          target: pod ? posix.join(POD_SCRATCH, short) : dir,
          include: o.paths.length > 0 ? o.paths : undefined,
          // The pod mounts the volume read-only: a restore there takes no lock (it changes nothing).
          noLock: pod !== undefined,
          signal,
        });
        if (pod) await pod.copyOut(short, dest);
        cli.out(
          `snapshot ${short} → ${dir}${r ? ` (${r.filesRestored} files)` : ''} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
        );
        dirs.push(dir);
      }
      return dirs;
    },
    { writable: false },
  );
}
