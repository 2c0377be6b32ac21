// What every story of the kubelet tier sets up the same way: the one real-kubelet world (started, or reused when
// it already runs) with the product installed, a namespace of its own removed at the end, a local-directory
// Repository on this machine's disk (the node's filesystem is ours), and the small app image as the workload.
import type { Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import { Kube, type KubeObject } from '../../shared/kube/client.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT, binary } from '../world/bins.ts';
import { alive } from '../world/procs.ts';
import { APP_IMAGE, type ImageName } from '../world/images/build.ts';
import { installProduct } from '../world/node/install.ts';
import { WORLD_INSTANCE } from '../world/node/layout.ts';
import { startNodeWorld, type NodeWorldState } from '../world/node/world.ts';
import { until } from '../support/e2e-world.ts';

export type Pod = KubeObject & {
  spec?: { containers?: Array<{ name: string; image: string }>; initContainers?: Array<{ name: string }> };
  status?: {
    phase?: string;
    containerStatuses?: Array<{ name: string; ready?: boolean; restartCount?: number; containerID?: string }>;
  };
};
type Condition = { type: string; status: string; message?: string };
export type Session = KubeObject & {
  status?: {
    phase?: string;
    conditions?: Condition[];
    targets?: Array<{
      ref?: { kind?: string; name?: string };
      phase?: string;
      totalHosts?: number;
      conditions?: Condition[];
      stats?: Array<{
        hostname?: string;
        phase?: string;
        error?: string;
        snapshots?: Array<{ fileStats?: { totalFiles?: number } }>;
      }>;
    }>;
  };
};

export interface Story {
  world: NodeWorldState;
  kube: Kube;
  ns: string;
  /** The Repository `repo`'s directory on this machine. */
  repoDir: string;
  kubectl: (...args: string[]) => string;
  /** restic against the repository, from this machine. */
  restic: (...args: string[]) => string;
  /** Run at teardown before the namespace goes (cluster-scoped objects the story made). */
  cleanups: Array<() => Promise<void>>;
}

/**
 * The tier's world directory. A named world (STASH_TS_NODE_INSTANCE) has its own, so a story run under that name
 * never reuses another world whose namespace it would not find.
 */
export const KUBELET_TEST_DIR =
  process.env.STASH_TS_KUBELET_WORLD ??
  join(REPO_ROOT, '.cluster', WORLD_INSTANCE ? `kubelet-test-${WORLD_INSTANCE}` : 'kubelet-test');

/**
 * Story files may run side by side on the one world: whoever comes first starts it (and installs the product),
 * the others wait and then reuse it. The lock is a directory holding its owner's pid, taken over when that
 * process is gone.
 */
async function underWorldLock<T>(fn: () => Promise<T>): Promise<T> {
  const lock = join(KUBELET_TEST_DIR, '.story-lock');
  mkdirSync(KUBELET_TEST_DIR, { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      const owner = Number(
        (() => {
          try {
            return readFileSync(join(lock, 'pid'), 'utf8');
          } catch {
            return '';
          }
        })(),
      );
      if (owner && !alive(owner)) rmSync(lock, { recursive: true, force: true });
      else await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** The world, the story's namespace with the Secret `repo-secret` and the Repository `repo`; cleaned up at teardown. */
export async function openStory(t: Test, name: string, extraImages: ImageName[] = []): Promise<Story> {
  const world = await underWorldLock(async () => {
    const w = await startNodeWorld(KUBELET_TEST_DIR, {
      log: (m) => t.comment(m),
      images: ['operator', 'agent', 'app', ...extraImages],
    });
    await installProduct(w, (m) => t.comment(m));
    return w;
  });
  const kube = Kube.load(world.kubeconfig, 'stash-ts-kubelet-story');
  const ns = `story-${name}-${Date.now().toString(36)}`;
  const cleanups: Array<() => Promise<void>> = [];
  t.teardown(async () => {
    for (const c of cleanups) await c().catch(() => undefined);
    await kube.delete('v1', 'Namespace', undefined, ns).catch(() => undefined);
    kube.close();
  });
  const repoDir = join(KUBELET_TEST_DIR, 'repositories', ns);
  rmSync(repoDir, { recursive: true, force: true });
  mkdirSync(repoDir, { recursive: true });
  // The agent runs as a non-root user; the directory is a hostPath into its pods.
  chmodSync(repoDir, 0o777);
  const password = `story-${Date.now()}`;
  await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'repo-secret', namespace: ns },
    stringData: { RESTIC_PASSWORD: password },
  });
  await kube.create({
    apiVersion: apiVersionOf('Repository'),
    kind: 'Repository',
    metadata: { name: 'repo', namespace: ns },
    spec: {
      backend: { storageSecretName: 'repo-secret', local: { mountPath: '/stash-repo', hostPath: { path: repoDir } } },
    },
  });
  return {
    world,
    kube,
    ns,
    repoDir,
    cleanups,
    kubectl: (...args) =>
      execFileSync(world.kubectl, ['--kubeconfig', world.kubeconfig, ...args], { encoding: 'utf8' }),
    restic: (...args) =>
      execFileSync(binary('restic'), ['-r', repoDir, '--no-cache', ...args], {
        encoding: 'utf8',
        env: { ...process.env, RESTIC_PASSWORD: password },
      }),
  };
}

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

/** A workload of one `app` container running the app image with `command`, its volume `data` (an emptyDir) at /data. */
export function appWorkload(
  kind: WorkloadKind,
  ns: string,
  name: string,
  command: string,
  spec: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: {
      ...(kind === 'DaemonSet' ? {} : { replicas: 1 }),
      selector: { matchLabels: { app: name } },
      ...spec,
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: 'app',
              image: APP_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              command: ['sh', '-c', command],
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    },
  };
}

/** The workload's live pods once `count` of them run with every container ready, the stash sidecar included. */
export async function podsWithSidecar(st: Story, app: string, count = 1, ms = 180_000): Promise<Pod[]> {
  return await until(
    `${count} pod(s) of ${app} with a ready stash sidecar`,
    async () => {
      const live = (await st.kube.list<Pod>('v1', 'Pod', st.ns, { labelSelector: `app=${app}` })).items.filter(
        (p) => !p.metadata?.deletionTimestamp,
      );
      const ready = live.filter(
        (p) =>
          p.status?.phase === 'Running' &&
          p.status.containerStatuses?.some((c) => c.name === 'stash') &&
          p.status.containerStatuses.every((c) => c.ready),
      );
      return ready.length === count ? ready : undefined;
    },
    ms,
  );
}

/** An on-demand BackupSession for the invoker, labelled as Stash labels them. */
export async function backupNow(
  st: Story,
  name: string,
  invoker: { kind: 'BackupConfiguration' | 'BackupBatch'; name: string },
): Promise<void> {
  await st.kube.create({
    apiVersion: apiVersionOf('BackupSession'),
    kind: 'BackupSession',
    metadata: {
      name,
      namespace: st.ns,
      labels: { 'stash.appscode.com/invoker-type': invoker.kind, 'stash.appscode.com/invoker-name': invoker.name },
    },
    spec: { invoker: { apiGroup: 'stash.appscode.com', kind: invoker.kind, name: invoker.name } },
  });
}

/** The session (BackupSession, RestoreSession, RestoreBatch) once its phase is final. */
export async function finalPhase<T extends KubeObject & { status?: { phase?: string } }>(
  st: Story,
  kind: 'BackupSession' | 'RestoreSession' | 'RestoreBatch',
  name: string,
  ms = 240_000,
): Promise<T> {
  return await until(
    `${kind} ${name} to finish`,
    async () => {
      const o = await st.kube.get<T>(apiVersionOf(kind), kind, st.ns, name);
      // The reasons first and short: a failed story's status is long, and what CI shows of it is cut.
      if (o.status?.phase === 'Failed') console.log(`# ${kind} ${name} Failed: ${troubleOf(o.status)}`);
      return o.status?.phase === 'Succeeded' || o.status?.phase === 'Failed' ? o : undefined;
    },
    ms,
  );
}

/** The hosts' errors and the False or disrupted conditions of a session's status, one line. */
function troubleOf(status: unknown): string {
  type Cond = { type?: string; status?: string; message?: string };
  type Target = { ref?: { name?: string }; conditions?: Cond[]; stats?: Array<{ hostname?: string; error?: string }> };
  const s = status as { conditions?: Cond[]; targets?: Target[]; members?: Target[] };
  const bad = (c: Cond) => c.status === 'False' || c.type === 'BackupDisrupted' || c.type === 'RestoreDisrupted';
  const out = (s.conditions ?? []).filter(bad).map((c) => `${c.type}: ${c.message}`);
  for (const tg of [...(s.targets ?? []), ...(s.members ?? [])]) {
    for (const c of (tg.conditions ?? []).filter(bad)) out.push(`${tg.ref?.name} ${c.type}: ${c.message}`);
    for (const h of tg.stats ?? []) if (h.error) out.push(`${tg.ref?.name} host ${h.hostname}: ${h.error}`);
  }
  return out.join(' | ').replace(/\s+/g, ' ') || 'no reason in its status';
}

/** A BackupConfiguration `name` over the app workload's /data (volume `data`), on demand only (a schedule of once a year). */
export async function configureBackup(
  st: Story,
  name: string,
  target: { kind: WorkloadKind; name: string },
  /** spec.runtimeSettings (e.g. the sidecar's container.resources). */
  runtimeSettings?: Record<string, unknown>,
): Promise<void> {
  await st.kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name, namespace: st.ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      target: {
        ref: { apiVersion: 'apps/v1', ...target },
        paths: ['/data'],
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
      },
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
      ...(runtimeSettings ? { runtimeSettings } : {}),
    },
  });
}

/**
 * A PersistentVolumeClaim `name` bound to a hostPath PersistentVolume on this machine's disk (the node's
 * filesystem is ours; this world has no provisioner), filled with `files`. Returns the volume's directory.
 */
export async function hostPathClaim(st: Story, name: string, files: Record<string, string | Buffer>): Promise<string> {
  const dir = await hostPathVolume(st, name, files);
  await claimFor(st, name);
  return dir;
}

/** The claim `name` of hostPathVolume(st, name): until that volume exists, it stays Pending (unbound). */
export async function claimFor(st: Story, name: string): Promise<void> {
  await st.kube.create({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: st.ns },
    spec: {
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'story-hostpath',
      volumeName: `${st.ns}-${name}`,
      resources: { requests: { storage: '1Gi' } },
    },
  });
}

/** The hostPath PersistentVolume, reserved for the claim `name`, of hostPathClaim. Returns its directory. */
export async function hostPathVolume(st: Story, name: string, files: Record<string, string | Buffer>): Promise<string> {
  const dir = join(KUBELET_TEST_DIR, 'volumes', st.ns, name);
  rmSync(dir, { recursive: true, force: true });
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
  mkdirSync(dir, { recursive: true });
  // Job pods run the agent as a non-root user: a restore writes into the volume.
  execFileSync('chmod', ['-R', 'a+rwX', dir]);
  const pv = `${st.ns}-${name}`;
  await st.kube.create({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: pv },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: 'story-hostpath',
      hostPath: { path: dir, type: 'Directory' },
      claimRef: { namespace: st.ns, name },
    },
  });
  // Cluster-scoped: the namespace's removal does not take it along.
  st.cleanups.push(() => st.kube.delete('v1', 'PersistentVolume', undefined, pv).then(() => undefined));
  return dir;
}

/** Every regular file under `dir`, relative path → sha256 (for byte-for-byte comparisons). */
export function treeSums(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
      else if (e.isFile())
        out[`${rel}${e.name}`] = createHash('sha256')
          .update(readFileSync(join(d, e.name)))
          .digest('hex');
    }
  };
  walk(dir, '');
  return out;
}

/** The invoker (BackupConfiguration, BackupBatch) once the operator calls it Ready. */
export async function invokerReady(
  st: Story,
  kind: 'BackupConfiguration' | 'BackupBatch',
  name: string,
): Promise<void> {
  await until(
    `${kind} ${name} Ready`,
    async () =>
      (await st.kube.get<KubeObject & { status?: { phase?: string } }>(apiVersionOf(kind), kind, st.ns, name)).status
        ?.phase === 'Ready',
    60_000,
  );
}
