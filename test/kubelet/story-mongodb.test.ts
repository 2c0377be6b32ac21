// Story on real pods: a MongoDB member. FerretDB on SQLite (the tests' MongoDB-protocol server,
// docs/decisions/0021-mongodb-dump-format.md) runs as a pod from its static binary, behind a Service; an
// AppBinding points at the Service's ClusterIP (this world runs no cluster DNS). The operator's backup Job runs
// the production agent image, whose MongoDB member dumps every user database with its own client on the Node
// driver into restic. The server's pod is then deleted (its data lived in an emptyDir: the new pod is an empty
// server), a RestoreSession's Job replays the dump, and a canonical Extended-JSON listing of every database,
// collection, index and document is the same as before the backup.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import t from 'tap';
import { APPBINDING_API_VERSION, apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { AGENT_IMAGE } from '../world/entrypoints.ts';
import { FERRETDB_IMAGE } from '../world/images/build.ts';
import { inNetns } from '../world/node/netns.ts';
import { until } from '../support/e2e-world.ts';
import { backupNow, finalPhase, invokerReady, openStory, type Pod, type Session } from './story-kit.ts';

t.setTimeout(900_000);
const started = Date.now();
const st = await openStory(t, 'mongodb', ['ferretdb']);
const USER = 'stash';
const PASSWORD = `mongo-${randomBytes(6).toString('hex')}`;

type PodIp = Pod & { status?: { podIP?: string } };
type Job = KubeObject & { spec?: { template?: { spec?: { containers?: Array<{ image?: string }> } } } };

const ferretPod = async (not?: string): Promise<PodIp> =>
  await until(
    'a Ready FerretDB pod',
    async () =>
      (await st.kube.list<PodIp>('v1', 'Pod', st.ns, { labelSelector: 'app=mongo' })).items.find(
        (p) =>
          p.metadata?.name !== not &&
          !p.metadata?.deletionTimestamp &&
          p.status?.podIP &&
          p.status.containerStatuses?.every((c) => c.ready),
      ),
    120_000,
  );

/** The story's own client (mongo-client.ts: why it runs in the world's network namespace, what it writes and lists). */
const CLIENT = join(import.meta.dirname, 'mongo-client.ts');
const client = (mode: 'seed' | 'list', host: string): string => {
  const [cmd, args] = inNetns(process.execPath, ['--no-warnings', CLIENT, mode, host]);
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MONGO_USER: USER, MONGO_PASSWORD: PASSWORD },
    maxBuffer: 64 * 1024 * 1024,
  });
};

t.test('a FerretDB pod is dumped by the agent image’s backup Job and restored by a restore Job', async (t) => {
  const ns = st.ns;
  await st.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'mongo-auth', namespace: ns },
    stringData: { username: USER, password: PASSWORD },
  });
  // The admin user is set up at start from FERRETDB_SETUP_PASSWORD (env from the Secret, never argv); the
  // SQLite files and FerretDB's state live in the emptyDir.
  await st.kube.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'mongo', namespace: ns, labels: { app: 'mongo' } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'mongo' } },
      template: {
        metadata: { labels: { app: 'mongo' } },
        spec: {
          terminationGracePeriodSeconds: 2,
          securityContext: { fsGroup: 1000 },
          containers: [
            {
              name: 'ferretdb',
              image: FERRETDB_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              args: [
                '--handler=sqlite',
                '--sqlite-url=file:/data/',
                '--state-dir=/data',
                '--listen-addr=0.0.0.0:27017',
                '--debug-addr=-',
                '--telemetry=disable',
                '--log-level=warn',
                '--test-enable-new-auth',
                '--setup-database=admin',
                `--setup-username=${USER}`,
              ],
              env: [
                {
                  name: 'FERRETDB_SETUP_PASSWORD',
                  valueFrom: { secretKeyRef: { name: 'mongo-auth', key: 'password' } },
                },
              ],
              ports: [{ containerPort: 27017 }],
              readinessProbe: { tcpSocket: { port: 27017 }, periodSeconds: 1 },
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    },
  });
  const svc = await st.kube.create<KubeObject & { spec?: Record<string, unknown> & { clusterIP?: string } }>({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'mongo', namespace: ns },
    spec: { selector: { app: 'mongo' }, ports: [{ port: 27017, targetPort: 27017 }] },
  });
  await st.kube.create({
    apiVersion: APPBINDING_API_VERSION,
    kind: 'AppBinding',
    metadata: { name: 'mongo', namespace: ns },
    spec: {
      type: 'kubedb.com/mongodb',
      clientConfig: { url: `mongodb://${svc.spec!.clusterIP}:27017/` },
      secret: { name: 'mongo-auth' },
    },
  });
  const first = await ferretPod();
  // Ready means listening; the setup user may come a moment later, so the seed is retried briefly.
  await until(
    'the test data written',
    async () => {
      try {
        client('seed', first.status!.podIP!);
        return true;
      } catch (e) {
        t.comment(`seed: ${String((e as { stderr?: string }).stderr ?? e).split('\n')[0]}`);
        return false;
      }
    },
    30_000,
  );
  const before = client('list', first.status!.podIP!);
  const lines = before.trim().split('\n');
  t.equal(lines.length, 3 + 400 + 5, 'three collections, 405 documents listed');
  for (const type of [
    '$numberLong',
    '$numberDouble',
    '$numberInt',
    '$date',
    '$binary',
    '$timestamp',
    '$regularExpression',
    '$oid',
  ])
    t.match(before, type, `the data holds ${type}`);
  t.match(
    before,
    /"name":"customer_total","key":\{"customer":\{"\$numberInt":"1"\},"total":\{"\$numberInt":"-1"\}\}/,
    'the compound index listed',
  );
  t.match(
    before,
    /"name":"uuid_unique","key":\{"uuid":\{"\$numberInt":"1"\}\},"unique":true/,
    'the unique index listed',
  );

  await st.kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name: 'mongo-backup', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      task: { name: 'mongodb-backup-4.4.6' },
      target: { ref: { apiVersion: APPBINDING_API_VERSION, kind: 'AppBinding', name: 'mongo' } },
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
    },
  });
  await invokerReady(st, 'BackupConfiguration', 'mongo-backup');
  const b0 = Date.now();
  await backupNow(st, 'mongo-backup-1', { kind: 'BackupConfiguration', name: 'mongo-backup' });
  const session = await finalPhase<Session>(st, 'BackupSession', 'mongo-backup-1');
  const backupSeconds = (Date.now() - b0) / 1000;
  t.equal(session.status?.phase, 'Succeeded', 'the dump was backed up', { status: session.status });
  t.same(
    session.status?.targets?.[0]?.stats?.map((h) => [h.hostname, h.phase]),
    [['host-0', 'Succeeded']],
    'the host succeeded',
  );
  const jobs = (await st.kube.list<Job>('batch/v1', 'Job', ns)).items;
  t.comment(`Jobs: ${jobs.map((j) => j.metadata?.name).join(', ')}`);
  t.equal(
    jobs.filter((j) => j.metadata?.name?.startsWith('stash-backup-mongo-backup-1')).length,
    1,
    'one backup Job for the session',
  );
  t.same(
    [...new Set(jobs.flatMap((j) => j.spec?.template?.spec?.containers?.map((c) => c.image) ?? []))],
    [AGENT_IMAGE],
    'the Jobs run the production agent image',
  );
  const snaps = JSON.parse(st.restic('snapshots', '--json')) as Array<{
    id: string;
    hostname: string;
    paths: string[];
  }>;
  t.same(
    snaps.map((x) => [x.hostname, x.paths]),
    [['host-0', ['/dumpfile.ejson']]],
    'one snapshot: the Extended-JSON dump, streamed in',
  );
  const dump = st.restic('dump', snaps[0]!.id, '/dumpfile.ejson');
  t.notOk(dump.includes(PASSWORD), 'no password in the dump');

  // The server is lost: its pod goes, and the new one starts on an empty emptyDir.
  await st.kube.delete('v1', 'Pod', ns, first.metadata!.name!);
  const second = await ferretPod(first.metadata!.name!);
  const emptyListing = await until(
    'the new FerretDB server answering',
    async () => {
      try {
        return { out: client('list', second.status!.podIP!) };
      } catch {
        return undefined;
      }
    },
    30_000,
  );
  t.equal(emptyListing.out.trim(), '', 'the new FerretDB server holds no user database');

  const r0 = Date.now();
  await st.kube.create({
    apiVersion: apiVersionOf('RestoreSession'),
    kind: 'RestoreSession',
    metadata: { name: 'mongo-restore', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      task: { name: 'mongodb-restore-4.4.6' },
      target: {
        ref: { apiVersion: APPBINDING_API_VERSION, kind: 'AppBinding', name: 'mongo' },
        rules: [{ snapshots: ['latest'] }],
      },
    },
  });
  const restore = await finalPhase<Session & { status?: { stats?: Array<{ hostname?: string; phase?: string }> } }>(
    st,
    'RestoreSession',
    'mongo-restore',
  );
  const restoreSeconds = (Date.now() - r0) / 1000;
  t.equal(restore.status?.phase, 'Succeeded', 'the restore succeeded', { status: restore.status });
  t.same(
    restore.status?.stats?.map((h) => [h.hostname, h.phase]),
    [['host-0', 'Succeeded']],
    'the host restored',
  );
  const restoreJobs = (await st.kube.list<Job>('batch/v1', 'Job', ns)).items.filter((j) =>
    j.metadata?.name?.startsWith('stash-restore-'),
  );
  t.same(
    restoreJobs.map((j) => j.spec?.template?.spec?.containers?.map((c) => c.image)),
    [[AGENT_IMAGE]],
    'one restore Job, on the production agent image',
  );
  const after = client('list', second.status!.podIP!);
  const digest = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);
  t.equal(after, before, `every database, collection, index and document identical (listing ${digest(after)})`);
  t.comment(
    `figures: dump ${(dump.length / 1e6).toFixed(2)} MB, backup ${backupSeconds.toFixed(1)} s, restore ${restoreSeconds.toFixed(1)} s, story ${((Date.now() - started) / 1000).toFixed(0)} s (world start included)`,
  );
});
