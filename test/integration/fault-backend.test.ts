// Fault injection (issue #14.6): the backend stopped mid-upload and started again (restic's REST server, MinIO),
// and an agent killed mid-backup, alone and together with its restic — real processes only: a private world of
// real etcd + kube-apiserver + kube-controller-manager, the operator process, and the pod runner, which is our
// dev/test stand-in for a kubelet (it runs the `stash` sidecars as local processes and restarts a container
// that dies, as a kubelet would). Each session must end final within the liveness bound; afterwards a clean
// session succeeds, `restic check` is clean and every earlier snapshot is intact; after an agent is killed no
// restic process of it is left (read from /proc).
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import {
  DATA_PATH,
  REPO_MOUNT,
  agentPids,
  backupBatch,
  backupSession,
  createApp,
  namespaceWithRepo,
  resticIn,
  sidecarsRunning,
  until,
  type E2EWorld,
} from '../support/e2e-world.ts';
import type { Assert } from '../backends/roundtrip.ts';
import {
  FAULT_LIVENESS_MS,
  faultWorld,
  figure,
  finalPhase,
  namespaceWithBackend,
  openSessions,
  procsNaming,
  restartableBackend,
  resticRepo,
  secretData,
} from '../support/fault-world.ts';

const BB = apiVersionOf('BackupBatch');
const MiB = 1024 * 1024;

t.setTimeout(600_000);
const w = await faultWorld(t, 'fault-backend');

async function app(w: E2EWorld, ns: string, name: string, mib: number): Promise<string> {
  const dir = await createApp(w, ns, name, {
    'blob-1.bin': randomBytes((mib * MiB) / 2),
    'blob-2.bin': randomBytes((mib * MiB) / 2),
    'small.txt': `${name}\n`,
  });
  await w.kube.create(
    backupBatch(ns, name, [name], { retentionPolicy: { name: 'keep-all', keepLast: 100, prune: false } }),
  );
  await until(
    `BackupBatch ${name} Ready`,
    async () =>
      (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, name)).status?.phase ===
      'Ready',
    60_000,
  );
  await sidecarsRunning(w, ns, [name]);
  return dir;
}

/** The backend stopped mid-upload and started again; each case has its own namespace, server and invoker. */
async function backendDown(t: Assert, kind: 'rest' | 's3'): Promise<void> {
  const ns = `fault-${kind}`;
  const server = await restartableBackend(kind);
  t.teardown(() => server.stop());
  await namespaceWithBackend(w, ns, server.backend, server.secret);
  await app(w, ns, 'data', 64);
  const [agent] = agentPids(ns, 'data');
  t.ok(agent, `${kind}: found the sidecar agent process`);
  await w.kube.create(backupSession(ns, 'data-1', 'data'));
  // Its restic, found by the agent's process group (one `ps`, cheap enough to poll often while others run).
  await until(
    `${kind}: restic uploading`,
    async () => resticIn(agent!).some((p) => / backup /.test(p.args)),
    60_000,
    50,
  );
  const at = Date.now();
  await server.stop();
  await new Promise((r) => setTimeout(r, 5_000));
  await server.start();
  const { s, ms } = await finalPhase(w, ns, 'data-1', at, FAULT_LIVENESS_MS * 4);
  const host = s.status?.targets?.[0]?.stats?.[0];
  figure(t, `${kind} backend down 5 s mid-upload`, ms, `${s.status?.phase}${host?.error ? `: ${host.error}` : ''}`);
  t.ok(
    s.status?.phase === 'Succeeded' || host?.error,
    `${kind}: final, Succeeded or Failed with a reason (${s.status?.phase}: ${host?.error ?? ''})`,
  );
  await w.kube.create(backupSession(ns, 'data-2', 'data'));
  t.equal(
    (await finalPhase(w, ns, 'data-2', Date.now())).s.status?.phase,
    'Succeeded',
    `${kind}: the next session succeeds`,
  );
  const repoUrl =
    kind === 'rest' ? `rest:http://127.0.0.1:${server.port}/repo/` : `s3:http://127.0.0.1:${server.port}/fault/repo`;
  const repo = resticRepo(repoUrl, server.secret);
  t.ok((await repo.snapshots()).length >= 1, `${kind}: snapshots are there`);
  t.match(await repo.check(), /no errors were found/, `${kind}: restic check is clean`);
  t.same(await openSessions(w, ns), [], `${kind}: no session, member or host left Running or Pending`);
}

/** An agent SIGKILLed mid-backup, alone or with its process group (its restic). */
async function agentKilled(t: Assert, how: 'the agent alone' | 'the agent with its restic'): Promise<void> {
  const ns = how === 'the agent alone' ? 'fault-kill-agent' : 'fault-kill-group';
  const repoDir = await namespaceWithRepo(w, ns);
  const dir = await app(w, ns, 'big', 64);
  await w.kube.create(backupSession(ns, 'big-0', 'big'));
  t.equal(
    (await finalPhase(w, ns, 'big-0', Date.now())).s.status?.phase,
    'Succeeded',
    `${how}: a first snapshot to keep`,
  );
  const repo = resticRepo(repoDir, await secretData(w, ns));
  const earlier = await repo.snapshots();
  // New data, so the second backup has something to upload for a while.
  writeFileSync(join(dir, 'blob-3.bin'), randomBytes(64 * MiB));
  const [agent] = agentPids(ns, 'big');
  t.ok(agent, `${how}: found the sidecar agent process`);
  await w.kube.create(backupSession(ns, 'big-1', 'big'));
  const restic = await until(
    'restic backup of this agent',
    async () => {
      const found = resticIn(agent!).filter((p) => / backup /.test(p.args) && p.args.includes(DATA_PATH));
      return found.length > 0 ? found : undefined;
    },
    60_000,
    20,
  );
  t.ok(restic.length > 0, `${how}: the kill lands while restic runs (pids ${restic.map((r) => r.pid).join(', ')})`);
  const at = Date.now();
  process.kill(how === 'the agent alone' ? agent! : -agent!, 'SIGKILL');
  const left = await until(
    "the killed agent's restic gone",
    async () => {
      const alive = restic.filter((r) => procsNaming(REPO_MOUNT).some((p) => p.pid === r.pid));
      return alive.length === 0 ? [] : undefined;
    },
    10_000,
    100,
  ).catch(() => restic.filter((r) => procsNaming(REPO_MOUNT).some((p) => p.pid === r.pid)));
  t.same(
    left,
    [],
    `${how}: no restic process of the killed agent is left (/proc; was ${restic.map((r) => r.pid).join(', ')})`,
  );
  const { s, ms } = await finalPhase(w, ns, 'big-1', at, FAULT_LIVENESS_MS * 4);
  const host = s.status?.targets?.[0]?.stats?.[0];
  figure(t, `${how} SIGKILLed mid-backup`, ms, `${s.status?.phase}${host?.error ? `: ${host.error}` : ''}`);
  t.ok(
    s.status?.phase === 'Succeeded' || host?.error,
    `${how}: final, Succeeded (the restarted agent resumed) or Failed with a reason: ${s.status?.phase} ${host?.error ?? ''}`,
  );
  await w.kube.create(backupSession(ns, 'big-2', 'big'));
  t.equal(
    (await finalPhase(w, ns, 'big-2', Date.now())).s.status?.phase,
    'Succeeded',
    `${how}: the next session succeeds`,
  );
  const now = await repo.snapshots();
  t.ok(
    earlier.every((id) => now.includes(id)),
    `${how}: the earlier snapshot is intact`,
  );
  t.match(await repo.check(), /no errors were found/, `${how}: restic check is clean`);
  t.same(await openSessions(w, ns), [], `${how}: no session, member or host left Running or Pending`);
}

// The four cases share nothing but the control plane (own namespaces, invokers, servers, and a kill case finds
// its restic by the agent's process group), so they run at once.
t.test(
  'backend stopped mid-upload (REST server, MinIO) and agent SIGKILLed mid-backup (alone, with its restic)',
  async (t) => {
    await Promise.all([
      backendDown(t, 'rest'),
      backendDown(t, 's3'),
      agentKilled(t, 'the agent alone'),
      agentKilled(t, 'the agent with its restic'),
    ]);
  },
);
