// Repository wipeOut (docs/api.md §3, docs/decisions/0015-repository-wipeout.md) against restic's REST server and
// MinIO on 127.0.0.1, with the operator of the pod-runner world: the operator adds upstream's `stash` finalizer;
// deleting a Repository with `wipeOut: true` removes every file of its restic repository (the REST server's
// directory holds no file afterwards, MinIO's data directory no object under the prefix, and restic itself finds
// no repository there) while a neighbour repository in the same server or bucket is untouched; with `false` the
// data stays and restic still lists its snapshots; the Repository's Snapshot objects go either way. A delete
// while a BackupSession runs waits (the Repository stays, with its deletionTimestamp and its data) until the
// session ends. A wipe that fails (wrong REST password) keeps the finalizer, says why in an Event without the
// credentials, and succeeds once the Secret is fixed.
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { apiVersionOf, REPOSITORY_FINALIZER } from '../../shared/api/constants.ts';
import { SNAPSHOT_API_VERSION, SNAPSHOT_KIND } from '../../shared/api/snapshot.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import type { BackendSpec } from '../../shared/restic/backend.ts';
import { makeRestic, type TestRestic } from '../backends/restic.ts';
import { startRestServer, type RestServer } from '../backends/rest-server.ts';
import { startS3Server, type S3Server } from '../backends/s3-server.ts';
import { restic as resticBin } from '../support/agent-world.ts';
import { e2eWorld, until } from '../support/e2e-world.ts';

t.setTimeout(420_000);
const w = await e2eWorld(t, 'wipeout', {
  operatorEnv: { STASH_SNAPSHOT_RESYNC: '2s', STASH_RESTIC_BINARY: resticBin() },
});
const REPO_API = apiVersionOf('Repository');
type Repo = KubeObject & { spec: { wipeOut?: boolean } };

/** Every regular file under dir, relative (directories alone do not count: rest-server keeps them). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(relative(dir, join(d, e.name)));
    }
  };
  walk(dir);
  return out.sort();
}

async function resticOf(t: Test, direct: BackendSpec, secret: Record<string, string>): Promise<TestRestic> {
  const r = await makeRestic(resticBin(), direct, secret);
  t.teardown(() => r.cleanup());
  return r;
}

/** A restic repository with two snapshots, made by restic itself. */
async function seed(t: Test, direct: BackendSpec, secret: Record<string, string>): Promise<TestRestic> {
  const r = await resticOf(t, direct, secret);
  await r.restic.initIfMissing();
  const src = mkdtempSync(join(tmpdir(), 'stash-wipe-src-'));
  mkdirSync(join(src, 'd'));
  for (let i = 0; i < 2; i++) {
    writeFileSync(join(src, 'd', `f${i}.txt`), `payload ${i} ${Math.random()}\n`.repeat(1000));
    await r.restic.backup([join(src, 'd')], { host: 'app-0' });
  }
  return r;
}

async function namespace(ns: string, secret: Record<string, string>): Promise<void> {
  await w.kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await w.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'repo-secret', namespace: ns },
    stringData: secret,
  });
}

async function createRepo(ns: string, name: string, backend: Record<string, unknown>, wipeOut: boolean): Promise<Repo> {
  await w.kube.create({
    apiVersion: REPO_API,
    kind: 'Repository',
    metadata: { name, namespace: ns },
    spec: { wipeOut, backend: { ...backend, storageSecretName: 'repo-secret' } },
  });
  return await until(`the operator to add the ${REPOSITORY_FINALIZER} finalizer to ${ns}/${name}`, async () => {
    const r = await w.kube.get<Repo>(REPO_API, 'Repository', ns, name);
    return r.metadata?.finalizers?.includes(REPOSITORY_FINALIZER) ? r : undefined;
  });
}

async function snapshotCount(ns: string, repo: string): Promise<number> {
  const l = await w.kube.list(SNAPSHOT_API_VERSION, SNAPSHOT_KIND, ns, { labelSelector: `repository=${repo}` });
  return l.items.length;
}

async function gone(ns: string, name: string, timeoutMs = 60_000): Promise<void> {
  await until(
    `Repository ${ns}/${name} to be gone`,
    async () => (await w.kube.getOrNull(REPO_API, 'Repository', ns, name)) === null,
    timeoutMs,
  );
}

async function events(ns: string, name: string): Promise<Array<{ reason?: string; message?: string }>> {
  const l = await w.kube.list('v1', 'Event', ns);
  return (l.items as Array<KubeObject & { involvedObject?: { name?: string; kind?: string } }>).filter(
    (e) => e.involvedObject?.kind === 'Repository' && e.involvedObject.name === name,
  ) as Array<{ reason?: string; message?: string }>;
}

async function repositoryMissing(r: TestRestic): Promise<boolean> {
  return await r.restic.snapshots().then(
    () => false,
    () => true,
  );
}

/** true deletes, false keeps: the same story on one backend. */
async function story(
  t: Test,
  ns: string,
  a: { spec: Record<string, unknown>; direct: BackendSpec; files: () => string[] },
  b: { spec: Record<string, unknown>; direct: BackendSpec; files: () => string[] },
  neighbour: { files: () => string[] },
  secret: Record<string, string>,
): Promise<void> {
  const ra = await seed(t, a.direct, secret);
  const rb = await seed(t, b.direct, secret);
  const neighbourBefore = neighbour.files();
  t.ok(neighbourBefore.length > 0, `a neighbour repository outside both (${neighbourBefore.length} files)`);
  t.ok(a.files().length >= 8, `the wipeOut repository holds ${a.files().length} files before`);
  await namespace(ns, secret);
  await createRepo(ns, 'wiped', a.spec, true);
  await createRepo(ns, 'kept', b.spec, false);
  await until('the Snapshot objects of both Repositories', async () =>
    (await snapshotCount(ns, 'wiped')) === 2 && (await snapshotCount(ns, 'kept')) === 2 ? true : undefined,
  );

  const t0 = Date.now();
  await w.kube.delete(REPO_API, 'Repository', ns, 'wiped');
  await gone(ns, 'wiped');
  t.comment(`wipeOut: true: Repository gone ${Date.now() - t0} ms after the delete`);
  t.same(a.files(), [], 'wipeOut: true: no file of the repository is left in the backend');
  t.ok(await repositoryMissing(ra), 'restic finds no repository there any more');
  await until('the Snapshot objects of the wiped Repository to go', async () =>
    (await snapshotCount(ns, 'wiped')) === 0 ? true : undefined,
  );
  t.pass('its Snapshot objects are gone');
  const wiped = (await events(ns, 'wiped')).find((e) => e.reason === 'RepositoryWipedOut');
  t.match(wiped?.message, /^Repository deleted with spec\.wipeOut: deleted \d+ file\(s\) of /, 'an Event says so');
  t.notMatch(wiped?.message, new RegExp(secret.RESTIC_PASSWORD!), 'without the password');

  const before = b.files();
  await w.kube.delete(REPO_API, 'Repository', ns, 'kept');
  await gone(ns, 'kept');
  t.same(b.files(), before, 'wipeOut: false: every file is still there');
  t.equal((await rb.restic.snapshots()).length, 2, 'restic still lists both snapshots');
  await until('the Snapshot objects of the kept Repository to go', async () =>
    (await snapshotCount(ns, 'kept')) === 0 ? true : undefined,
  );
  t.same(neighbour.files(), neighbourBefore, 'the neighbour repository is untouched');
}

// One REST server for the whole file: the session and retry stories below use it too.
const rest: RestServer = await startRestServer({
  auth: { username: 'stash', password: 'rest-wipe-pass' },
  password: 'wipe-pass',
});
t.teardown(() => rest.stop());
let s3: S3Server;

t.test('REST backend: data gone with true, kept with false', async (t) => {
  const repo = (path: string) => ({
    spec: { rest: { url: `${rest.baseUrl}${path}` } },
    direct: { rest: { url: `${rest.baseUrl}${path}` } },
    files: () => filesUnder(join(rest.dataDir, path)),
  });
  // The neighbour's path starts like the wiped one's: a prefix match must not reach it.
  const neighbour = repo('wiped-too');
  await seed(t, neighbour.direct, rest.secret);
  await story(t, 'wipe-rest', repo('wiped'), repo('kept'), neighbour, rest.secret);
});

t.test('S3 backend (MinIO): data gone with true, kept with false, nothing outside the prefix', async (t) => {
  s3 = await startS3Server({ bucket: 'wipe', password: 'wipe-s3-pass' });
  t.teardown(() => s3.stop());
  const repo = (prefix: string) => {
    const backend = { s3: { ...s3.backend.s3, prefix } };
    return { spec: backend, direct: backend, files: () => filesUnder(join(s3.dataDir, 'wipe', prefix)) };
  };
  const neighbour = repo('team/app2');
  await seed(t, neighbour.direct, s3.secret);
  await story(t, 'wipe-s3', repo('team/app'), repo('team/kept'), neighbour, s3.secret);
});

t.test('a delete while a BackupSession runs waits until the session ends', async (t) => {
  const ns = 'wipe-busy';
  const path = 'busy';
  const direct = { rest: { url: `${rest.baseUrl}${path}` } };
  const r = await seed(t, direct, rest.secret);
  const files = () => filesUnder(join(rest.dataDir, path));
  const before = files();
  await namespace(ns, rest.secret);
  await createRepo(ns, 'repo', direct, true);
  // A Deployment scaled to zero: the invoker is Ready (its target exists) and its session waits for hosts
  // until its timeOut ends it.
  await w.kube.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'idle-app', namespace: ns },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: 'idle-app' } },
      template: {
        metadata: { labels: { app: 'idle-app' } },
        spec: {
          containers: [{ name: 'app', image: 'busybox', volumeMounts: [{ name: 'd', mountPath: '/data' }] }],
          volumes: [{ name: 'd', emptyDir: {} }],
        },
      },
    },
  });
  await w.kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name: 'busy', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      timeOut: '40s',
      target: {
        ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'idle-app' },
        volumeMounts: [{ name: 'd', mountPath: '/data' }],
        paths: ['/data'],
      },
      retentionPolicy: { name: 'keep', keepLast: 5, prune: true },
    },
  });
  type Phased = KubeObject & { status?: { phase?: string; conditions?: Array<{ type: string; message?: string }> } };
  await until('the BackupConfiguration to be Ready', async () => {
    const bc = await w.kube.get<Phased>(apiVersionOf('BackupConfiguration'), 'BackupConfiguration', ns, 'busy');
    return bc.status?.phase === 'Ready';
  });
  await w.kube.create({
    apiVersion: apiVersionOf('BackupSession'),
    kind: 'BackupSession',
    metadata: { name: 'busy-1', namespace: ns },
    spec: { invoker: { apiGroup: 'stash.appscode.com', kind: 'BackupConfiguration', name: 'busy' } },
  });
  const session = () => w.kube.get<Phased>(apiVersionOf('BackupSession'), 'BackupSession', ns, 'busy-1');
  await until('the BackupSession to be Running', async () => (await session()).status?.phase === 'Running');

  const t0 = Date.now();
  await w.kube.delete(REPO_API, 'Repository', ns, 'repo');
  const waiting = await until('the WipeOutWaiting Event', async () =>
    (await events(ns, 'repo')).find((e) => e.reason === 'WipeOutWaiting'),
  );
  t.match(waiting.message, /waiting to delete the backend data: BackupSession wipe-busy\/busy-1 is backing up into it/);
  const bc = await until('the invoker to see the Repository going', async () => {
    const o = await w.kube.get<Phased>(apiVersionOf('BackupConfiguration'), 'BackupConfiguration', ns, 'busy');
    return o.status?.conditions?.find((c) => c.type === 'RepositoryFound' && /being deleted/.test(c.message ?? ''))
      ? o
      : undefined;
  });
  t.equal(bc.status?.phase, 'NotReady', 'no new session starts from a Repository being deleted');
  // While the session runs: the Repository stays, marked for deletion, and so does its data.
  let checks = 0;
  const problems: string[] = [];
  for (;;) {
    const s = await session();
    if (s.status?.phase !== 'Running') break;
    const repo = await w.kube.getOrNull<Repo>(REPO_API, 'Repository', ns, 'repo');
    if (!repo) problems.push(`check ${checks}: the Repository is gone`);
    else if (!repo.metadata?.deletionTimestamp) problems.push(`check ${checks}: no deletionTimestamp`);
    if (JSON.stringify(files()) !== JSON.stringify(before)) problems.push(`check ${checks}: the data changed`);
    checks++;
    await new Promise((res) => setTimeout(res, 2000));
  }
  t.same(problems, [], 'every check while Running: the Repository there with its deletionTimestamp, data untouched');
  t.ok(checks >= 5, `checked ${checks} times over ${Math.round((Date.now() - t0) / 1000)} s while Running`);
  const ended = Date.now();
  t.equal((await session()).status?.phase, 'Failed', 'the session ended (its timeOut)');
  await gone(ns, 'repo');
  t.comment(`Repository gone ${Date.now() - ended} ms after the session ended`);
  t.same(files(), [], 'then the data is gone');
  t.ok(await repositoryMissing(r), 'restic finds no repository');
});

t.test('a failing wipe keeps the finalizer, says why without credentials, and is retried', async (t) => {
  const ns = 'wipe-retry';
  const path = 'retry';
  const direct = { rest: { url: `${rest.baseUrl}${path}` } };
  await seed(t, direct, rest.secret);
  const files = () => filesUnder(join(rest.dataDir, path));
  const wrong = { ...rest.secret, REST_SERVER_PASSWORD: 'wrong-password-value' };
  await namespace(ns, wrong);
  await createRepo(ns, 'repo', direct, true);
  await w.kube.delete(REPO_API, 'Repository', ns, 'repo');
  const failed = await until('a WipeOutFailed Event', async () =>
    (await events(ns, 'repo')).find((e) => e.reason === 'WipeOutFailed'),
  );
  t.match(failed.message, /Could not delete the backend data \(attempt 1, .*answered 401/, String(failed.message));
  t.notMatch(failed.message, /wrong-password-value|rest-wipe-pass/, 'no credentials in the Event');
  const repo = await w.kube.get<Repo>(REPO_API, 'Repository', ns, 'repo');
  t.ok(repo.metadata?.finalizers?.includes(REPOSITORY_FINALIZER), 'the finalizer stays');
  t.ok(files().length > 0, 'the data is still there');
  await w.kube.patch('v1', 'Secret', ns, 'repo-secret', { stringData: rest.secret });
  await gone(ns, 'repo', 90_000);
  t.same(files(), [], 'the retry with the right Secret deleted the data');
});
