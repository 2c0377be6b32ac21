// Story on real pods: the `stash` sidecar under a small memory limit (runtimeSettings.container.resources of the
// BackupConfiguration, injected into the sidecar) meets the kernel's OOM killer, and the session ends Failed with
// that reason and the limit — never Running, never a bare "signal SIGKILL".
// - restic is the victim (docs/restic.md §2.5): 200,000 empty files in one directory (a hostPath volume) make restic's memory grow
//   steadily with the file count (about 1.6 KiB a file: 335 MiB for all of them, measured with restic 0.18.1),
//   while the agent stays at its idle size (about 70 MiB). Under a 256Mi limit restic is by far the largest process
//   of the container when the limit is reached, so the kernel picks it; the agent lives and reports it.
// - the agent is the victim (docs/architecture.md §3.4): under 32Mi Node cannot even start, the kubelet restarts
//   the container with lastState OOMKilled, no heartbeat ever comes, and the operator's liveness failure names the
//   OOM kill and the limit.
import t from 'tap';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { until } from '../support/e2e-world.ts';
import {
  appWorkload,
  backupNow,
  configureBackup,
  finalPhase,
  openStory,
  podsWithSidecar,
  type Session,
} from './story-kit.ts';

t.setTimeout(420_000);
const st = await openStory(t, 'oom');

const FILES = 200_000;
const RESTIC_LIMIT = '256Mi';
const AGENT_LIMIT = '32Mi';

type Terminated = { reason?: string; exitCode?: number; finishedAt?: string };
type PodStatus = KubeObject & {
  status?: {
    phase?: string;
    containerStatuses?: Array<{
      name: string;
      ready?: boolean;
      restartCount?: number;
      containerID?: string;
      state?: { terminated?: Terminated; waiting?: { reason?: string } };
      lastState?: { terminated?: Terminated };
    }>;
  };
};
type Event = KubeObject & { reason?: string; message?: string; involvedObject?: { name?: string } };

const sidecarOf = (p: PodStatus) => p.status?.containerStatuses?.find((c) => c.name === 'stash');
const limits = (memory: string) => ({ container: { resources: { limits: { memory } } } });

/** Host pids of a container: the processes whose cgroup path names its containerd id. */
function containerPids(containerId: string): number[] {
  const id = containerId.replace(/^containerd:\/\//, '');
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cgroup`, 'utf8').includes(id)) pids.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return pids;
}

function procRead(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(procRead(pid, 'status'))?.[1] ?? 0) / 1024;

/** The container's memory cgroup directory on this (cgroup v1) machine, from one of its processes. */
function memoryCgroupOf(pid: number): string | undefined {
  const line = procRead(pid, 'cgroup')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes('memory'));
  return line ? `/sys/fs/cgroup/memory${line.split(':').slice(2).join(':')}` : undefined;
}

// The agent-victim case waits out the liveness bound (2 min), so it is set going first and judged last.
await st.kube.create(appWorkload('Deployment', st.ns, 'tiny', 'httpd -f -p 8080 -h /data'));
await configureBackup(st, 'tiny-backup', { kind: 'Deployment', name: 'tiny' }, limits(AGENT_LIMIT));
const tinyPod = await until(
  'the tiny pod whose sidecar the kubelet OOM-kills',
  async () => {
    const pods = (await st.kube.list<PodStatus>('v1', 'Pod', st.ns, { labelSelector: 'app=tiny' })).items;
    return pods.find((p) => sidecarOf(p)?.lastState?.terminated?.reason === 'OOMKilled');
  },
  120_000,
);
await backupNow(st, 'tiny-backup-1', { kind: 'BackupConfiguration', name: 'tiny-backup' });

t.test(
  `restic outgrows the sidecar's ${RESTIC_LIMIT}: the agent reports restic OOM-killed with the limit`,
  async (t) => {
    // Written here on the node's filesystem (a hostPath volume) rather than by the app container: 200,000 files take
    // a few seconds from this process and minutes from a shell loop on a loaded machine.
    const dataDir = `${st.repoDir}-many-data`;
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(join(dataDir, 'many'), { recursive: true });
    st.cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const seeded = Date.now();
    for (let i = 0; i < FILES; i++) closeSync(openSync(join(dataDir, 'many', String(i)), 'w', 0o644));
    t.comment(`${FILES} empty files written in ${Math.round((Date.now() - seeded) / 1000)} s`);
    const dep = appWorkload('Deployment', st.ns, 'many', 'httpd -f -p 8080 -h /data') as KubeObject & {
      spec: { template: { spec: { volumes: Array<Record<string, unknown>> } } };
    };
    dep.spec.template.spec.volumes = [{ name: 'data', hostPath: { path: dataDir, type: 'Directory' } }];
    const t0 = Date.now();
    await st.kube.create(dep);
    await configureBackup(st, 'many-backup', { kind: 'Deployment', name: 'many' }, limits(RESTIC_LIMIT));
    const [pod] = await podsWithSidecar(st, 'many');
    t.comment(`pod ready after ${Math.round((Date.now() - t0) / 1000)} s`);
    const sidecar = sidecarOf(pod as unknown as PodStatus)!;
    t.equal(sidecar.restartCount ?? 0, 0, 'the sidecar runs under its limit before the backup');

    await backupNow(st, 'many-backup-1', { kind: 'BackupConfiguration', name: 'many-backup' });
    const started = Date.now();
    // What the kernel chose from: each process's RSS in the container, sampled on the node.
    const peak = { restic: 0, agent: 0 };
    let cgroup: string | undefined;
    let session: Session | undefined;
    while (Date.now() - started < 180_000) {
      for (const p of containerPids(sidecar.containerID!)) {
        cgroup ??= memoryCgroupOf(p);
        const comm = procRead(p, 'comm').trim();
        if (comm === 'restic') peak.restic = Math.max(peak.restic, rssMiB(p));
        else if (comm === 'node' || comm === 'MainThread') peak.agent = Math.max(peak.agent, rssMiB(p));
      }
      session = await st.kube.get<Session>(apiVersionOf('BackupSession'), 'BackupSession', st.ns, 'many-backup-1');
      if (session.status?.phase === 'Succeeded' || session.status?.phase === 'Failed') break;
      await sleep(200);
    }
    t.comment(
      `session ${session?.status?.phase} after ${Math.round((Date.now() - started) / 1000)} s; peak RSS sampled: ` +
        `restic ${peak.restic.toFixed(0)} MiB, agent ${peak.agent.toFixed(0)} MiB`,
    );
    t.equal(session?.status?.phase, 'Failed', 'the session ends Failed', { status: session?.status });
    const host = session?.status?.targets?.[0]?.stats?.find((h) => h.hostname === 'host-0');
    t.match(
      host?.error,
      new RegExp(
        `restic backup was OOM-killed \\(container memory limit ${RESTIC_LIMIT}\\): raise runtimeSettings\\.container\\.resources\\.limits\\.memory`,
      ),
      "the host's error names the OOM kill and the limit",
    );
    t.notMatch(host?.error, /signal SIGKILL/, 'not a bare signal');

    // Ground truth from the node: one OOM kill in the sidecar's cgroup, and it was not the agent.
    t.ok(cgroup, 'the sidecar container memory cgroup found on the node');
    if (cgroup) {
      t.match(readFileSync(`${cgroup}/memory.oom_control`, 'utf8'), /^oom_kill 1$/m, 'the kernel OOM-killed once');
      t.equal(readFileSync(`${cgroup}/memory.limit_in_bytes`, 'utf8').trim(), String(256 * 2 ** 20), 'under 256Mi');
    }
    const after = await st.kube.get<PodStatus>('v1', 'Pod', st.ns, pod!.metadata!.name!);
    t.equal(sidecarOf(after)?.restartCount ?? 0, 0, 'the agent itself lived (no restart)');
    t.ok(
      peak.restic > peak.agent,
      `restic (${peak.restic.toFixed(0)} MiB) outgrew the agent (${peak.agent.toFixed(0)} MiB)`,
    );

    const events = await until(
      'the HostBackupFailed Event',
      async () => {
        const list = (await st.kube.list<Event>('v1', 'Event', st.ns)).items.filter(
          (e) => e.involvedObject?.name === 'many-backup-1' && e.reason === 'HostBackupFailed',
        );
        return list.length > 0 ? list : undefined;
      },
      30_000,
    );
    t.match(
      events[0]?.message,
      /restic backup was OOM-killed \(container memory limit 256Mi\)/,
      'and so does its Event',
    );
  },
);

t.test(
  `the agent cannot live in ${AGENT_LIMIT}: the operator fails the host naming the kubelet's OOMKilled`,
  async (t) => {
    const term = sidecarOf(tinyPod)?.lastState?.terminated;
    t.equal(term?.reason, 'OOMKilled', `the kubelet reports the sidecar OOMKilled (exit code ${term?.exitCode})`);
    const final = await finalPhase<Session>(st, 'BackupSession', 'tiny-backup-1', 240_000);
    t.equal(final.status?.phase, 'Failed', 'the session ends Failed, not Running');
    const host = final.status?.targets?.[0]?.stats?.find((h) => h.hostname === 'host-0');
    t.match(
      host?.error,
      new RegExp(
        `container stash of pod ${tinyPod.metadata?.name} was OOMKilled at \\S+ \\(memory limit ${AGENT_LIMIT}\\): raise runtimeSettings\\.container\\.resources\\.limits\\.memory`,
      ),
      "the host's failure names the OOM kill and the limit",
      { status: final.status },
    );
    const events = (await st.kube.list<Event>('v1', 'Event', st.ns)).items.filter(
      (e) => e.involvedObject?.name === 'tiny-backup-1' && e.reason === 'FailedToCompleteDueToDisruption',
    );
    t.match(events[0]?.message, /OOMKilled .*memory limit 32Mi/, 'and so does the Event');
  },
);
