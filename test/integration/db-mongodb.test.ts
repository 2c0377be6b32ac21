// A MongoDB member on a real MongoDB-protocol server (FerretDB on SQLite, started here, access control on):
// several databases and collections — ObjectIds, Int32/Int64/Double kept apart, Dates, Binary (generic and
// UUID), Timestamps, regexes, nulls, nested documents and arrays, unicode, megabyte binaries, a capped
// collection, an empty one, secondary and unique indexes — dumped into restic, wiped, restored identical
// (types, options and indexes included). Restoring over live data fails on the duplicate _ids unless
// `dropCollections` (or mongorestore's `--drop` in args) asks to drop each collection first. A dump whose
// connection dies halfway, or whose client is killed halfway, fails with a reason and leaves no snapshot, the
// earlier one restorable; `latest` is the member's own newest snapshot, not another host's; the password is in
// no command line; `--db <name>` in args narrows a backup or a restore to one database.
// Both restic versions (restic 0.14 once stored half a stdin stream); the extra restore cases on the newest.
// FerretDB 1.x has no Decimal128, so that type is covered by the format's unit test only.
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { Binary, Double, Int32, Long, ObjectId, Timestamp, BSON, type MongoClient } from 'mongodb';
import { connectionFromAppBinding, type DatabaseConnection } from '../../agent/db/connection.ts';
import { backupDatabase, restoreDatabase } from '../../agent/db/run.ts';
import { requireDatabaseTask } from '../../agent/db/tasks.ts';
import { ferretdbBin, resticBinaries } from '../backends/bins.ts';
import { sampleCommandLines } from '../backends/db-scenario.ts';
import { startCuttingProxy, startFerretDb } from '../backends/ferretdb.ts';
import { localRepo } from '../backends/restic.ts';

t.setTimeout(300_000);

const bins = resticBinaries();
if (bins.size === 0) t.fail('no restic binary found');
if (!ferretdbBin()) t.fail('ferretdb not built: run hack/build-bins.sh ferretdb');
const newest = [...bins.keys()].sort((a, b) => b.localeCompare(a, undefined, { numeric: true }))[0];

const BIG = randomBytes(1024 * 1024);
/** Any _id type: the driver's default schema assumes ObjectId. */
type Doc = { _id: string | number | ObjectId | Long | Int32; [field: string]: unknown };

async function seed(c: MongoClient): Promise<void> {
  const posts = Array.from({ length: 1500 }, (_, i) => ({
    _id: new ObjectId(),
    n: new Int32(i),
    score: new Double(i % 7 === 0 ? i : i + 0.25),
    views: Long.fromString(`${9_007_199_254_740_993n + BigInt(i)}`),
    at: new Date(1_700_000_000_000 + i * 1013),
    title: `Post ${i} — ünïcödé ✓ ${'x'.repeat(i % 200)}`,
    // (FerretDB 1.x refuses arrays directly inside arrays; an array inside a document inside an array is fine)
    tags: i % 3 === 0 ? [] : ['a', { nested: { deep: [i, null, true] } }, { list: [1, { deeper: [2, 3] }] }],
    body: i % 11 === 0 ? null : { html: `<p>${i}</p>`, words: new Int32(i * 3) },
    bin: new Binary(randomBytes(1 + (i % 64)), 0),
    uuid: new Binary(randomBytes(16), 4),
    ts: new Timestamp({ t: 1_700_000_000 + i, i: i % 5 }),
    re: /^post-\d+$/i,
    flag: i % 2 === 0,
  }));
  const blog = c.db('blog');
  for (let i = 0; i < posts.length; i += 500) await blog.collection('posts').insertMany(posts.slice(i, i + 500));
  await blog.collection('posts').createIndex({ at: -1 }, { name: 'by_date' });
  await blog.collection('posts').createIndex({ n: 1 }, { name: 'n_unique', unique: true });
  await blog.collection<Doc>('authors').insertMany([
    { _id: 'ada', name: 'Ada', since: new Date(0) },
    { _id: 'bob', name: 'Bob', since: new Date(-86_400_000) },
  ]);
  await blog.createCollection('empty');
  const shop = c.db('shop');
  await shop.createCollection('log', { capped: true, size: 1 << 20 });
  await shop
    .collection<Doc>('log')
    .insertMany(Array.from({ length: 200 }, (_, i) => ({ _id: new Int32(i), line: `l${i}` })));
  await shop.collection<Doc>('orders').insertMany(
    Array.from({ length: 1000 }, (_, i) => ({
      _id: Long.fromNumber(i),
      customer: `c${i % 37}`,
      total: new Double(i / 8),
      items: Array.from({ length: i % 5 }, (_, j) => ({ sku: `s${j}`, qty: new Int32(j + 1) })),
    })),
  );
  await shop.collection('orders').createIndex({ customer: 1, total: -1 }, { name: 'customer_total' });
  // Last in every dump order, and most of its bytes: a connection cut halfway lands here.
  const media = c.db('zz_media').collection<Doc>('files');
  for (let i = 0; i < 12; i++)
    await media.insertOne({ _id: `f${i}`, data: new Binary(i === 0 ? BIG : randomBytes(BIG.length)) });
}

/** Every user database: per collection its options, indexes and documents (sorted by _id), as canonical EJSON. */
async function contents(c: MongoClient): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const { databases } = await c.db('admin').admin().listDatabases({ nameOnly: true });
  for (const { name } of databases.filter((d) => !['admin', 'config', 'local'].includes(d.name))) {
    const db = c.db(name);
    for (const info of await db.listCollections().toArray()) {
      const coll = db.collection(info.name);
      const docs = await coll.find({}, { promoteValues: false, bsonRegExp: true, sort: { _id: 1 } }).toArray();
      const indexes = (await coll.listIndexes().toArray())
        .map((i) => BSON.EJSON.stringify({ name: i.name, key: i.key, unique: i.unique ?? false }, { relaxed: false }))
        .sort();
      const text = docs.map((d) => BSON.EJSON.stringify(d, { relaxed: false })).join('\n');
      const options = BSON.EJSON.stringify((info as { options?: object }).options ?? {}, { relaxed: false });
      out[`${name}.${info.name}`] =
        `${docs.length} docs ${createHash('sha256').update(text).digest('hex').slice(0, 16)} options ${options} indexes ${indexes.join(',')}`;
    }
  }
  return out;
}

async function wipe(c: MongoClient): Promise<void> {
  const { databases } = await c.db('admin').admin().listDatabases({ nameOnly: true });
  for (const { name } of databases) if (!['admin', 'config', 'local'].includes(name)) await c.db(name).dropDatabase();
}

/** The pid of the running dump client, from /proc (its argv names the script). */
function dumpPid(): number | undefined {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    const argv = (() => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      } catch {
        return [];
      }
    })();
    if (argv.some((a) => a.endsWith('mongodb-dump.ts'))) return Number(pid);
  }
  return undefined;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms: number, everyMs: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: unknown) => err as Error,
  );

for (const [version, bin] of bins) {
  t.test(`MongoDB member, restic ${version}`, async (t) => {
    const password = `Canary-${version}-p#ss"w'rd\\;$x`;
    const mongo = await startFerretDb({ password });
    t.teardown(() => mongo.stop());
    const restic = await localRepo(t, bin, { graceMs: 15_000 });

    const task = requireDatabaseTask('mongodb-backup-4.4.6', 'backup');
    t.equal(requireDatabaseTask('mongodb-restore-4.4.6', 'restore').engine, 'mongodb');
    const binding = (port: number) =>
      connectionFromAppBinding(
        {
          metadata: { name: 'store', namespace: 'demo' },
          spec: {
            type: 'kubedb.com/mongodb',
            clientConfig: { url: `mongodb://127.0.0.1:${port}` },
            secret: { name: 'store-auth' },
          },
        },
        { username: mongo.user, password },
        { engine: task.engine },
      );
    const conn: DatabaseConnection = binding(mongo.port);
    t.match(conn, { engine: 'mongodb', host: '127.0.0.1', port: mongo.port, user: mongo.user });

    const c = await mongo.client();
    await seed(c);
    const original = await contents(c);
    t.same(
      Object.keys(original).sort(),
      ['blog.authors', 'blog.empty', 'blog.posts', 'shop.log', 'shop.orders', 'zz_media.files'],
      'seeded collections',
    );
    t.match(original['shop.log'], /"capped":true/, 'the capped collection says so');
    t.match(original['blog.posts'], /n_unique.*"unique":true/, 'the unique index is there');
    const host = 'host-0';
    const sampler = sampleCommandLines(password, /^ferretdb$/, /mongodb-(dump|restore)\.ts/);
    let sampled: { hits: string[]; seen: string[] };
    try {
      // The first backup goes through a relay that only counts, to learn how much a whole dump reads.
      const counting = await startCuttingProxy(mongo.port, Infinity);
      const started = Date.now();
      const backup = await backupDatabase(restic, binding(counting.port), { host });
      const dumpBytes = counting.relayed();
      await counting.stop();
      t.ok(backup.snapshotId, `snapshot ${backup.snapshotId?.slice(0, 8)} in ${Date.now() - started} ms`);
      const snaps = await restic.snapshots();
      t.same(
        snaps.map((s) => s.paths),
        [['/dumpfile.ejson']],
        'one snapshot holding /dumpfile.ejson',
      );

      await wipe(c);
      t.same(await contents(c), {}, 'wiped');
      const restoreStarted = Date.now();
      const restored = await restoreDatabase(restic, conn, { snapshot: backup.snapshotId!, host });
      t.ok(restored.bytes > 12 * BIG.length, `restored ${restored.bytes} bytes in ${Date.now() - restoreStarted} ms`);
      t.same(await contents(c), original, 'every collection, document, type, option and index identical');
      const media = await c.db('zz_media').collection<Doc>('files').findOne({ _id: 'f0' });
      t.ok(Buffer.compare(Buffer.from((media!.data as Binary).buffer), BIG) === 0, 'the 1 MiB binary byte-identical');

      if (version === newest) {
        // Into a server with data: without dropping, the first duplicate _id fails the restore, named.
        await c
          .db('blog')
          .collection<Doc>('authors')
          .updateOne({ _id: 'ada' }, { $set: { name: 'changed' } });
        await c.db('extra').collection<Doc>('notes').insertOne({ _id: 'keep', note: 'not in the snapshot' });
        const dup = await failure(restoreDatabase(restic, conn, { snapshot: 'latest', host }));
        t.match(
          dup?.message,
          /^restore of MongoDB at 127\.0\.0\.1:\d+ from snapshot latest failed: mongodb-restore failed .*blog\.authors already holds a document .*dropCollections=true/,
          `readable: ${dup?.message}`,
        );
        await restoreDatabase(restic, conn, {
          snapshot: 'latest',
          host,
          params: [{ name: 'dropCollections', value: 'true' }],
        });
        const after = await contents(c);
        t.equal(after['extra.notes']?.split(' ')[0], '1', 'a collection the snapshot lacks is kept');
        delete after['extra.notes'];
        t.same(after, original, 'dropCollections: the snapshot collections exactly as dumped');
        await c
          .db('shop')
          .collection<Doc>('orders')
          .insertOne({ _id: Long.fromNumber(5000), customer: 'new' });
        await restoreDatabase(restic, conn, { snapshot: 'latest', host, params: [{ name: 'args', value: '--drop' }] });
        const again = await contents(c);
        delete again['extra.notes'];
        t.same(again, original, "mongorestore's --drop in args does the same");
        await c.db('extra').dropDatabase();
        t.match(
          await failure(
            restoreDatabase(restic, conn, {
              snapshot: 'latest',
              host,
              params: [{ name: 'dropCollections', value: 'yes' }],
            }),
          ),
          { message: /task\.params\[dropCollections\]: dropCollections must be "true" or "false"/ },
          'a bad dropCollections value is rejected',
        );
      }

      // A dump whose connection dies halfway (in zz_media, after blog and shop are in the stream).
      const proxy = await startCuttingProxy(mongo.port, Math.floor(dumpBytes / 2));
      const failed = await failure(backupDatabase(restic, binding(proxy.port), { host }));
      await proxy.stop();
      t.ok(proxy.cut(), `the relay cut the dump after ${Math.floor(dumpBytes / 2)} of ${dumpBytes} bytes`);
      t.ok(failed, 'the dump that died halfway fails the backup');
      t.match(
        failed?.message,
        /^backup of MongoDB at 127\.0\.0\.1:\d+ failed: .*mongodb-dump failed \(exit code 1\): mongodb dump failed: reading zz_media\.files after \d+ of its documents: .*(closed|reset)/i,
        `readable: ${failed?.message}`,
      );
      t.same(
        (await restic.snapshots()).map((s) => s.id),
        snaps.map((s) => s.id),
        'no snapshot from the failed dump',
      );

      // The dump client itself dies halfway (SIGKILL once half of a whole dump has been read).
      const watched = await startCuttingProxy(mongo.port, Infinity);
      const running = failure(backupDatabase(restic, binding(watched.port), { host }));
      const killedPid = await until(
        'the dump halfway',
        async () => (watched.relayed() > dumpBytes / 2 ? dumpPid() : undefined),
        60_000,
        10,
      );
      process.kill(killedPid, 'SIGKILL');
      const killed = await running;
      await watched.stop();
      t.match(
        killed?.message,
        /^backup of MongoDB at 127\.0\.0\.1:\d+ failed: .*mongodb-dump failed \(signal SIGKILL\)/,
        `readable: ${killed?.message}`,
      );
      t.same(
        (await restic.snapshots()).map((s) => s.id),
        snaps.map((s) => s.id),
        'no snapshot from the killed dump',
      );

      // Another member's newer snapshot in the same repository: `latest` for host-0 must not pick it.
      await c.db('blog').collection<Doc>('authors').insertOne({ _id: 'other', name: 'only on host-1' });
      const other = await backupDatabase(restic, conn, { host: 'host-1' });
      t.ok(other.snapshotId, 'host-1 has a newer snapshot');
      await wipe(c);
      await restoreDatabase(restic, conn, { snapshot: 'latest', host });
      t.same(await contents(c), original, "latest is host-0's own newest snapshot, restored identically");

      if (version === newest) {
        // mongodump's --db on either side: one database into a snapshot, one database out of a whole dump.
        const only = (prefix: string) =>
          Object.fromEntries(Object.entries(original).filter(([k]) => k.startsWith(prefix)));
        await backupDatabase(restic, conn, { host: 'host-blog', params: [{ name: 'args', value: '--db=blog' }] });
        await wipe(c);
        await restoreDatabase(restic, conn, { snapshot: 'latest', host: 'host-blog' });
        t.same(await contents(c), only('blog.'), 'backup --db=blog: the snapshot holds blog and nothing else');
        await wipe(c);
        await restoreDatabase(restic, conn, {
          snapshot: 'latest',
          host,
          params: [{ name: 'args', value: '--db shop' }],
        });
        t.same(await contents(c), only('shop.'), 'restore --db shop: only shop out of the whole dump');
        t.match(
          await failure(backupDatabase(restic, conn, { host, params: [{ name: 'args', value: '--db=nosuch' }] })),
          { message: /--db nosuch: the server has no such database/ },
          'a misspelt --db fails the backup instead of storing an empty dump',
        );
        t.match(
          await failure(backupDatabase(restic, conn, { host, params: [{ name: 'args', value: '--gzip' }] })),
          { message: /args may only be --db <name>, not "--gzip"/ },
          'other mongodump args are refused, not ignored',
        );
      }

      const denied = await failure(
        restoreDatabase(restic, { ...conn, password: `${password}-wrong` }, { snapshot: 'latest', host }),
      );
      t.match(
        denied?.message,
        /^restore of MongoDB .* failed: mongodb-restore failed .*Authentication failed/i,
        `readable: ${denied?.message}`,
      );
      t.notMatch(denied?.message ?? '', password, 'no password in the message');
      t.notMatch(failed?.message ?? '', password, 'no password in the failed dump message');
    } finally {
      sampled = await sampler.stop();
    }
    t.same(sampled.hits, [], 'the password never appeared in any command line');
    t.ok(
      sampled.seen.some((s) => /ferretdb/.test(s)) &&
        sampled.seen.some((s) => /mongodb-dump/.test(s)) &&
        sampled.seen.some((s) => /mongodb-restore/.test(s)),
      `the sampler saw the server and both clients: ${sampled.seen.join(' ; ')}`,
    );
  });
}
