// The Snapshot sync's restic work on a Repository whose local volume only a pod can mount (a PVC, NFS, a hostPath
// the operator cannot see): a short-lived Job of the agent image mounts the volume (shared/repository/pod-spec.ts:
// read-only with --no-lock to list, read-write to forget) and runs one restic command; the operator reads what it
// printed from the pod's log and deletes the Job. The password reaches restic from the Repository's Secret by
// secretKeyRef. docs/decisions/0016-repository-pods.md.
import { setTimeout as sleep } from 'node:timers/promises';
import { LABEL_VALUE } from '../../shared/api/constants.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { errorMessage } from '../../shared/errors.ts';
import type { RepositoryObject } from '../../shared/repository/open.ts';
import { RESTIC_CONTAINER, repositoryPodSpec } from '../../shared/repository/pod-spec.ts';
import { parseSnapshots, type Snapshot } from '../../shared/restic/output.ts';
import type { ResolvedDeps } from './deps.ts';

export const SNAPSHOT_JOB_COMPONENT = 'stash-snapshots';
const LIST_TIMEOUT_MS = 10 * 60_000;
const FORGET_TIMEOUT_MS = 60 * 60_000;

type JobObject = KubeObject & {
  status?: {
    succeeded?: number;
    failed?: number;
    conditions?: Array<{ type?: string; status?: string; message?: string }>;
  };
};
type PodObject = KubeObject & {
  status?: {
    phase?: string;
    containerStatuses?: Array<{
      state?: { waiting?: { reason?: string; message?: string }; terminated?: { exitCode?: number; reason?: string } };
    }>;
  };
};

export class SnapshotJobError extends Error {}

/** Runs `restic --json --no-cache <args>` in a Job; resolves with the pod's log when it exits 0. */
export async function resticJob(
  d: ResolvedDeps,
  repo: RepositoryObject,
  args: string[],
  o: { writable: boolean; timeoutMs: number },
): Promise<string> {
  const ns = repo.metadata!.namespace!;
  const pod = repositoryPodSpec({
    repo,
    image: d.config.agentImage,
    writable: o.writable,
    // A forget waits for other holders' locks as the operator's own forget does (a minute), and removes none.
    command: ['restic', '--json', '--no-cache', ...(o.writable ? ['--retry-lock', '1m'] : ['--no-lock']), ...args],
    component: SNAPSHOT_JOB_COMPONENT,
    managedBy: LABEL_VALUE.managedBy,
    generateName: `stash-snapshots-${repo.metadata!.name!.slice(0, 40)}-`,
  });
  const job = await d.kube.create<JobObject>({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: pod.metadata,
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: Math.ceil(o.timeoutMs / 1000),
      // Gone by itself should the operator stop before it deletes the Job.
      ttlSecondsAfterFinished: 600,
      template: { metadata: { labels: pod.metadata?.labels }, spec: pod.spec },
    },
  });
  const name = job.metadata!.name!;
  try {
    const end = Date.now() + o.timeoutMs + 30_000;
    for (;;) {
      const cur = await d.kube.getOrNull<JobObject>('batch/v1', 'Job', ns, name);
      if (!cur) throw new SnapshotJobError(`Job ${ns}/${name} disappeared`);
      const p = (await d.kube.list<PodObject>('v1', 'Pod', ns, { labelSelector: `job-name=${name}` })).items[0];
      const waiting = p?.status?.containerStatuses?.[0]?.state?.waiting;
      if (
        waiting &&
        /ErrImagePull|ImagePullBackOff|InvalidImageName|CreateContainerConfigError/.test(waiting.reason ?? '')
      )
        throw new SnapshotJobError(`pod of Job ${name} cannot run: ${waiting.reason}: ${waiting.message ?? ''}`);
      if (cur.status?.succeeded || cur.status?.failed || p?.status?.containerStatuses?.[0]?.state?.terminated) {
        const log = p ? await podLog(d, ns, p.metadata!.name!) : '';
        if (cur.status?.succeeded || p?.status?.containerStatuses?.[0]?.state?.terminated?.exitCode === 0) return log;
        const why = log.trim().split('\n').slice(-3).join(' | ') || cur.status?.conditions?.[0]?.message || 'failed';
        throw new SnapshotJobError(`restic ${args[0]} in Job ${name}: ${why}`);
      }
      if (Date.now() > end) throw new SnapshotJobError(`Job ${ns}/${name} did not finish in ${o.timeoutMs / 1000} s`);
      await sleep(1000);
    }
  } finally {
    await d.kube
      .delete('batch/v1', 'Job', ns, name, { propagationPolicy: 'Background' })
      .catch((err: unknown) =>
        d.log.warn({ job: `${ns}/${name}`, err: errorMessage(err) }, 'snapshot Job not deleted'),
      );
  }
}

async function podLog(d: ResolvedDeps, ns: string, pod: string): Promise<string> {
  return await d.kube.request<string>({
    path: `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(pod)}/log`,
    query: { container: RESTIC_CONTAINER },
    raw: true,
  });
}

/** `restic snapshots` through a Job (read-only mount, no lock). */
export async function snapshotsInJob(d: ResolvedDeps, repo: RepositoryObject): Promise<Snapshot[]> {
  const log = await resticJob(d, repo, ['snapshots'], { writable: false, timeoutMs: LIST_TIMEOUT_MS });
  return parseSnapshots(log);
}

/** `restic forget <ids>` (and `--prune` when asked) through a Job (read-write mount). */
export async function forgetInJob(
  d: ResolvedDeps,
  repo: RepositoryObject,
  ids: string[],
  prune: boolean,
): Promise<void> {
  for (const id of ids) if (!/^[0-9a-f]{4,64}$/.test(id)) throw new SnapshotJobError(`not a snapshot id: ${id}`);
  await resticJob(d, repo, ['forget', ...(prune ? ['--prune'] : []), ...ids], {
    writable: true,
    timeoutMs: FORGET_TIMEOUT_MS,
  });
}
