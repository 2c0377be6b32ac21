// What deleting a Repository does next (docs/api.md §3, docs/decisions/0015-repository-wipeout.md): a pure rule,
// so the wait, the wipe and the release can be tested without a cluster. The loop (controllers/repositories.ts)
// acts on it; admission asks wipeOutUnsupported() for its message.

/** Backends whose data the operator deletes for `wipeOut: true`; admission rejects the field on the others. */
export const WIPEABLE_BACKENDS = ['s3', 'rest'] as const;

/** Why `wipeOut: true` is refused on a backend, for the admission message; undefined when it is supported. */
export function wipeOutUnsupported(backend: string): string | undefined {
  if ((WIPEABLE_BACKENDS as readonly string[]).includes(backend)) return undefined;
  if (backend === 'local')
    return 'the operator cannot reach a local volume (only a pod that mounts it can), so it cannot delete its data';
  if (backend === 'b2') return 'deleting B2 data is not supported (as in Stash)';
  return `stash-ts cannot delete data from a ${backend} backend`;
}

export interface FinalizeInput {
  /** spec.wipeOut */
  wipeOut: boolean;
  /** The provider block the spec sets (local, s3, rest, ...). */
  backend: string;
  /** repositoryInUse(): why a session or restore still uses the Repository, or undefined. */
  inUse: string | undefined;
  /** The Repository's namespace is being deleted. */
  namespaceTerminating: boolean;
  /** Wipe attempts that failed so far for this deletion. */
  failedAttempts: number;
}

export type FinalizeStep =
  /** Keep the finalizer and look again later. */
  | { step: 'wait'; why: string }
  /** Delete the backend data, then release. */
  | { step: 'wipe' }
  /** Drop the finalizer now; `kept` says why the data stays (for the Event). */
  | { step: 'release'; kept: string };

export function finalizeStep(i: FinalizeInput): FinalizeStep {
  if (!i.wipeOut) return { step: 'release', kept: 'spec.wipeOut is false: the backend data is kept' };
  const unsupported = wipeOutUnsupported(i.backend);
  // Admission refuses these; one that slipped in (created while the webhook was down) keeps its data.
  if (unsupported) return { step: 'release', kept: `spec.wipeOut is ignored: ${unsupported}` };
  if (i.namespaceTerminating) {
    // A namespace deletion must not hang on a backend or on sessions being torn down with it: one attempt.
    if (i.failedAttempts > 0)
      return { step: 'release', kept: 'the namespace is being deleted and the wipe failed: the backend data is kept' };
    return { step: 'wipe' };
  }
  if (i.inUse) return { step: 'wait', why: `waiting to delete the backend data: ${i.inUse}` };
  return { step: 'wipe' };
}
