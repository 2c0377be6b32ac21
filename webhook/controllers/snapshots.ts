// Snapshot objects kept in step with each Repository's backend (docs/decisions/0010-snapshots-as-custom-resources.md).
//
// One reconcile per Repository: first the Snapshots a user deleted are forgotten in the backend (restic forget
// <id>, then prune per the policy of the invokers using the Repository) unless a session or restore uses it
// right now; then `restic snapshots --json` is listed and the objects are created, updated and removed until
// they equal that list. It runs when a Repository's status changes (the agent writes it after every backup's
// retention run and check), when a BackupSession reaches a final phase, when a Snapshot is deleted, and on a
// periodic resync. The finalizer is dropped without forgetting when the Repository or the namespace is going
// away: deleting a namespace must never delete backups, and must not wait for a backend. A local volume only a pod
// can mount is listed and forgotten through a short-lived Job (snapshot-job.ts).
import { errorMessage } from '../../shared/errors.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { Informer } from '../../shared/kube/informer.ts';
import {
  SNAPSHOT_API_VERSION,
  SNAPSHOT_FINALIZER,
  SNAPSHOT_KIND,
  SNAPSHOT_LABEL,
  diffSnapshots,
  snapshotObject,
  type Snapshot,
} from '../../shared/api/snapshot.ts';
import { withLockRecovery } from '../../shared/restic/locks.ts';
import { openRepository, RepositoryOnlyInPodError, type RepositoryObject } from '../../shared/repository/open.ts';
import type { Snapshot as ResticSnapshot } from '../../shared/restic/output.ts';
import { repositoryInUse, repositoryUsersFrom, sessionPhaseInformer } from '../repository-in-use.ts';
import { forgetInJob, snapshotsInJob } from './snapshot-job.ts';
import { recordEvent } from './common.ts';
import { resolveDeps, scoped, waitForAbort, type ControllerDeps, type ResolvedDeps } from './deps.ts';
import { WorkQueue } from './queue.ts';

const SESSION_FINAL = new Set(['Succeeded', 'Failed', 'Skipped']);

export interface SnapshotTuning {
  /** Every Repository is listed again this often (STASH_SNAPSHOT_RESYNC, default 5 min). */
  resyncMs: number;
  /** A forget waits this long for a repository in use before it looks again. */
  inUseRetryMs: number;
  resticBinary: string;
}

export function snapshotTuning(env: Record<string, string | undefined> = process.env): SnapshotTuning {
  const raw = env.STASH_SNAPSHOT_RESYNC;
  const m = raw ? /^(\d+)(ms|s|m)?$/.exec(raw) : null;
  if (raw && !m) throw new Error(`STASH_SNAPSHOT_RESYNC must be a duration such as 30s or 5m, got "${raw}"`);
  const unit = m?.[2] === 'ms' ? 1 : m?.[2] === 'm' ? 60_000 : 1000;
  return {
    resyncMs: m ? Number(m[1]) * unit : 5 * 60_000,
    inUseRetryMs: 10_000,
    resticBinary: env.STASH_RESTIC_BINARY || 'restic',
  };
}

type Loose = KubeObject & {
  spec?: {
    repository?: { name?: string; namespace?: string };
    invoker?: { kind?: string; name?: string };
    retentionPolicy?: { prune?: boolean };
  };
  status?: { phase?: string };
};

interface Ctx {
  /** Snapshots whose deferred forget was already reported, so a long session makes one Event, not one per retry. */
  deferredNoted: Set<string>;
  d: ResolvedDeps;
  t: SnapshotTuning;
  snapshots: Informer<Snapshot & KubeObject>;
  sessions: Informer<KubeObject>;
}

const repoKey = (ns: string | undefined, name: string | undefined) => `${ns ?? ''}/${name ?? ''}`;

function backupInvokers(d: ResolvedDeps): KubeObject[] {
  return ['BackupConfiguration', 'BackupBatch'].flatMap((k) => d.index.informers.get(k)?.list() ?? []);
}

/** The Repository a session writes to: its invoker's spec.repository. */
function repositoryOfSession(d: ResolvedDeps, s: Loose): string | undefined {
  const inv = d.index.informers
    .get(s.spec?.invoker?.kind ?? '')
    ?.get(s.metadata?.namespace, s.spec?.invoker?.name ?? '') as Loose | undefined;
  const r = inv?.spec?.repository;
  return r?.name ? repoKey(r.namespace || inv?.metadata?.namespace, r.name) : undefined;
}

/** docs/decisions/0010: prune when an invoker using the Repository asks for it in its policy, or when none uses it. */
function prunes(d: ResolvedDeps, ns: string, name: string): boolean {
  const users = (backupInvokers(d) as Loose[]).filter(
    (i) => i.spec?.repository?.name === name && (i.spec.repository.namespace || i.metadata?.namespace) === ns,
  );
  return users.length === 0 || users.some((i) => i.spec?.retentionPolicy?.prune === true);
}

function ofRepository(c: Ctx, ns: string, name: string): Array<Snapshot & KubeObject> {
  return c.snapshots
    .list()
    .filter((s) => s.metadata?.namespace === ns && s.metadata?.labels?.[SNAPSHOT_LABEL.repository] === name);
}

async function dropFinalizer(c: Ctx, s: Snapshot): Promise<void> {
  if (!s.metadata.finalizers?.includes(SNAPSHOT_FINALIZER)) return;
  await c.d.kube
    .update<Snapshot & KubeObject>(
      SNAPSHOT_API_VERSION,
      SNAPSHOT_KIND,
      s.metadata.namespace,
      s.metadata.name!,
      (cur) => {
        if (!cur.metadata?.finalizers?.includes(SNAPSHOT_FINALIZER)) return null;
        cur.metadata.finalizers = cur.metadata.finalizers.filter((f) => f !== SNAPSHOT_FINALIZER);
        return cur;
      },
    )
    .catch((err: unknown) => {
      if ((err as { status?: number }).status !== 404) throw err;
    });
}

/** Removes an object without forgetting its snapshot (gone from the backend already, or never ours to forget). */
async function release(c: Ctx, s: Snapshot): Promise<void> {
  await dropFinalizer(c, s);
  if (!s.metadata.deletionTimestamp)
    await c.d.kube.delete(SNAPSHOT_API_VERSION, SNAPSHOT_KIND, s.metadata.namespace, s.metadata.name!);
}

async function parallel<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function reconcile(c: Ctx, key: string): Promise<number | undefined> {
  const [ns, name] = key.split('/') as [string, string];
  const { d } = c;
  const repo = d.index.informers.get('Repository')?.get(ns, name) as (RepositoryObject & KubeObject) | undefined;
  const objects = ofRepository(c, ns, name);
  const namespace = await d.kube.getOrNull('v1', 'Namespace', undefined, ns);
  if (!repo || repo.metadata?.deletionTimestamp || !namespace || namespace.metadata?.deletionTimestamp) {
    // The Repository (or its namespace) is going: its Snapshots go with it, the backend is left alone.
    await parallel(objects, 8, (s) => release(c, s));
    return undefined;
  }
  const deleting = objects.filter(
    (s) => s.metadata.deletionTimestamp && s.metadata.finalizers?.includes(SNAPSHOT_FINALIZER),
  );
  let retryMs: number | undefined;
  let backend: Backend;
  try {
    backend = await directBackend(c, repo);
  } catch (err) {
    if (!(err instanceof RepositoryOnlyInPodError)) {
      const why = errorMessage(err);
      d.log.warn({ repository: key, err: why }, 'snapshots not synced');
      await recordEvent(d.events, repo, 'Warning', 'SnapshotSyncFailed', `Snapshots not synced: ${why}`);
      return c.t.resyncMs;
    }
    // A local volume only a pod can mount: the restic work runs in a short-lived Job that mounts it.
    backend = jobBackend(d, repo);
  }
  try {
    if (deleting.length > 0) {
      const busy = repositoryInUse(ns, name, repositoryUsersFrom(d.index, c.sessions));
      if (busy) {
        for (const s of deleting) {
          if (c.deferredNoted.has(s.metadata.uid ?? '')) continue;
          c.deferredNoted.add(s.metadata.uid ?? '');
          await recordEvent(d.events, s, 'Warning', 'SnapshotForgetDeferred', `not forgotten yet: ${busy}`);
        }
        retryMs = c.t.inUseRetryMs;
      } else {
        const ids = deleting.map((s) => s.status?.id).filter((id): id is string => !!id);
        const present = new Set((await backend.snapshots()).map((s) => s.id));
        const toForget = ids.filter((id) => present.has(id));
        if (toForget.length > 0) await backend.forget(toForget, prunes(d, ns, name));
        for (const s of deleting) {
          await dropFinalizer(c, s);
          c.deferredNoted.delete(s.metadata.uid ?? '');
          await recordEvent(d.events, repo, 'Normal', 'SnapshotForgotten', `snapshot ${s.status?.shortId} forgotten`);
        }
      }
    }
    const listed = await backend.snapshots();
    const wanted = listed.map((s) => snapshotObject(ns, name, s));
    const diff = diffSnapshots(wanted, ofRepository(c, ns, name));
    await parallel(diff.create, 16, async (s) => {
      await d.kube.create(s as Snapshot & KubeObject).catch((err: unknown) => {
        if ((err as { status?: number }).status !== 409) throw err;
      });
    });
    await parallel(diff.update, 8, async (s) => {
      await d.kube.replace(s as Snapshot & KubeObject);
    });
    const byName = new Map(objects.map((o) => [o.metadata.name!, o]));
    await parallel(diff.remove, 8, (n) => release(c, byName.get(n)!));
    d.log.info(
      {
        repository: key,
        snapshots: listed.length,
        created: diff.create.length,
        removed: diff.remove.length,
        through: backend.through,
      },
      'snapshots synced',
    );
  } catch (err) {
    if (backend.through !== 'job') throw err;
    // A Job that could not run (its image, its mount, the repository's owner) is reported like an unreachable
    // backend, and tried again at the next resync.
    const why = errorMessage(err);
    d.log.warn({ repository: key, err: why }, 'snapshots not synced');
    await recordEvent(d.events, repo, 'Warning', 'SnapshotSyncFailed', `Snapshots not synced: ${why}`);
    return c.t.resyncMs;
  } finally {
    await backend.close();
  }
  return retryMs ?? c.t.resyncMs;
}

/** What a reconcile needs of the backend: its list, and forgetting (with prune per the policy). */
interface Backend {
  through: 'direct' | 'job';
  snapshots(): Promise<ResticSnapshot[]>;
  forget(ids: string[], prune: boolean): Promise<void>;
  close(): Promise<void>;
}

async function directBackend(c: Ctx, repo: RepositoryObject): Promise<Backend> {
  const opened = await openRepository(c.d.kube, repo, { resticBinary: c.t.resticBinary, logger: c.d.log });
  const { restic } = opened;
  // Nobody's lock is removed here: a forget waits for every holder to finish (a minute at most).
  const waitForLocks = { isHolderAlive: async () => true, need: 'exclusive' as const, waitMs: 60_000 };
  return {
    through: 'direct',
    snapshots: () => restic.snapshots(),
    forget: async (ids, prune) => {
      await withLockRecovery(restic, () => restic.forgetIds(ids), waitForLocks);
      if (prune) await withLockRecovery(restic, () => restic.prune(), waitForLocks);
    },
    close: () => opened.close(),
  };
}

function jobBackend(d: ResolvedDeps, repo: RepositoryObject): Backend {
  return {
    through: 'job',
    snapshots: () => snapshotsInJob(d, repo),
    forget: (ids, prune) => forgetInJob(d, repo, ids, prune),
    close: async () => undefined,
  };
}

export async function runSnapshots(deps: ControllerDeps, signal: AbortSignal): Promise<void> {
  const d = resolveDeps(deps);
  const t = snapshotTuning();
  const snapshots = new Informer<Snapshot & KubeObject>(d.kube, {
    apiVersion: SNAPSHOT_API_VERSION,
    kind: SNAPSHOT_KIND,
    namespace: d.namespace,
    log: d.log,
  });
  const sessions = sessionPhaseInformer(d.kube, { namespace: d.namespace, log: d.log });
  const c: Ctx = { deferredNoted: new Set(), d, t, snapshots, sessions };
  const queue = new WorkQueue(
    async (key) => {
      const again = await reconcile(c, key);
      if (again !== undefined) queue.addAfter(key, again);
    },
    { name: 'snapshots', log: d.log, signal, concurrency: 2 },
  );
  const repos = d.index.informers.get('Repository');
  if (!repos) throw new Error('invoker index has no Repository informer');
  const pokeRepo = (o: KubeObject) => {
    if (scoped(d, o)) queue.add(repoKey(o.metadata?.namespace, o.metadata?.name));
  };
  repos.on('add', pokeRepo);
  repos.on('delete', pokeRepo);
  // The agent writes a Repository's status after every session's retention run, check and stats.
  repos.on('update', (o, old) => {
    const status = (x: KubeObject | undefined) => JSON.stringify({ ...(x as Loose)?.status, references: undefined });
    if (!old || status(o) !== status(old) || o.metadata?.generation !== old.metadata?.generation) pokeRepo(o);
  });
  sessions.on('update', (o: Loose, old?: Loose) => {
    if (SESSION_FINAL.has(o.status?.phase ?? '') && o.status?.phase !== old?.status?.phase) {
      const key = repositoryOfSession(d, o);
      if (key) queue.add(key);
    }
  });
  const pokeSnapshot = (s: Snapshot & KubeObject) => {
    if (s.metadata.deletionTimestamp) queue.add(repoKey(s.metadata.namespace, s.status?.repository));
  };
  snapshots.on('add', pokeSnapshot);
  snapshots.on('update', pokeSnapshot);
  snapshots.start();
  sessions.start();
  signal.addEventListener('abort', () => void snapshots.stop().then(() => sessions.stop()), { once: true });
  await Promise.all([snapshots.waitForSync(), sessions.waitForSync()]);
  for (const r of repos.list()) pokeRepo(r);
  await waitForAbort(signal);
}
