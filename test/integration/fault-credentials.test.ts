// Fault injection (issue #14.6, #14.3): wrong credentials on each backend — a wrong repository password on a
// local-directory Repository, wrong basic auth on restic's REST server, a wrong secret key on MinIO (S3) — real
// processes only: a private world of real etcd + kube-apiserver + kube-controller-manager, the operator
// process, and the pod runner, which is our dev/test stand-in for a kubelet (it runs the `stash` sidecars as
// local processes). Each wrong Secret must fail the session in under 30 s with a reason naming the Secret key;
// once the Secret is fixed the next session succeeds, and the snapshot made before is intact.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { startRestServer } from '../backends/rest-server.ts';
import { startS3Server } from '../backends/s3-server.ts';
import {
  backupBatch,
  backupSession,
  createApp,
  namespaceWithRepo,
  sidecarsRunning,
  until,
} from '../support/e2e-world.ts';
import {
  faultWorld,
  figure,
  finalPhase,
  namespaceWithBackend,
  openSessions,
  resticRepo,
  secretData,
} from '../support/fault-world.ts';
import type { Assert } from '../backends/roundtrip.ts';

const BB = apiVersionOf('BackupBatch');

t.setTimeout(600_000);
const w = await faultWorld(t, 'fault-credentials');

interface Case {
  backend: 'local' | 'rest' | 's3';
  /** Sets up the namespace's Repository and Secret; returns the restic repository string for checks. */
  setup(ns: string): Promise<string>;
  /** The Secret key made wrong. */
  key: string;
}

const cases: Case[] = [
  { backend: 'local', key: 'RESTIC_PASSWORD', setup: async (ns) => await namespaceWithRepo(w, ns) },
  {
    backend: 'rest',
    key: 'REST_SERVER_PASSWORD',
    async setup(ns) {
      const srv = await startRestServer({
        auth: { username: 'stash', password: randomBytes(8).toString('hex') },
        repoPath: 'repo',
      });
      t.teardown(() => srv.stop());
      await namespaceWithBackend(w, ns, srv.backend, srv.secret);
      return `rest:${srv.backend.rest.url.replace('://', `://stash:${srv.secret.REST_SERVER_PASSWORD}@`)}`;
    },
  },
  {
    backend: 's3',
    key: 'AWS_SECRET_ACCESS_KEY',
    async setup(ns) {
      const srv = await startS3Server({ bucket: 'fault', prefix: 'repo' });
      t.teardown(() => srv.stop());
      await namespaceWithBackend(w, ns, srv.backend, srv.secret);
      return `s3:${srv.endpoint}/fault/repo`;
    },
  },
];

/** One backend: right Secret, wrong key, fixed again. */
async function wrongThenFixed(t: Assert, c: Case): Promise<void> {
  const ns = `fault-cred-${c.backend}`;
  const repo = await c.setup(ns);
  await createApp(w, ns, 'app', { 'a.txt': 'hello\n', 'b.bin': randomBytes(256 * 1024) });
  await w.kube.create(
    backupBatch(ns, 'app', ['app'], { retentionPolicy: { name: 'keep-all', keepLast: 100, prune: false } }),
  );
  await until(
    `${c.backend}: BackupBatch Ready`,
    async () =>
      (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, 'app')).status?.phase ===
      'Ready',
    60_000,
  );
  await sidecarsRunning(w, ns, ['app']);
  await w.kube.create(backupSession(ns, 'app-1', 'app'));
  t.equal(
    (await finalPhase(w, ns, 'app-1', Date.now())).s.status?.phase,
    'Succeeded',
    `${c.backend}: with the right Secret the backup succeeds`,
  );
  const good = await secretData(w, ns);
  const checker = resticRepo(repo, good);
  const earlier = await checker.snapshots();

  await w.kube.patch('v1', 'Secret', ns, 'repo-secret', {
    stringData: { [c.key]: `wrong-${randomBytes(6).toString('hex')}` },
  });
  const at = Date.now();
  await w.kube.create(backupSession(ns, 'app-2', 'app'));
  const { s, ms } = await finalPhase(w, ns, 'app-2', at, 90_000);
  const error = s.status?.targets?.[0]?.stats?.[0]?.error ?? '';
  figure(t, `wrong ${c.key} on ${c.backend}`, ms, `${s.status?.phase}: ${error}`);
  t.equal(s.status?.phase, 'Failed', `${c.backend}: the session fails`);
  t.ok(ms < 30_000, `${c.backend}: in under 30 s (${ms} ms)`);
  t.match(error, new RegExp(c.key), `${c.backend}: the reason names the Secret key ${c.key}: ${error}`);
  t.notMatch(error, /wrong-[0-9a-f]{12}/, `${c.backend}: the wrong value itself is not shown`);

  await w.kube.patch('v1', 'Secret', ns, 'repo-secret', { stringData: { [c.key]: good[c.key]! } });
  await w.kube.create(backupSession(ns, 'app-3', 'app'));
  t.equal(
    (await finalPhase(w, ns, 'app-3', Date.now())).s.status?.phase,
    'Succeeded',
    `${c.backend}: after the fix the next session succeeds`,
  );
  const now = await checker.snapshots();
  t.ok(
    earlier.every((id) => now.includes(id)),
    `${c.backend}: the snapshot made before is intact`,
  );
  t.match(await checker.check(), /no errors were found/, `${c.backend}: restic check is clean`);
  t.same(await openSessions(w, ns), [], `${c.backend}: no session, member or host left Running or Pending`);
}

// The three backends share nothing but the control plane (own namespaces, servers and invokers): they run at once.
t.test(
  'a wrong Secret key on local, REST and S3 fails the session in under 30 s naming the key; fixed, the next one succeeds',
  async (t) => {
    await Promise.all(cases.map((c) => wrongThenFixed(t, c)));
  },
);
