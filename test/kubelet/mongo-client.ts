// story-mongodb's client of the FerretDB pod, run by this machine's node inside the world's network namespace
// (the pod network exists only there, and the FerretDB image has no shell to `kubectl exec`). The login comes
// from MONGO_USER / MONGO_PASSWORD in the environment, never argv.
// Usage: node mongo-client.ts seed|list <pod IP>
//   seed: writes the story's data (two databases, three collections, 405 documents of mixed BSON types, a
//         compound and a unique index);
//   list: prints one canonical Extended-JSON line per database, collection (with its options and indexes) and
//         document, documents in _id order, values not promoted to JS numbers, so every BSON type and every byte
//         of a value shows.
import { randomBytes } from 'node:crypto';
import { BSON, Binary, Double, Int32, Long, MongoClient, ObjectId, Timestamp } from 'mongodb';

/** Documents whose _id is any BSON value, not only the driver's default ObjectId. */
type Doc = { _id: unknown; [field: string]: unknown };

async function seed(c: MongoClient): Promise<void> {
  const shop = c.db('shop');
  await shop.collection<Doc>('orders').insertMany(
    Array.from({ length: 400 }, (_, i) => ({
      _id: Long.fromNumber(i),
      customer: `c${i % 13} ✓`,
      total: new Double(i / 8),
      qty: new Int32(i % 7),
      big: Long.fromString(String(9007199254740993n + BigInt(i))),
      at: new Date(1700000000000 + i * 997),
      items: Array.from({ length: i % 4 }, (_, j) => ({ sku: `s${j}`, n: new Int32(j) })),
      note: i % 9 === 0 ? null : { text: `ünïcödé ${i}`, ok: i % 2 === 0 },
    })),
  );
  await shop.collection('orders').createIndex({ customer: 1, total: -1 }, { name: 'customer_total' });
  await shop.createCollection('empty');
  const media = c.db('media').collection('files');
  await media.insertMany(
    Array.from({ length: 5 }, (_, i) => ({
      _id: new ObjectId(),
      data: new Binary(randomBytes(1000 + i * 50000)),
      uuid: new Binary(randomBytes(16), 4),
      ts: new Timestamp({ t: 1700000000 + i, i: i + 1 }),
      re: /^file-\d+$/i,
    })),
  );
  await media.createIndex({ uuid: 1 }, { name: 'uuid_unique', unique: true });
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : 1);

async function list(c: MongoClient): Promise<string[]> {
  const out: string[] = [];
  const dbs = (await c.db('admin').admin().listDatabases({ nameOnly: true })).databases
    .map((d) => d.name)
    .filter((n) => !['admin', 'config', 'local'].includes(n))
    .sort();
  for (const name of dbs) {
    const db = c.db(name);
    for (const coll of (await db.listCollections({}, { nameOnly: false }).toArray()).sort(byName)) {
      const indexes = (await db.collection(coll.name).listIndexes().toArray())
        .map((x) => ({ name: x.name as string, key: x.key, unique: x.unique ?? false }))
        .sort(byName);
      const header = { db: name, collection: coll.name, type: coll.type, options: coll.options, indexes };
      out.push(BSON.EJSON.stringify(header, { relaxed: false }));
      const docs = db.collection(coll.name).find({}, { sort: { _id: 1 }, promoteValues: false, promoteLongs: false });
      for (const doc of await docs.toArray()) out.push(BSON.EJSON.stringify(doc, { relaxed: false }));
    }
  }
  return out;
}

const [mode, host] = process.argv.slice(2);
if ((mode !== 'seed' && mode !== 'list') || !host) {
  process.stderr.write('usage: mongo-client.ts seed|list <host>\n');
  process.exit(2);
}
const c = new MongoClient(`mongodb://${host}:27017/`, {
  directConnection: true,
  auth: { username: process.env.MONGO_USER, password: process.env.MONGO_PASSWORD },
  authSource: 'admin',
  serverSelectionTimeoutMS: 20000,
});
try {
  if (mode === 'seed') await seed(c);
  else process.stdout.write(`${(await list(c)).join('\n')}\n`);
} finally {
  await c.close();
}
