// Pieces both agent modes share: the context a pod gives the agent, loading invokers and the Repository
// with its Secret through the API, and event-driven waiting on an object's status.
import { setTimeout as sleep } from 'node:timers/promises';
import { apiVersionOf } from '../shared/api/constants.ts';
import { sameTarget } from '../shared/api/target.ts';
import type { TargetRef } from '../shared/api/index.ts';
import type { Kube, KubeObject } from '../shared/kube/client.ts';
import { StashError, errorMessage } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { ProcessPriority } from '../shared/restic/child.ts';
import { secretValues } from '../shared/kube/secret-values.ts';
import type { Repository, Secret } from './types.ts';

export interface AgentContext {
  kube: Kube;
  log: Logger;
  namespace: string;
  podName: string;
  nodeName: string;
  podOrdinal: string | undefined;
  invokerKind: string;
  invokerName: string;
  targetKind: string;
  targetName: string;
  targetNamespace: string;
  /** --member-index: the member a restore Job serves (members restoring into volumeClaimTemplates have no ref). */
  memberIndex?: number | undefined;
  /** --host: overrides the docs/api.md §12 host name. */
  hostOverride: string | undefined;
  enableCache: boolean;
  maxConnections: number;
  resticBinary: string;
  /** Directory for the restic cache and scratch files (/stash-tmp in a pod). */
  tmpDir: string;
  /** Dev/test only: run restic in its own UTS namespace whose hostname is POD_NAME, as in a real pod. */
  isolateHostname: boolean;
  /** How long to wait for a live lock holder before failing with its name. */
  lockWaitMs: number;
  /** Bound on reaching the backend (TCP) before restic is started; restic itself retries for many minutes. */
  backendTimeoutMs: number;
  /** runtimeSettings.container.nice / .ionice for restic and every dump/restore client (NICE_*, IONICE_* env). */
  priority?: ProcessPriority;
}

export class AgentError extends StashError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('AGENT_FAILED', message, options);
  }
}

/** Does the member's target ref name this agent's workload? The one rule of docs/api.md §2.1. */
export function matchesTarget(
  ref: TargetRef | undefined,
  ctx: Pick<AgentContext, 'targetKind' | 'targetName' | 'targetNamespace'>,
  invokerNamespace: string,
): boolean {
  return sameTarget(
    ref,
    { kind: ctx.targetKind, name: ctx.targetName, namespace: ctx.targetNamespace },
    invokerNamespace,
  );
}

/**
 * Without a session deadline, how long one API call of a session run keeps retrying transient failures:
 * a host's work may be long and a lost status write costs a re-run, while past ten minutes of outage the
 * operator has long failed the host from its stale heartbeat.
 */
export const SESSION_RETRY_CAP_MS = 10 * 60_000;

/** The client a session run uses: transient API failures retried until the session's deadline, else capped. */
export function sessionKube(kube: Kube, sessionDeadline: string | undefined): Kube {
  const deadline = sessionDeadline ? Date.parse(sessionDeadline) : NaN;
  return Number.isFinite(deadline)
    ? kube.withRetry({ deadline })
    : kube.withRetry({ capMs: SESSION_RETRY_CAP_MS, deadline: undefined });
}

export async function getInvoker<T extends KubeObject>(
  kube: Kube,
  kind: string,
  namespace: string,
  name: string,
): Promise<T> {
  if (!['BackupConfiguration', 'BackupBatch', 'RestoreSession', 'RestoreBatch'].includes(kind)) {
    throw new AgentError(`unknown invoker kind "${kind}"`);
  }
  return await kube.get<T>(apiVersionOf(kind as 'BackupBatch'), kind, namespace, name);
}

export interface LoadedRepository {
  repository: Repository;
  secretData: Record<string, string>;
}

type RepoRef = { name: string; namespace?: string } | undefined;

/**
 * Reads of the Repository and its Secret started before the caller has re-read the invoker that names
 * them, so they overlap that read instead of following it. `loadRepository` uses them only when the fresh
 * invoker names the same Repository (and that the same Secret) and they are recent; otherwise it reads again.
 */
export interface RepositoryPrefetch {
  key: string;
  startedAt: number;
  repository: Promise<Repository | null>;
  /** The Secret, read by a name known in advance or as soon as the Repository names it. */
  secret: Promise<{ name: string; secret: Secret | null } | undefined>;
  /** The name known in advance, if any: a read by another name than the Repository's is of no use, failed or not. */
  guessedSecret?: string | undefined;
}

/** Prefetched reads older than this are not used: a lease wait may have come between. */
const PREFETCH_MAX_AGE_MS = 5_000;

function repoKey(ref: RepoRef, invokerNamespace: string): string {
  return `${ref?.namespace || invokerNamespace}/${ref?.name ?? ''}`;
}

/** Starts the reads; failures surface only if `loadRepository` uses them. `secretName` is a guess from an earlier run. */
export function prefetchRepository(
  kube: Kube,
  ref: RepoRef,
  invokerNamespace: string,
  secretName?: string,
): RepositoryPrefetch | undefined {
  if (!ref?.name) return undefined;
  const ns = ref.namespace || invokerNamespace;
  const repository = kube.getOrNull<Repository>(apiVersionOf('Repository'), 'Repository', ns, ref.name);
  const readSecret = (name: string) =>
    kube.getOrNull<Secret>('v1', 'Secret', ns, name).then((secret) => ({ name, secret }));
  const secret = secretName
    ? readSecret(secretName)
    : repository.then((r) => {
        const name = r?.spec.backend.storageSecretName;
        return name ? readSecret(name) : undefined;
      });
  repository.catch(() => undefined);
  secret.catch(() => undefined);
  return { key: repoKey(ref, invokerNamespace), startedAt: Date.now(), repository, secret, guessedSecret: secretName };
}

/** The Repository and its storage Secret, read through the API (never mounted, never logged). */
export async function loadRepository(
  kube: Kube,
  ref: RepoRef,
  invokerNamespace: string,
  prefetch?: RepositoryPrefetch,
): Promise<LoadedRepository> {
  if (!ref?.name) throw new AgentError('the invoker names no spec.repository');
  const ns = ref.namespace || invokerNamespace;
  const usable =
    prefetch &&
    prefetch.key === repoKey(ref, invokerNamespace) &&
    Date.now() - prefetch.startedAt <= PREFETCH_MAX_AGE_MS
      ? prefetch
      : undefined;
  // Without a usable prefetch the same reads start now: the Secret's as soon as the Repository names it.
  const reads = usable ?? prefetchRepository(kube, ref, invokerNamespace)!;
  const repository = await reads.repository;
  if (!repository)
    throw new AgentError(`Repository ${ns}/${ref.name} not found: create it or fix spec.repository of the invoker`);
  const secretName = repository.spec.backend.storageSecretName;
  const secretData: Record<string, string> = {};
  if (secretName) {
    const early = (reads.guessedSecret ?? secretName) === secretName ? await reads.secret : undefined;
    const secret =
      early?.name === secretName ? early.secret : await kube.getOrNull<Secret>('v1', 'Secret', ns, secretName);
    if (!secret) throw new AgentError(`storage Secret ${ns}/${secretName} of Repository ${ref.name} not found`);
    Object.assign(secretData, secretValues(secret));
  }
  return { repository, secretData };
}

/**
 * Resolves with the first value `check` returns that is not undefined. `check` runs at once, whenever
 * `subscribe` reports a change (event-driven), and every `pollMs` as a safety net for a missed event.
 */
export async function waitUntil<R>(
  check: () => Promise<R | undefined> | R | undefined,
  opts: {
    subscribe?: (wake: () => void) => () => void;
    pollMs?: number;
    timeoutMs: number;
    what: string;
    signal?: AbortSignal;
    log?: Logger;
  },
): Promise<R> {
  const deadline = Date.now() + opts.timeoutMs;
  let wake: (() => void) | undefined;
  const unsubscribe = opts.subscribe?.(() => wake?.());
  try {
    for (;;) {
      opts.signal?.throwIfAborted();
      try {
        const r = await check();
        if (r !== undefined) return r;
      } catch (err) {
        opts.log?.warn({ err: errorMessage(err), what: opts.what }, 'check failed; retrying');
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new AgentError(`timed out after ${Math.round(opts.timeoutMs / 1000)}s waiting for ${opts.what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(opts.pollMs ?? 5000, left));
        function done() {
          clearTimeout(timer);
          wake = undefined;
          opts.signal?.removeEventListener('abort', done);
          resolve();
        }
        wake = done;
        opts.signal?.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    unsubscribe?.();
  }
}

export { sleep };
