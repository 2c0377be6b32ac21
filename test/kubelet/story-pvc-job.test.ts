// Story on real pods: the job model (docs/api.md §12). A stand-alone PersistentVolumeClaim has no pod to carry a
// sidecar, so the operator runs the agent image in a Job: the kubelet runs the Job's pod with the claim mounted
// (a hostPath PersistentVolume on this machine's disk), it backs the volume up, and a RestoreSession's Job puts
// the files back into the emptied volume, byte for byte. Then a backup Job under a memory limit too small for the
// agent is OOM-killed by the kernel on the node, and the session says so (OOMKilled, from the kubelet's report).
// Last, a Job whose claim is still unbound waits for the real scheduler to place its pod (docs/api.md §12.1)
// rather than failing.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { AGENT_IMAGE } from '../world/entrypoints.ts';
import { until } from '../support/e2e-world.ts';
import {
  backupNow,
  claimFor,
  finalPhase,
  hostPathClaim,
  hostPathVolume,
  invokerReady,
  openStory,
  treeSums,
  type Pod,
  type Session,
} from './story-kit.ts';

t.setTimeout(600_000);
const st = await openStory(t, 'pvc');
const MOUNT = '/uploads';
const OOM_LIMIT = '32Mi';

type JobPod = Pod & {
  status?: { containerStatuses?: Array<{ state?: { terminated?: { exitCode?: number; reason?: string } } }> };
};

/** The pod of the operator's Job whose name starts with `prefix`, once its container has ended on the node. */
async function endedJobPod(prefix: string): Promise<JobPod> {
  return await until(
    `the pod of Job ${prefix}* ended`,
    async () =>
      (await st.kube.list<JobPod>('v1', 'Pod', st.ns)).items.find(
        (p) =>
          p.metadata?.labels?.['job-name']?.startsWith(prefix) && p.status?.containerStatuses?.[0]?.state?.terminated,
      ),
    60_000,
  );
}

/** A BackupConfiguration `name` of a claim (default `uploads`; job model, on demand) and its session `<name>-1`. */
async function backUpClaim(
  name: string,
  { claim = 'uploads', runtimeSettings }: { claim?: string; runtimeSettings?: Record<string, unknown> } = {},
): Promise<void> {
  await st.kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name, namespace: st.ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      task: { name: 'pvc-backup' },
      ...(runtimeSettings ? { runtimeSettings } : {}),
      target: {
        ref: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: claim },
        paths: [MOUNT],
        volumeMounts: [{ name: claim, mountPath: MOUNT }],
      },
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
    },
  });
  await invokerReady(st, 'BackupConfiguration', name);
  await backupNow(st, `${name}-1`, { kind: 'BackupConfiguration', name });
}

t.test('a PVC is backed up by a Job and restored by a Job, on real pods', async (t) => {
  const dir = await hostPathClaim(st, 'uploads', {
    'README.md': 'uploads\n',
    '2026/12/cat.jpg': randomBytes(200 * 1024),
    'nested/a/b.txt': 'b\n',
  });
  const before = treeSums(dir);
  await backUpClaim('uploads-backup');
  const session = await finalPhase<Session>(st, 'BackupSession', 'uploads-backup-1');
  t.equal(session.status?.phase, 'Succeeded', 'the backup succeeded', { status: session.status });
  t.equal(session.status?.targets?.[0]?.stats?.[0]?.snapshots?.[0]?.fileStats?.totalFiles, 3, 'three files');
  const backupPod = await endedJobPod('stash-backup-');
  t.equal(backupPod?.spec?.containers?.[0]?.image, AGENT_IMAGE, "the backup Job's pod ran the agent image");
  t.equal(
    backupPod?.status?.containerStatuses?.[0]?.state?.terminated?.exitCode,
    0,
    'and its container exited 0 on the node',
  );
  t.match(st.restic('ls', 'latest'), /cat\.jpg/, 'the snapshot holds the volume');

  // The volume loses its files; the restore Job puts them back.
  for (const e of ['README.md', '2026', 'nested']) rmSync(join(dir, e), { recursive: true, force: true });
  await st.kube.create({
    apiVersion: apiVersionOf('RestoreSession'),
    kind: 'RestoreSession',
    metadata: { name: 'uploads-restore', namespace: st.ns },
    spec: {
      repository: { name: 'repo' },
      task: { name: 'pvc-restore' },
      target: {
        ref: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'uploads' },
        volumeMounts: [{ name: 'uploads', mountPath: MOUNT }],
        rules: [{ paths: [MOUNT] }],
      },
    },
  });
  const restore = await finalPhase<Session>(st, 'RestoreSession', 'uploads-restore');
  t.equal(restore.status?.phase, 'Succeeded', 'the restore succeeded', { status: restore.status });
  const restorePod = await endedJobPod('stash-restore-');
  t.equal(
    restorePod?.status?.containerStatuses?.[0]?.state?.terminated?.exitCode,
    0,
    "the restore Job's pod ran to completion",
  );
  t.same(treeSums(dir), before, 'the volume holds the backed-up files again, byte for byte');
});

t.test('a backup Job under a memory limit too small for the agent is OOM-killed and reported so', async (t) => {
  type Event = KubeObject & { reason?: string; message?: string; involvedObject?: { name?: string } };
  // Below what Node.js needs to load the agent: the kernel kills it on the node, the kubelet says OOMKilled.
  await backUpClaim('tight', { runtimeSettings: { container: { resources: { limits: { memory: OOM_LIMIT } } } } });
  const pod = await endedJobPod('stash-backup-tight-1-');
  t.equal(
    pod.status?.containerStatuses?.[0]?.state?.terminated?.reason,
    'OOMKilled',
    'the kubelet reports the agent container OOMKilled',
  );
  const session = await finalPhase<Session>(st, 'BackupSession', 'tight-1', 120_000);
  t.equal(session.status?.phase, 'Failed', 'the session is final: Failed');
  const host = session.status?.targets?.[0]?.stats?.[0];
  t.equal(host?.phase, 'Failed', 'its host Failed');
  t.comment(`host error: ${host?.error}`);
  t.match(host?.error ?? '', new RegExp(`OOMKilled.*memory limit ${OOM_LIMIT}`), "the host's error says OOMKilled", {
    host,
  });
  const events = (await st.kube.list<Event>('v1', 'Event', st.ns)).items.filter(
    (e) => e.involvedObject?.name === 'tight-1',
  );
  t.ok(
    events.some((e) => e.reason === 'FailedToCompleteDueToDisruption' && /OOMKilled/.test(e.message ?? '')),
    "and the session's Warning Event says so",
    { events: events.map((e) => `${e.reason}: ${e.message}`) },
  );
});

t.test(
  'a claim still binding: the backup Job waits for the scheduler to place its pod, then backs it up',
  async (t) => {
    type SchedPod = Pod & {
      status?: { conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }> };
    };
    await claimFor(st, 'late');
    await backUpClaim('late-backup', { claim: 'late' });
    const unplaced = await until(
      'the Job pod reported Unschedulable by the scheduler',
      async () =>
        (await st.kube.list<SchedPod>('v1', 'Pod', st.ns)).items.find(
          (p) =>
            p.metadata?.labels?.['job-name']?.startsWith('stash-backup-late-backup-1-') &&
            p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'),
        ),
      60_000,
    );
    const why = unplaced.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message ?? '';
    t.match(why, /unbound/i, `the scheduler cannot place it: ${why}`);
    // An ended Job's host is failed 3 s after it ends (jobs.ts JOB_REPORT_GRACE_MS); an unplaced pod is not ended.
    await new Promise((r) => setTimeout(r, 8_000));
    const waiting = await st.kube.get<Session>(apiVersionOf('BackupSession'), 'BackupSession', st.ns, 'late-backup-1');
    t.equal(waiting.status?.phase, 'Running', 'eight seconds on, the session still waits', { status: waiting.status });
    await hostPathVolume(st, 'late', { 'late.txt': 'bound at last\n' });
    const session = await finalPhase<Session>(st, 'BackupSession', 'late-backup-1');
    t.equal(session.status?.phase, 'Succeeded', 'once the claim binds, the Job runs and the backup succeeds', {
      status: session.status,
    });
    t.match(st.restic('ls', 'latest'), /late\.txt/, 'the snapshot holds the late volume');
  },
);
