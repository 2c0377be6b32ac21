// A kubedump member in the agent (docs/decisions/0014-more-member-kinds.md): the dump tree of kubedump.ts
// backed up as one directory snapshot, and restored from the member's own snapshot into the cluster. The
// target is the Namespace to dump (`target.ref: {apiVersion: v1, kind: Namespace, name}`, upstream's form);
// task params: `labelSelector` picks objects, and on restore `targetNamespace` moves them into another
// namespace and `overwrite: "true"` replaces objects that exist instead of skipping them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '../shared/errors.ts';
import type { Kube } from '../shared/kube/client.ts';
import { snapshotStats, type SnapshotStats } from '../shared/restic/format.ts';
import type { BackupResult } from '../shared/restic/output.ts';
import { paramValue, type TaskParam } from './db/args.ts';
import { KUBEDUMP_DIR, dumpNamespace, restoreTree, type KubedumpRestoreResult } from './kubedump.ts';
import type { Restic } from '../shared/restic/command.ts';

const TASK = /^kubedump-(backup|restore)(?:-[0-9][0-9a-z.-]*)?$/i;

/** A member whose task is upstream's kubedump addon. */
export function isKubedumpTask(task: { name?: string } | undefined): boolean {
  return TASK.test(task?.name ?? '');
}

export interface KubedumpInput {
  kube: Kube;
  restic: Restic;
  /** The namespace to dump (the target Namespace's name). */
  namespace: string;
  params?: readonly TaskParam[];
  host: string;
  tmpDir?: string;
  signal?: AbortSignal;
}

function boolParam(params: readonly TaskParam[] | undefined, name: string): boolean {
  const v = paramValue(params, name);
  if (v === undefined || v === '' || v === 'false') return false;
  if (v === 'true') return true;
  throw new ValidationError(`task.params[${name}]`, `${name} must be "true" or "false", not ${JSON.stringify(v)}`);
}

export async function backupKubedump(
  i: KubedumpInput,
): Promise<{ result: BackupResult; stats: SnapshotStats; objects: number }> {
  const dir = await mkdtemp(join(i.tmpDir ?? tmpdir(), 'stash-kubedump-'));
  try {
    const { objects } = await dumpNamespace(i.kube, i.namespace, dir, {
      labelSelector: paramValue(i.params, 'labelSelector'),
    });
    if (objects === 0)
      throw new Error(
        `namespace ${i.namespace} has no objects to dump${paramValue(i.params, 'labelSelector') ? ' matching the labelSelector' : ''}`,
      );
    const path = join(dir, KUBEDUMP_DIR);
    const result = await i.restic.backup([path], { host: i.host, signal: i.signal });
    return { result, stats: snapshotStats(result, path), objects };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Restores `snapshot` (or the host's latest) into the cluster; the objects land in `targetNamespace` when given. */
export async function restoreKubedump(i: KubedumpInput & { snapshot: string }): Promise<KubedumpRestoreResult> {
  const overwrite = boolParam(i.params, 'overwrite');
  const namespace = paramValue(i.params, 'targetNamespace') || undefined;
  const latest = i.snapshot === 'latest';
  const snaps = await i.restic.snapshots(latest ? { host: i.host } : {});
  const snap = latest
    ? snaps.sort((a, b) => a.time.localeCompare(b.time)).at(-1)
    : snaps.find((s) => s.id.startsWith(i.snapshot) || s.shortId === i.snapshot);
  if (!snap) throw new Error(`no kubedump snapshot ${latest ? `for host ${i.host}` : i.snapshot}`);
  const path = snap.paths[0];
  if (!path) throw new Error(`snapshot ${snap.shortId} holds no path`);
  const dir = await mkdtemp(join(i.tmpDir ?? tmpdir(), 'stash-kubedump-'));
  try {
    await i.restic.restore(snap.id, { target: dir, signal: i.signal });
    // restic puts the snapshot's absolute path under the target; the tree's root is its parent.
    return await restoreTree(i.kube, join(dir, path, '..'), { namespace, overwrite });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
