// Subcommands that open a Repository from the user's machine (shared/repository/open.ts): unlock, check,
// download and key. The Repository and its Secret are read with the user's kubeconfig; credentials reach restic
// only through its environment or a file, never its command line or our output.
import { mkdir } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
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

export async function withRepository<T>(
  cli: Cli,
  name: string,
  fn: (r: OpenedRepository, repo: RepositoryObject) => Promise<T>,
): Promise<T> {
  const repo = await getOrFail<RepositoryObject>(cli, apiVersionOf('Repository'), 'Repository', name);
  let opened: OpenedRepository;
  try {
    opened = await openRepository(cli.kube, repo, { resticBinary: cli.resticBinary });
  } catch (err) {
    if (err instanceof RepositoryOnlyInPodError)
      throw new CliError(
        EXIT.failed,
        `${err.message}; run this where that volume is mounted (doing it through a short-lived pod is not implemented yet)`,
      );
    throw new CliError(EXIT.failed, errorMessage(err));
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
  return await withRepository(cli, name, async ({ restic }) => {
    const alive = holderChecker({
      kube: cli.kube,
      namespace: podNamespace || cli.namespace,
      ownHostname: Restic.lockHostname(),
    });
    const remove = directLockRemover(restic.repo.access);
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
    const r = await restic.check({ readDataSubset: o.readData ? '100%' : o.readDataSubset });
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
  return await withRepository(cli, name, async ({ restic }) => {
    const listed = await restic.snapshots(o.host ? { host: o.host } : {});
    const refs = o.snapshots.length > 0 ? o.snapshots : ['latest'];
    const dirs: string[] = [];
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
          throw new CliError(EXIT.notFound, `Repository ${name} has no snapshot${o.host ? ` of host ${o.host}` : ''}`);
        id = latest.id;
      }
      const dir = join(dest, id.slice(0, 8));
      await mkdir(dir, { recursive: true });
      cli.err(`downloading snapshot ${id.slice(0, 8)} into ${dir} …`);
      const r = await restic.restore(id, { target: dir, include: o.paths.length > 0 ? o.paths : undefined });
      cli.out(`snapshot ${id.slice(0, 8)} → ${dir}${r ? ` (${r.filesRestored} files)` : ''}`);
      dirs.push(dir);
    }
    return dirs;
  });
}
