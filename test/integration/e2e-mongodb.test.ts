// A MongoDB member run by the operator (pod-runner world): a BackupBatch whose member is a FerretDB server
// behind an AppBinding, with a local preBackup hook, backs up through its Job; a second session whose dump loses
// its connection halfway fails the member with the dump's reason and records no snapshot; then a RestoreBatch
// with `latest` and a local postRestore hook puts the first snapshot back into the wiped server. The AppBinding
// names a relay in front of the server, so the second session's connection can be cut.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { Int32, Long, ObjectId } from 'mongodb';
import { APPBINDING_API_VERSION, apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { ferretdbBin } from '../backends/bins.ts';
import { startCuttingProxy, startFerretDb } from '../backends/ferretdb.ts';
import {
  backupSession,
  e2eWorld,
  finished,
  namespaceWithRepo,
  until,
  type RestoreBatchObj,
  type SessionObj,
} from '../support/e2e-world.ts';

const BB = apiVersionOf('BackupBatch');
const BS = apiVersionOf('BackupSession');
const RB = apiVersionOf('RestoreBatch');

t.setTimeout(300_000);
if (!ferretdbBin()) throw new Error('ferretdb not built: run hack/build-bins.sh ferretdb');
const w = await e2eWorld(t, 'e2e-mongodb');
const password = `mongo-${randomBytes(6).toString('hex')}`;
const mongo = await startFerretDb({ password });
t.teardown(() => mongo.stop());

const hookCalls: Array<{ path: string; body: string }> = [];
const hooks = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    hookCalls.push({ path: req.url ?? '', body });
    res.end('ok');
  });
});
hooks.listen(0, '127.0.0.1');
await once(hooks, 'listening');
t.teardown(() => hooks.close());
const hookPort = (hooks.address() as AddressInfo).port;
const hook = (path: string) => ({
  httpPost: { host: '127.0.0.1', port: hookPort, path, body: '{"target":"{{ .Target.Name }}"}' },
});

type Doc = { _id: string | number | ObjectId | Long | Int32; [field: string]: unknown };

t.test('BackupBatch and RestoreBatch with a MongoDB member, local hooks, a dump cut halfway', async (t) => {
  const ns = 'mongo-src';
  await namespaceWithRepo(w, ns);
  // The relay the AppBinding names: first one that only counts, later one that cuts, on the same port.
  let relay = await startCuttingProxy(mongo.port, Infinity);
  const relayPort = relay.port;
  t.teardown(() => relay.stop());
  await w.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'store-auth', namespace: ns },
    stringData: { username: mongo.user, password },
  } as KubeObject);
  await w.kube.create({
    apiVersion: APPBINDING_API_VERSION,
    kind: 'AppBinding',
    metadata: { name: 'store', namespace: ns },
    spec: {
      type: 'kubedb.com/mongodb',
      clientConfig: { url: `mongodb://127.0.0.1:${relayPort}` },
      secret: { name: 'store-auth' },
    },
  } as KubeObject);
  const c = await mongo.client();
  await c
    .db('shop')
    .collection<Doc>('orders')
    .insertMany(Array.from({ length: 300 }, (_, i) => ({ _id: Long.fromNumber(i), n: new Int32(i), at: new Date(i) })));
  await c
    .db('zz_media')
    .collection<Doc>('files')
    .insertMany(Array.from({ length: 6 }, (_, i) => ({ _id: `f${i}`, data: randomBytes(512 * 1024) })));
  const snapshotOf = async () => ({
    orders: await c
      .db('shop')
      .collection('orders')
      .find({}, { promoteValues: false, sort: { _id: 1 } })
      .toArray(),
    files: await c
      .db('zz_media')
      .collection('files')
      .find({}, { sort: { _id: 1 } })
      .toArray(),
  });
  const original = await snapshotOf();

  await w.kube.create({
    apiVersion: BB,
    kind: 'BackupBatch',
    metadata: { name: 'store', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      retentionPolicy: { name: 'keep-5', keepLast: 5, prune: true },
      members: [
        {
          task: { name: 'mongodb-backup-4.4.6' },
          hooks: { preBackup: hook('/pre-backup') },
          target: { alias: 'store', ref: { apiVersion: APPBINDING_API_VERSION, kind: 'AppBinding', name: 'store' } },
        },
      ],
    },
  } as KubeObject);
  await until(
    'BackupBatch Ready',
    async () =>
      (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, 'store')).status?.phase ===
      'Ready',
    60_000,
  );
  await w.kube.create(backupSession(ns, 'store-1', 'store'));
  const good = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'store-1', 180_000);
  t.equal(good.status?.phase, 'Succeeded', 'the session succeeded', { status: good.status });
  const stats = good.status?.targets?.[0]?.stats?.[0];
  t.same([stats?.hostname, stats?.snapshots?.[0]?.path], ['store', '/dumpfile.ejson'], 'the dump under its alias');
  t.same(hookCalls, [{ path: '/pre-backup', body: '{"target":"store"}' }], 'the local preBackup hook ran, rendered');
  const dumpBytes = relay.relayed();
  t.ok(dumpBytes > 3 * 512 * 1024, `the dump read ${dumpBytes} bytes through the relay`);

  // The second session's dump: the relay dies once half of a whole dump has passed.
  await relay.stop();
  relay = await startCuttingProxy(mongo.port, Math.floor(dumpBytes / 2), relayPort);
  await w.kube.create(backupSession(ns, 'store-2', 'store'));
  const bad = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'store-2', 180_000);
  t.ok(relay.cut(), 'the relay cut the second dump');
  t.equal(bad.status?.phase, 'Failed', 'the session failed');
  const host = bad.status?.targets?.[0]?.stats?.[0];
  t.equal(host?.phase, 'Failed', 'the member failed');
  t.match(host?.error, /mongodb dump failed: reading zz_media\.files .*closed/, 'the reason is the dump’s', { host });
  t.notOk(host?.error?.includes(password), 'no password in the reason');
  t.notOk(host?.snapshots?.length, 'no snapshot recorded for the broken dump');
  await relay.stop();
  relay = await startCuttingProxy(mongo.port, Infinity, relayPort);

  // Lose the data; restore `latest` (the first session's snapshot: the broken one left none).
  await c.db('shop').dropDatabase();
  await c.db('zz_media').dropDatabase();
  hookCalls.length = 0;
  await w.kube.create({
    apiVersion: RB,
    kind: 'RestoreBatch',
    metadata: { name: 'store', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      members: [
        {
          task: { name: 'mongodb-restore-4.4.6' },
          hooks: { postRestore: hook('/post-restore') },
          target: {
            alias: 'store',
            ref: { apiVersion: APPBINDING_API_VERSION, kind: 'AppBinding', name: 'store' },
            rules: [{ snapshots: ['latest'] }],
          },
        },
      ],
    },
  } as KubeObject);
  const rb = await finished<RestoreBatchObj>(w, RB, 'RestoreBatch', ns, 'store', 180_000);
  t.equal(rb.status?.phase, 'Succeeded', 'the RestoreBatch succeeded', { status: rb.status });
  t.same(await snapshotOf(), original, 'every document back, types included');
  t.same(hookCalls, [{ path: '/post-restore', body: '{"target":"store"}' }], 'the local postRestore hook ran');
});
