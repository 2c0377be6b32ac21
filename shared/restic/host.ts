// The restic `--host` of a target's snapshots (docs/api.md §12). It must not depend on the pod name:
// a Deployment rollout renames the pod, and a new host means no parent snapshot (a full re-read) and a
// separate retention group.
import { ValidationError } from '../errors.ts';

export type TargetKind =
  | 'Deployment'
  | 'DeploymentConfig'
  | 'ReplicaSet'
  | 'ReplicationController'
  | 'StatefulSet'
  | 'DaemonSet'
  | 'PersistentVolumeClaim'
  | 'AppBinding'
  | string;

export interface HostInput {
  targetKind: TargetKind;
  /** `target.alias`; empty or undefined when not set */
  alias?: string | undefined;
  /** POD_NAME; its numeric suffix is the StatefulSet ordinal when `ordinal` is not given */
  podName?: string | undefined;
  /** NODE_NAME, for DaemonSets */
  nodeName?: string | undefined;
  /** Explicit ordinal (StatefulSet pods; restore into volumeClaimTemplates uses POD_ORDINAL) */
  ordinal?: number | undefined;
}

/** The ordinal suffix of a StatefulSet pod name ("db-2" → 2). */
export function ordinalOf(podName: string): number | undefined {
  const m = /-(\d+)$/.exec(podName);
  return m ? Number(m[1]) : undefined;
}

export function hostFor(input: HostInput): string;
export function hostFor(
  targetKind: TargetKind,
  alias?: string,
  podName?: string,
  nodeName?: string,
  ordinal?: number,
): string;
export function hostFor(
  a: TargetKind | HostInput,
  alias?: string,
  podName?: string,
  nodeName?: string,
  ordinal?: number,
): string {
  const i: HostInput = typeof a === 'string' ? { targetKind: a, alias, podName, nodeName, ordinal } : a;
  const al = i.alias?.trim() || undefined;
  switch (i.targetKind) {
    case 'StatefulSet': {
      const n = i.ordinal ?? (i.podName ? ordinalOf(i.podName) : undefined);
      if (n === undefined || !Number.isInteger(n) || n < 0) {
        throw new ValidationError(
          'POD_NAME',
          `cannot derive the StatefulSet ordinal from pod name ${JSON.stringify(i.podName ?? '')}`,
        );
      }
      return al ? `${al}-${n}` : `host-${n}`;
    }
    case 'DaemonSet': {
      if (!i.nodeName) throw new ValidationError('NODE_NAME', 'a DaemonSet host needs the node name');
      return al ? `${al}-${i.nodeName}` : i.nodeName;
    }
    default:
      // Deployment, DeploymentConfig, ReplicaSet, ReplicationController, PVC and database jobs: one host.
      return al ?? 'host-0';
  }
}

/**
 * Host for a restore into a StatefulSet's volumeClaimTemplates (docs/api.md §12): per ordinal when `replicas` is set,
 * else the single host.
 */
export function restoreHostForTemplates(
  alias: string | undefined,
  podOrdinal: number | undefined,
  replicasSet: boolean,
): string {
  const al = alias?.trim() || undefined;
  if (replicasSet && podOrdinal !== undefined) return al ? `${al}-${podOrdinal}` : `host-${podOrdinal}`;
  return al ?? 'host-0';
}
