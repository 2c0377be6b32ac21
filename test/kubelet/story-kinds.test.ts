// Story on real pods: the three member kinds of issue 19 in one batch. A Deployment (stash sidecar), a Redis
// server (Debian's redis-server as a pod, behind a Service; the AppBinding points at its ClusterIP, since this
// world runs no cluster DNS) and the application's manifests (kubedump, by label) are backed up by ONE Sequential
// BackupBatch. The Redis pod is then deleted (its data lived in an emptyDir: the new pod starts empty), and ONE
// Sequential RestoreBatch in a FRESH namespace that holds only a Repository brings everything back: kubedump
// re-creates the Deployment, its ConfigMap, the AppBinding and its Secret there; stash-init restores the
// Deployment's files into the re-created pod; the Redis member replays the dump through the re-created AppBinding.
// The kubedump Jobs run under the agent RBAC the chart ships (stash-kubedump-backup / -restore, bound in the
// invoker's namespace): a rule too narrow leaves objects out of the dump or fails their re-creation, and this
// story with them.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { apiVersionOf, APPBINDING_API_VERSION } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { encodeCommand } from '../../agent/db/resp.ts';
import { REDIS_IMAGE } from '../world/images/build.ts';
import { until } from '../support/e2e-world.ts';
import { appWorkload, backupNow, finalPhase, invokerReady, openStory, type Pod, type Session } from './story-kit.ts';

t.setTimeout(900_000);
const started = Date.now();
const st = await openStory(t, 'kinds', ['redis']);
const PART_OF = { 'app.kubernetes.io/part-of': 'shop' };
const SELECTOR = 'app.kubernetes.io/part-of=shop';
const PASSWORD = `redis-${randomBytes(6).toString('hex')}`;

type PodIp = Pod & {
  spec?: { serviceAccountName?: string };
  status?: {
    podIP?: string;
    initContainerStatuses?: Array<{ name: string; state?: { terminated?: { exitCode?: number } } }>;
  };
};
type Batch = KubeObject & {
  status?: { phase?: string; members?: Array<{ ref: { kind?: string; name: string }; phase?: string }> };
};
type Job = KubeObject & {
  spec?: { template?: { spec?: { serviceAccountName?: string } } };
};

// The server's password reaches it through env from the Secret, then a config file (never its argv). No
// persistence: the data lives only in the process, so a new pod is an empty server.
const REDIS_START = [
  'set -e',
  'mkdir -p /run/redis',
  `printf 'requirepass "%s"\\n' "$REDIS_PASSWORD" > /run/redis/redis.conf`,
  'chmod 600 /run/redis/redis.conf',
  "exec redis-server /run/redis/redis.conf --port 6379 --bind 0.0.0.0 --protected-mode no --save '' --appendonly no --dir /run/redis",
].join('\n');

const redisPod = async (ns: string, not?: string): Promise<PodIp> =>
  await until(
    'a Ready Redis pod',
    async () =>
      (await st.kube.list<PodIp>('v1', 'Pod', ns, { labelSelector: 'app=redis' })).items.find(
        (p) =>
          p.metadata?.name !== not &&
          !p.metadata?.deletionTimestamp &&
          p.status?.podIP &&
          p.status.containerStatuses?.every((c) => c.ready),
      ),
    120_000,
  );

// The pods live in the world's network namespace: the story talks to Redis through `kubectl exec` and redis-cli
// in the server's own container (the password from its env), never over this machine's network.
const redisCli = (pod: string, args: string[], input?: Buffer): string =>
  execFileSync(
    st.world.kubectl,
    [
      '--kubeconfig',
      st.world.kubeconfig,
      '-n',
      st.ns,
      'exec',
      ...(input ? ['-i'] : []),
      pod,
      '-c',
      'redis',
      '--',
      'sh',
      '-c',
      'REDISCLI_AUTH="$REDIS_PASSWORD" exec redis-cli "$@"',
      'redis-cli',
      ...args,
    ],
    { encoding: 'utf8', ...(input ? { input } : {}) },
  );

/**
 * Every key of the databases used: a digest of its name, of the server's own serialisation (DUMP: type, encoding
 * and value) and its absolute expiry, computed by the server (Lua) so binary data never passes a terminal.
 */
const KEYSPACE_LUA = `local out = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
  out[#out + 1] = redis.sha1hex(k) .. ' ' .. redis.sha1hex(redis.call('DUMP', k)) .. ' ' .. redis.call('PEXPIRETIME', k)
end
table.sort(out)
return table.concat(out, ' | ')`;
const keyspace = (pod: string): string[] =>
  [0, 3].map((db) => `db${db}: ${redisCli(pod, ['--raw', '-n', String(db), 'EVAL', KEYSPACE_LUA, '0']).trim()}`);

const sums = (ns: string, pod: string) =>
  st.kubectl('-n', ns, 'exec', pod, '-c', 'app', '--', 'sh', '-c', 'cd /data && sha256sum own/*');

t.test('Deployment + Redis + kubedump: Sequential BackupBatch, one RestoreBatch into a fresh namespace', async (t) => {
  const ns = st.ns;
  // The Redis server (not part of the application's manifests: it is the infrastructure the AppBinding names).
  await st.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'cache-auth', namespace: ns, labels: PART_OF },
    stringData: { password: PASSWORD },
  });
  await st.kube.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'redis', namespace: ns, labels: { app: 'redis' } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'redis' } },
      template: {
        metadata: { labels: { app: 'redis' } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: 'redis',
              image: REDIS_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              command: ['sh', '-c', REDIS_START],
              env: [{ name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'cache-auth', key: 'password' } } }],
              ports: [{ containerPort: 6379 }],
              readinessProbe: {
                exec: { command: ['sh', '-c', 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping | grep -q PONG'] },
                periodSeconds: 1,
              },
            },
          ],
        },
      },
    },
  });
  const svc = await st.kube.create<KubeObject & { spec?: { clusterIP?: string } }>({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'redis', namespace: ns },
    spec: { selector: { app: 'redis' }, ports: [{ port: 6379, targetPort: 6379 }] },
  } as KubeObject);
  // The application: a Deployment, its ConfigMap, the AppBinding of its cache and the cache's Secret (above).
  const web = appWorkload(
    'Deployment',
    ns,
    'web',
    '[ -d /data/own ] || { mkdir -p /data/own; cat /config/greeting > /data/own/index.html; head -c 262144 /dev/urandom > /data/own/blob; }; ls -R /data > /tmp/at-start; httpd -f -p 8080 -h /data',
  ) as KubeObject & {
    spec: { template: { spec: { containers: Array<Record<string, unknown>>; volumes: unknown[] } } };
  };
  web.metadata!.labels = { ...web.metadata!.labels, ...PART_OF };
  const app = web.spec.template.spec.containers[0]!;
  app.volumeMounts = [...(app.volumeMounts as unknown[]), { name: 'config', mountPath: '/config' }];
  web.spec.template.spec.volumes.push({ name: 'config', configMap: { name: 'web-config' } });
  await st.kube.create({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'web-config', namespace: ns, labels: PART_OF },
    data: { greeting: '<h1>shop ✓</h1>\n' },
  });
  await st.kube.create(web);
  await st.kube.create({
    apiVersion: APPBINDING_API_VERSION,
    kind: 'AppBinding',
    metadata: { name: 'cache', namespace: ns, labels: PART_OF },
    spec: {
      type: 'kubedb.com/redis',
      clientConfig: { url: `redis://${svc.spec!.clusterIP}:6379` },
      secret: { name: 'cache-auth' },
    },
  });

  // Data of several shapes: binary keys and values, a large value, a hash, a list, TTLs, a second database;
  // sent as RESP through `redis-cli --pipe`, which is binary-safe.
  const first = await redisPod(ns);
  const now = Date.now();
  const commands: Array<Array<string | Buffer | number>> = [
    ['SET', 'cart:1', randomBytes(500)],
    ['SET', Buffer.from([0, 0xff, 0x10, 0x80]), randomBytes(64)],
    ['SET', 'blob:large', randomBytes(2 * 1024 * 1024)],
    ['HSET', 'user:7', 'name', 'Ada', 'plan', 'pro'],
    ['RPUSH', 'queue', 'a', 'b', Buffer.from([0xc3, 0x28])],
    ['SET', 'session:9', 'x', 'PXAT', now + 3_600_000],
    ['SET', 'session:10', randomBytes(16), 'PXAT', now + 7_200_123],
    ['SELECT', 3],
    ['SET', 'db3:key', 'in database 3', 'PXAT', now + 86_400_000],
  ];
  t.match(
    redisCli(first.metadata!.name!, ['--pipe'], Buffer.concat(commands.map((c) => encodeCommand(c)))),
    /errors: 0, replies: 9/,
    'test data written',
  );
  const before = keyspace(first.metadata!.name!);
  t.equal(before.join(' | ').split(' | ').length, 8, 'eight keys in two databases');
  t.match(before[1], / \d{13}$/, 'the key in database 3 has an absolute expiry');

  await st.kube.create({
    apiVersion: apiVersionOf('BackupBatch'),
    kind: 'BackupBatch',
    metadata: { name: 'shop', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      executionOrder: 'Sequential',
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
      members: [
        {
          target: {
            alias: 'web',
            ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
            paths: ['/data'],
            volumeMounts: [{ name: 'data', mountPath: '/data' }],
          },
        },
        {
          task: { name: 'redis-backup-7.0.5' },
          target: { alias: 'cache', ref: { apiVersion: APPBINDING_API_VERSION, kind: 'AppBinding', name: 'cache' } },
        },
        {
          task: { name: 'kubedump-backup-0.1.0', params: [{ name: 'labelSelector', value: SELECTOR }] },
          target: { alias: 'manifests', ref: { apiVersion: 'v1', kind: 'Namespace', name: ns } },
        },
      ],
    },
  });
  await invokerReady(st, 'BackupBatch', 'shop');
  const [webPod] = await until(
    'the web pod with a ready stash sidecar',
    async () => {
      const ready = (await st.kube.list<Pod>('v1', 'Pod', ns, { labelSelector: 'app=web' })).items.filter(
        (p) =>
          !p.metadata?.deletionTimestamp &&
          p.status?.containerStatuses?.some((s) => s.name === 'stash') &&
          p.status.containerStatuses.every((s) => s.ready),
      );
      return ready.length === 1 ? ready : undefined;
    },
    180_000,
  );
  const webSums = sums(ns, webPod!.metadata!.name!);
  t.match(webSums, /own\/blob[\s\S]*own\/index\.html/, 'the web app wrote its files');

  const b0 = Date.now();
  await backupNow(st, 'shop-1', { kind: 'BackupBatch', name: 'shop' });
  const session = await finalPhase<Session>(st, 'BackupSession', 'shop-1', 300_000);
  const backupSeconds = (Date.now() - b0) / 1000;
  t.equal(session.status?.phase, 'Succeeded', 'the batch backup succeeded', { status: session.status });
  t.same(
    session.status?.targets?.map((x) => [x.ref?.kind, x.phase]),
    [
      ['Deployment', 'Succeeded'],
      ['AppBinding', 'Succeeded'],
      ['Namespace', 'Succeeded'],
    ],
    'each member backed up',
  );
  await st.kube.patch(apiVersionOf('BackupBatch'), 'BackupBatch', ns, 'shop', { spec: { paused: true } });
  const jobs = (await st.kube.list<Job>('batch/v1', 'Job', ns)).items;
  const job = (i: number) => jobs.find((j) => j.metadata?.name === `stash-backup-shop-1-${i}`);
  t.equal(
    job(2)?.spec?.template?.spec?.serviceAccountName,
    'stash-kubedump-backup-shop',
    'the kubedump Job runs under its own service account (stash-kubedump-backup)',
  );
  const snaps = JSON.parse(st.restic('snapshots', '--json')) as Array<{
    id: string;
    hostname: string;
    paths: string[];
    summary?: { backup_start?: string; backup_end?: string };
  }>;
  t.same(
    snaps.map((s) => s.hostname).sort(),
    ['cache', 'manifests', 'web'],
    'one snapshot per member, under its alias',
  );
  // Sequential: each member's backup began after the one before it had ended (restic's own times, this machine's clock).
  const span = (host: string) => {
    const x = snaps.find((s) => s.hostname === host)?.summary;
    return { start: Date.parse(x?.backup_start ?? ''), end: Date.parse(x?.backup_end ?? '') };
  };
  for (const [a, b] of [
    ['web', 'cache'],
    ['cache', 'manifests'],
  ] as const)
    t.ok(
      span(b).start >= span(a).end,
      `Sequential: ${b} began (${new Date(span(b).start).toISOString()}) after ${a} ended (${new Date(span(a).end).toISOString()})`,
    );
  for (const s of snaps) {
    const stats = JSON.parse(st.restic('stats', '--json', s.id)) as { total_size: number; total_file_count: number };
    t.comment(`snapshot ${s.hostname} ${s.paths.join(',')}: ${stats.total_file_count} files, ${stats.total_size} B`);
  }
  const tree = st.restic('ls', snaps.find((s) => s.hostname === 'manifests')!.id);
  for (const f of [
    'resources/Deployment/web.yaml',
    'resources/ConfigMap/web-config.yaml',
    'resources/Secret/cache-auth.yaml',
    'resources/AppBinding/cache.yaml',
  ])
    t.match(tree, f, `the dump holds ${f}`);
  t.notMatch(tree, /resources\/(Deployment\/redis|Service\/redis|Repository)/, 'only what the label selector picks');

  // The cache is lost: its pod goes, and the new one is an empty server behind the same Service.
  await st.kube.delete('v1', 'Pod', ns, first.metadata!.name!);
  const second = await redisPod(ns, first.metadata!.name!);
  t.equal(redisCli(second.metadata!.name!, ['DBSIZE']).trim(), '0', 'the new Redis server is empty');

  // A fresh namespace with only the Repository (the same directory) and its Secret.
  const fresh = `${ns}-fresh`;
  st.cleanups.push(() => st.kube.delete('v1', 'Namespace', undefined, fresh).then(() => undefined));
  const repoSecret = await st.kube.get<KubeObject & { data?: Record<string, string> }>(
    'v1',
    'Secret',
    ns,
    'repo-secret',
  );
  await st.kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: fresh } });
  await st.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'repo-secret', namespace: fresh },
    data: repoSecret.data,
  } as KubeObject);
  await st.kube.create({
    apiVersion: apiVersionOf('Repository'),
    kind: 'Repository',
    metadata: { name: 'repo', namespace: fresh },
    spec: {
      backend: {
        storageSecretName: 'repo-secret',
        local: { mountPath: '/stash-repo', hostPath: { path: st.repoDir } },
      },
    },
  });
  const r0 = Date.now();
  await st.kube.create({
    apiVersion: apiVersionOf('RestoreBatch'),
    kind: 'RestoreBatch',
    metadata: { name: 'shop', namespace: fresh },
    spec: {
      repository: { name: 'repo' },
      executionOrder: 'Sequential',
      members: [
        {
          task: { name: 'kubedump-restore-0.1.0', params: [{ name: 'targetNamespace', value: fresh }] },
          target: {
            alias: 'manifests',
            ref: { apiVersion: 'v1', kind: 'Namespace', name: ns },
            rules: [{ snapshots: ['latest'] }],
          },
        },
        {
          target: {
            alias: 'web',
            ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
            volumeMounts: [{ name: 'data', mountPath: '/data' }],
            rules: [{ paths: ['/data'] }],
          },
        },
        {
          task: { name: 'redis-restore-7.0.5' },
          target: {
            alias: 'cache',
            ref: { apiVersion: APPBINDING_API_VERSION, kind: 'AppBinding', name: 'cache' },
            rules: [{ snapshots: ['latest'] }],
          },
        },
      ],
    },
  });
  const restore = await until(
    'the RestoreBatch to finish',
    async () => {
      const o = await st.kube.get<Batch>(apiVersionOf('RestoreBatch'), 'RestoreBatch', fresh, 'shop');
      return o.status?.phase === 'Succeeded' || o.status?.phase === 'Failed' ? o : undefined;
    },
    400_000,
  );
  const restoreSeconds = (Date.now() - r0) / 1000;
  t.equal(restore.status?.phase, 'Succeeded', 'the RestoreBatch succeeded', { status: restore.status });
  t.same(
    restore.status?.members?.map((m) => [m.ref.kind, m.phase]),
    [
      ['Namespace', 'Succeeded'],
      ['Deployment', 'Succeeded'],
      ['AppBinding', 'Succeeded'],
    ],
    'all three members restored',
  );

  // kubedump re-created the application's objects in the fresh namespace.
  for (const [apiVersion, kind, name] of [
    ['apps/v1', 'Deployment', 'web'],
    ['v1', 'ConfigMap', 'web-config'],
    ['v1', 'Secret', 'cache-auth'],
    [APPBINDING_API_VERSION, 'AppBinding', 'cache'],
  ] as const)
    t.ok(await st.kube.getOrNull(apiVersion, kind, fresh, name), `${kind} ${name} re-created in ${fresh}`);
  t.notOk(await st.kube.getOrNull('apps/v1', 'Deployment', fresh, 'redis'), 'nothing the selector left out');
  const restoreJob = (await st.kube.list<Job>('batch/v1', 'Job', fresh)).items.find((j) =>
    j.metadata?.name?.startsWith('stash-restore-shop-0'),
  );
  t.equal(
    restoreJob?.spec?.template?.spec?.serviceAccountName,
    'stash-kubedump-restore-shop',
    'the kubedump restore Job runs under stash-kubedump-restore',
  );

  // The re-created Deployment's pod starts on its restored files.
  const restored = await until(
    'the restored web pod Running',
    async () =>
      (await st.kube.list<PodIp>('v1', 'Pod', fresh, { labelSelector: 'app=web' })).items.find(
        (p) =>
          !p.metadata?.deletionTimestamp &&
          p.spec?.initContainers?.some((i) => i.name === 'stash-init') &&
          p.status?.phase === 'Running' &&
          p.status.containerStatuses?.every((s) => s.ready),
      ),
    180_000,
  );
  t.equal(
    restored.status?.initContainerStatuses?.find((i) => i.name === 'stash-init')?.state?.terminated?.exitCode,
    0,
    'stash-init ran to completion',
  );
  t.match(
    st.kubectl('-n', fresh, 'exec', restored.metadata!.name!, '-c', 'app', '--', 'cat', '/tmp/at-start'),
    /blob/,
    'the app container started on the restored files',
  );
  t.equal(sums(fresh, restored.metadata!.name!), webSums, 'files byte-identical to the backed-up ones');

  // Redis: every key back with the same serialisation and the same absolute expiry.
  t.same(keyspace(second.metadata!.name!), before, 'Redis keys, values and TTLs identical');
  t.comment(
    `figures: backup ${backupSeconds.toFixed(1)} s, restore ${restoreSeconds.toFixed(1)} s, story ${((Date.now() - started) / 1000).toFixed(0)} s (world start included)`,
  );
});
