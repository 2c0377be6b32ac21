// Stand-alone PVC targets (docs/api.md §12): upstream's pvc-backup / pvc-restore Tasks mount the claim at
// /stash-data and, when the target names no paths, back up that mount. A user following the volumes guide writes
// neither `volumeMounts` nor `paths`; both sides (the operator building the Job, the agent running it) read the
// target through this one function so they agree on where the claim is and what is backed up.
import { VOLUME } from './constants.ts';

interface TargetShape {
  ref?: { kind?: string } | null;
  paths?: string[] | null;
  volumeMounts?: unknown[] | null;
}

/**
 * The target as the Job sees it: a PersistentVolumeClaim target with no `volumeMounts` mounts the claim as
 * `stash-volume` at `/stash-data`, and with no `paths` either backs that mount up. Explicit values are kept.
 */
export function withPvcDefaults<T extends TargetShape>(target: T): T;
export function withPvcDefaults<T extends TargetShape>(target: T | undefined): T | undefined;
export function withPvcDefaults<T extends TargetShape>(target: T | undefined): T | undefined {
  if (target?.ref?.kind !== 'PersistentVolumeClaim' || target.volumeMounts?.length) return target;
  return {
    ...target,
    volumeMounts: [{ name: VOLUME.jobTarget, mountPath: VOLUME.jobTargetMountPath }],
    ...(target.paths?.length ? {} : { paths: [VOLUME.jobTargetMountPath] }),
  };
}
