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
  sidecarsRunning,
  until,
  type E2EWorld,
} from '../support/e2e-world.ts';
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

for (const kind of ['rest', 's3'] as const) {
  t.test(`${kind === 'rest' ? 'REST server' : 'MinIO'} stopped mid-upload and started again 5 s later`, async (t) => {
    const ns = `fault-${kind}`;
    const server = await restartableBackend(kind);
    t.teardown(() => server.stop());
    await namespaceWithBackend(w, ns, server.backend, server.secret);
    await app(w, ns, 'data', 64);
    await w.kube.create(backupSession(ns, 'data-1', 'data'));
    await until(
      'restic uploading',
      async () => procsNaming(`127.0.0.1:${server.port}`).some((p) => / backup /.test(p.cmd)),
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
      `final, Succeeded or Failed with a reason (${s.status?.phase}: ${host?.error ?? ''})`,
    );
    await w.kube.create(backupSession(ns, 'data-2', 'data'));
    t.equal((await finalPhase(w, ns, 'data-2', Date.now())).s.status?.phase, 'Succeeded', 'the next session succeeds');
    const repoUrl =
      kind === 'rest' ? `rest:http://127.0.0.1:${server.port}/repo/` : `s3:http://127.0.0.1:${server.port}/fault/repo`;
    const repo = resticRepo(repoUrl, server.secret);
    t.ok((await repo.snapshots()).length >= 1, 'snapshots are there');
    t.match(await repo.check(), /no errors were found/, 'restic check is clean');
    t.same(await openSessions(w, ns), [], 'no session, member or host left Running or Pending');
  });
}

for (const how of ['the agent alone', 'the agent with its restic'] as const) {
  t.test(`${how} SIGKILLed mid-backup: no restic of it is left, the session ends, the next one succeeds`, async (t) => {
    const ns = how === 'the agent alone' ? 'fault-kill-agent' : 'fault-kill-group';
    const repoDir = await namespaceWithRepo(w, ns);
    const dir = await app(w, ns, 'big', 64);
    await w.kube.create(backupSession(ns, 'big-0', 'big'));
    t.equal((await finalPhase(w, ns, 'big-0', Date.now())).s.status?.phase, 'Succeeded', 'a first snapshot to keep');
    const repo = resticRepo(repoDir, await secretData(w, ns));
    const earlier = await repo.snapshots();
    // New data, so the second backup has something to upload for a while.
    writeFileSync(join(dir, 'blob-3.bin'), randomBytes(64 * MiB));
    const [agent] = agentPids(ns, 'big');
    t.ok(agent, 'found the sidecar agent process');
    await w.kube.create(backupSession(ns, 'big-1', 'big'));
    const restic = await until(
      'restic backup of this agent',
      async () => {
        const found = procsNaming(REPO_MOUNT).filter((p) => / backup /.test(p.cmd) && p.cmd.includes(DATA_PATH));
        return found.length > 0 ? found : undefined;
      },
      60_000,
      20,
    );
    t.ok(restic.length > 0, `the kill lands while restic runs (pids ${restic.map((r) => r.pid).join(', ')})`);
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
      `no restic process of the killed agent is left (/proc; was ${restic.map((r) => r.pid).join(', ')})`,
    );
    const { s, ms } = await finalPhase(w, ns, 'big-1', at, FAULT_LIVENESS_MS * 4);
    const host = s.status?.targets?.[0]?.stats?.[0];
    figure(t, `${how} SIGKILLed mid-backup`, ms, `${s.status?.phase}${host?.error ? `: ${host.error}` : ''}`);
    t.ok(
      s.status?.phase === 'Succeeded' || host?.error,
      `final, Succeeded (the restarted agent resumed) or Failed with a reason: ${s.status?.phase} ${host?.error ?? ''}`,
    );
    await w.kube.create(backupSession(ns, 'big-2', 'big'));
    t.equal((await finalPhase(w, ns, 'big-2', Date.now())).s.status?.phase, 'Succeeded', 'the next session succeeds');
    const now = await repo.snapshots();
    t.ok(
      earlier.every((id) => now.includes(id)),
      'the earlier snapshot is intact',
    );
    t.match(await repo.check(), /no errors were found/, 'restic check is clean');
    t.same(await openSessions(w, ns), [], 'no session, member or host left Running or Pending');
  });
}
