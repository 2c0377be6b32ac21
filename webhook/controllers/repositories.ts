// Repository deletion (docs/api.md §3, docs/decisions/0015-repository-wipeout.md): every Repository carries
// upstream's `stash` finalizer; when one is deleted the finalizer stays while a session or restore uses it, then,
// with `wipeOut: true`, its backend data is deleted (shared/repository/wipe.ts) before the finalizer goes. A
// failed wipe keeps the finalizer, says why in an Event and is retried with the queue's backoff; setting
// `wipeOut: false` on the deleting Repository gives up and keeps the data.
import { REPOSITORY_FINALIZER, apiVersionOf } from '../../shared/api/constants.ts';
import { errorMessage } from '../../shared/errors.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import type { Informer } from '../../shared/kube/informer.ts';
import { backendKindOf, type BackendSpec } from '../../shared/restic/backend.ts';
import type { RepositoryObject } from '../../shared/repository/open.ts';
import { wipeOutRepository } from '../../shared/repository/wipe.ts';
import { finalizeStep } from '../repository-deletion.ts';
import { repositoryInUse, repositoryUsersFrom, sessionPhaseInformer } from '../repository-in-use.ts';
import { recordEvent } from './common.ts';
import { resolveDeps, scoped, waitForAbort, type ControllerDeps, type ResolvedDeps } from './deps.ts';
import { WorkQueue } from './queue.ts';

type Repo = RepositoryObject & KubeObject & { spec: { wipeOut?: boolean } };

export interface RepositoryTuning {
  /** A deletion waiting for a session looks again this often (it is also woken by the session's phase change). */
  inUseRetryMs: number;
  /** Backoff of a failed wipe: first retry, and the longest wait between retries. */
  wipeBackoffInitialMs: number;
  wipeBackoffMaxMs: number;
}

export const REPOSITORY_TUNING: RepositoryTuning = {
  inUseRetryMs: 10_000,
  wipeBackoffInitialMs: 2_000,
  wipeBackoffMaxMs: 5 * 60_000,
};

const API = apiVersionOf('Repository');

interface Ctx {
  d: ResolvedDeps;
  t: RepositoryTuning;
  /** Per deleting Repository (uid): the last wait reason reported, so a long session makes one Event. */
  waitNoted: Map<string, string>;
  /** Per deleting Repository (uid): failed wipe attempts. */
  failures: Map<string, number>;
  sessions: Informer<KubeObject>;
}

function backendOf(repo: Repo): string {
  try {
    return backendKindOf(repo.spec?.backend as BackendSpec);
  } catch {
    return 'unknown';
  }
}

async function setFinalizer(c: Ctx, repo: Repo, present: boolean): Promise<void> {
  await c.d.kube
    .update<Repo>(
      API,
      'Repository',
      repo.metadata?.namespace,
      repo.metadata?.name ?? '',
      (cur) => {
        const f = cur.metadata?.finalizers ?? [];
        if (f.includes(REPOSITORY_FINALIZER) === present) return null;
        // Never add it to an object already being deleted: nothing would be left to remove it for.
        if (present && cur.metadata?.deletionTimestamp) return null;
        cur.metadata!.finalizers = present ? [...f, REPOSITORY_FINALIZER] : f.filter((x) => x !== REPOSITORY_FINALIZER);
        return cur;
      },
      { current: repo },
    )
    .catch((err: unknown) => {
      if ((err as { status?: number }).status !== 404) throw err;
    });
}

/** Returns when to look again (ms), or undefined. */
async function reconcile(c: Ctx, key: string): Promise<number | undefined> {
  const [ns, name] = key.split('/') as [string, string];
  const { d } = c;
  const repo = d.index.informers.get('Repository')?.get(ns, name) as Repo | undefined;
  if (!repo) return undefined;
  const uid = repo.metadata?.uid ?? key;
  if (!repo.metadata?.deletionTimestamp) {
    await setFinalizer(c, repo, true);
    return undefined;
  }
  if (!repo.metadata.finalizers?.includes(REPOSITORY_FINALIZER)) return undefined;
  const nsObj = await d.kube.getOrNull('v1', 'Namespace', undefined, ns);
  const step = finalizeStep({
    wipeOut: repo.spec?.wipeOut === true,
    backend: backendOf(repo),
    inUse: repositoryInUse(ns, name, repositoryUsersFrom(d.index, c.sessions)),
    namespaceTerminating: !nsObj || !!nsObj.metadata?.deletionTimestamp,
    failedAttempts: c.failures.get(uid) ?? 0,
  });
  if (step.step === 'wait') {
    if (c.waitNoted.get(uid) !== step.why) {
      c.waitNoted.set(uid, step.why);
      d.log.info({ repository: key, why: step.why }, 'Repository deletion waits');
      await recordEvent(d.events, repo, 'Normal', 'WipeOutWaiting', `Repository deletion ${step.why}`);
    }
    return c.t.inUseRetryMs;
  }
  if (step.step === 'release') {
    await setFinalizer(c, repo, false);
    await recordEvent(d.events, repo, 'Normal', 'RepositoryDataKept', `Repository deleted; ${step.kept}.`);
  } else {
    try {
      const r = await wipeOutRepository(d.kube, repo);
      await setFinalizer(c, repo, false);
      d.log.info({ repository: key, deleted: r.deleted, backend: r.display }, 'Repository data wiped out');
      await recordEvent(
        d.events,
        repo,
        'Normal',
        'RepositoryWipedOut',
        `Repository deleted with spec.wipeOut: deleted ${r.deleted} file(s) of ${r.display}.`,
      );
    } catch (err) {
      const n = (c.failures.get(uid) ?? 0) + 1;
      c.failures.set(uid, n);
      const wait = Math.min(c.t.wipeBackoffMaxMs, c.t.wipeBackoffInitialMs * 2 ** (n - 1));
      const why = errorMessage(err);
      d.log.warn({ repository: key, err: why, attempt: n, retryInMs: wait }, 'wipeOut failed');
      await recordEvent(
        d.events,
        repo,
        'Warning',
        'WipeOutFailed',
        `Could not delete the backend data (attempt ${n}, next in ${Math.round(wait / 1000)} s; set spec.wipeOut: false to keep the data and finish the deletion): ${why}`,
      );
      return wait;
    }
  }
  c.waitNoted.delete(uid);
  c.failures.delete(uid);
  return undefined;
}

export async function runRepositories(deps: ControllerDeps, signal: AbortSignal): Promise<void> {
  const d = resolveDeps(deps);
  const sessions = sessionPhaseInformer(d.kube, { namespace: d.namespace, log: d.log });
  const c: Ctx = { d, t: REPOSITORY_TUNING, waitNoted: new Map(), failures: new Map(), sessions };
  const queue = new WorkQueue(
    async (key) => {
      const again = await reconcile(c, key);
      if (again !== undefined) queue.addAfter(key, again);
    },
    { name: 'repositories', log: d.log, signal, concurrency: 4 },
  );
  const repos = d.index.informers.get('Repository');
  if (!repos) throw new Error('invoker index has no Repository informer');
  const poke = (o: KubeObject) => {
    if (scoped(d, o)) queue.add(`${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`);
  };
  repos.on('add', poke);
  repos.on('update', (o, old) => {
    const f = (x: KubeObject | undefined) => JSON.stringify(x?.metadata?.finalizers ?? []);
    if (
      !old ||
      !!o.metadata?.deletionTimestamp !== !!old.metadata?.deletionTimestamp ||
      f(o) !== f(old) ||
      o.metadata?.generation !== old.metadata?.generation
    )
      poke(o);
  });
  // A deletion waiting for a session or restore goes on as soon as one of them changes phase.
  const pokeDeleting = () => {
    for (const r of repos.list()) if (r.metadata?.deletionTimestamp) poke(r);
  };
  sessions.on('update', (o, old) => {
    if (
      (o as { status?: { phase?: string } }).status?.phase !== (old as { status?: { phase?: string } })?.status?.phase
    )
      pokeDeleting();
  });
  sessions.on('delete', pokeDeleting);
  for (const kind of ['RestoreSession', 'RestoreBatch', 'BackupConfiguration', 'BackupBatch']) {
    d.index.informers.get(kind)?.on('update', pokeDeleting);
    d.index.informers.get(kind)?.on('delete', pokeDeleting);
  }
  sessions.start();
  signal.addEventListener('abort', () => void sessions.stop(), { once: true });
  await sessions.waitForSync();
  for (const r of repos.list()) poke(r);
  await waitForAbort(signal);
}
