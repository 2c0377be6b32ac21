// Snapshot names and references, without the schemas (the agent loads this to resolve a restore's snapshot):
// upstream's naming `<repository>-<first 8 hex of the id>`, its labels, and how a restore rule's reference — an id,
// `latest`, or a Snapshot's name — becomes what restic takes (docs/decisions/0010-snapshots-as-custom-resources.md).

export const SNAPSHOT_GROUP = 'repositories.stash.appscode.com';
export const SNAPSHOT_VERSION = 'v1alpha1';
export const SNAPSHOT_API_VERSION = `${SNAPSHOT_GROUP}/${SNAPSHOT_VERSION}`;
export const SNAPSHOT_KIND = 'Snapshot';
export const SNAPSHOT_PLURAL = 'snapshots';

/** Labels upstream's Snapshots carry, so `kubectl get snapshots -l repository=…,hostname=…` works the same. */
export const SNAPSHOT_LABEL = { repository: 'repository', hostname: 'hostname' } as const;
/** Held until the operator has forgotten the snapshot in the backend (or decided it must not: see forgetPlan). */
export const SNAPSHOT_FINALIZER = 'repositories.stash.appscode.com/forget';

/** `<repository>-<first 8 hex of the id>`, upstream's naming. */
export function snapshotName(repository: string, id: string): string {
  return `${repository}-${id.slice(0, 8)}`;
}

/**
 * A restore rule's snapshot reference as restic takes it: `latest` and hex ids stay as they are; a Snapshot
 * object's name (`<repository>-<8 hex>`) of this Repository becomes the full id of the one snapshot whose id
 * starts with those hex digits. Anything else is an error naming what was expected.
 */
export function resolveSnapshotRef(ref: string, repository: string, ids: readonly string[]): string {
  if (ref === 'latest' || /^[0-9a-f]{4,64}$/.test(ref)) return ref;
  const m = /^(.+)-([0-9a-f]{8})$/.exec(ref);
  if (!m || m[1] !== repository)
    throw new Error(
      `snapshot "${ref}" is neither a snapshot id, latest, nor the name of a Snapshot of Repository "${repository}" (<repository>-<8 hex>)`,
    );
  const matches = ids.filter((id) => id.startsWith(m[2]!));
  if (matches.length === 0) throw new Error(`Snapshot "${ref}": no snapshot ${m[2]} in Repository "${repository}"`);
  if (matches.length > 1)
    throw new Error(`Snapshot "${ref}": ${matches.length} snapshots start with ${m[2]}; name one by its full id`);
  return matches[0]!;
}
