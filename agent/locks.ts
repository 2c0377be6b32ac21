// Who holds a restic lock, per the Kubernetes API (docs/architecture.md §4 "holder-aware lock recovery").
//
// restic writes os.Hostname() into each lock. In a pod that is the pod name (the kubelet sets the UTS
// hostname to it), so a lock maps to a pod of the namespace. A lock is the holder's to keep while that pod
// exists and is not finished; once the API says the pod is gone (or Succeeded/Failed), its lock is stale.
// Locks carrying our own hostname belong to this pod: the holder is alive only if its PID is a restic
// process here (a previous container of this pod leaves PIDs that no longer exist).
import { readFile } from 'node:fs/promises';
import type { Kube, KubeObject } from '../shared/kube/client.ts';
import type { LockInfo } from '../shared/restic/output.ts';
import type { Logger } from '../shared/log.ts';

export interface HolderCheckOptions {
  kube: Kube;
  namespace: string;
  /** The hostname restic runs with in this pod (POD_NAME in a pod). */
  ownHostname: string;
  log?: Logger;
}

async function localResticAlive(pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
    return comm === 'restic';
  } catch {
    return false;
  }
}

export function holderChecker(o: HolderCheckOptions): (lock: LockInfo) => Promise<boolean> {
  return async (lock) => {
    if (lock.hostname === o.ownHostname) {
      const alive = await localResticAlive(lock.pid);
      o.log?.info(
        { lock: lock.id.slice(0, 8), holder: lock.hostname, pid: lock.pid, alive },
        'lock held from this pod',
      );
      return alive;
    }
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(lock.hostname)) {
      // Not a pod name at all (a laptop, a CI runner): we cannot prove it gone, so it is alive.
      return true;
    }
    const pod = await o.kube.getOrNull<KubeObject & { status?: { phase?: string } }>(
      'v1',
      'Pod',
      o.namespace,
      lock.hostname,
    );
    const alive = pod !== null && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
    o.log?.info(
      {
        lock: lock.id.slice(0, 8),
        holder: lock.hostname,
        pod: pod ? (pod.status?.phase ?? 'exists') : 'not found',
        alive,
      },
      'lock holder checked',
    );
    return alive;
  };
}
