import t from 'tap';
import { Binary, BSON, Decimal128, Double, Int32, Long, ObjectId, Timestamp } from 'mongodb';
import {
  MONGODB_DUMP_SCRIPT,
  MONGODB_PASSWORD_ENV,
  MONGODB_RESTORE_SCRIPT,
  buildMongoDumpCommand,
  buildMongoRestoreCommand,
  mongoBackupOptions,
  mongoRestoreOptions,
} from './mongodb.ts';
import {
  DumpFormatError,
  collectionLine,
  docLine,
  endLine,
  formatLine,
  parseLine,
  restorableIndex,
} from './mongodb-format.ts';
import { restoreMongo } from './mongodb-client.ts';
import type { MongoClient } from 'mongodb';
import type { DatabaseConnection } from './connection.ts';
import { dumpFilename } from './run.ts';

const conn: DatabaseConnection = {
  engine: 'mongodb',
  host: 'store.demo.svc',
  port: 27017,
  user: 'backup',
  password: 's3cret"pw',
  database: 'admin',
};

t.test('a document survives the line format with every BSON type apart', async (t) => {
  const doc = {
    _id: new ObjectId('65a1b2c3d4e5f60718293a4b'),
    i: new Int32(1),
    d: new Double(1),
    l: Long.fromString('9223372036854775807'),
    dec: Decimal128.fromString('1.10'),
    at: new Date(-1),
    bin: new Binary(Buffer.from([0, 0xff, 0x0a]), 0),
    uuid: new Binary(Buffer.alloc(16, 9), 4),
    ts: new Timestamp({ t: 7, i: 8 }),
    re: new BSON.BSONRegExp('^a\\nb', 'im'),
    nil: null,
    nested: { arr: [new Int32(2), 'two', { deep: [true, null] }], 'dotted.key': 'x', $dollar: 1.5 },
    text: 'line\nbreak ünïcödé \u2028',
  };
  const line = docLine(doc);
  t.equal(line.indexOf('\n'), line.length - 1, 'one line, whatever the strings hold');
  const back = parseLine(line.trimEnd(), 3);
  t.equal(back.kind, 'doc');
  const got = (back as { doc: BSON.Document }).doc;
  t.equal(
    Buffer.from(BSON.serialize(got)).toString('hex'),
    Buffer.from(BSON.serialize(doc)).toString('hex'),
    'byte-identical BSON after the round trip',
  );
  t.ok(got.i instanceof Int32 && got.d instanceof Double && got.l instanceof Long, 'number types kept apart');
});

t.test('records: format header, collection header, trailer; junk is refused with its line', async (t) => {
  t.same(parseLine(formatLine().trimEnd(), 1), { kind: 'format', name: 'stash-ts/mongodb-dump', version: 1 });
  const h = {
    db: 'shop',
    name: 'log',
    type: 'collection',
    options: { capped: true, size: new Int32(1024) },
    indexes: [{ v: new Int32(2), key: { at: new Int32(-1) }, name: 'by_at', unique: true }],
  };
  const got = parseLine(collectionLine(h).trimEnd(), 2);
  t.equal(got.kind, 'collection');
  t.same(restorableIndex((got as unknown as { header: typeof h }).header.indexes[0]!), {
    key: { at: new Int32(-1) },
    name: 'by_at',
    unique: true,
  });
  t.same(parseLine(endLine(3, 10).trimEnd(), 9), { kind: 'end', collections: 3, documents: 10 });
  t.throws(() => parseLine('{"doc":', 4), DumpFormatError);
  t.throws(() => parseLine('{"doc":{},"x":1}', 5), { message: /dump line 5: expected one key/ });
  t.throws(() => parseLine('{"collection":{"db":"x"}}', 6), { message: /needs db and name/ });
  t.throws(() => parseLine('{"what":{}}', 7), { message: /unknown record "what"/ });
});

/** A stand-in for the driver that records what a restore does, enough for restoreMongo's bookkeeping. */
function recordingClient() {
  const calls: string[] = [];
  const client = {
    db: (db: string) => ({
      listCollections: () => ({ toArray: async () => [] }),
      dropCollection: async (n: string) => void calls.push(`drop ${db}.${n}`),
      createCollection: async (n: string) => void calls.push(`create ${db}.${n}`),
      collection: (n: string) => ({
        insertMany: async (docs: unknown[]) => void calls.push(`insert ${db}.${n} ${docs.length}`),
        createIndexes: async (specs: unknown[]) => void calls.push(`indexes ${db}.${n} ${specs.length}`),
      }),
    }),
  };
  return { client: client as unknown as MongoClient, calls };
}

const stream = [
  formatLine(),
  collectionLine({
    db: 'a',
    name: 'c',
    type: 'collection',
    options: {},
    indexes: [{ v: 2, key: { x: 1 }, name: 'x' }],
  }),
  ...Array.from({ length: 5 }, (_, i) => docLine({ _id: new Int32(i) })),
  collectionLine({ db: 'b', name: 'empty', type: 'collection', options: {}, indexes: [] }),
  endLine(2, 5),
]
  .join('')
  .split('\n');

t.test('--db restores one database of the dump; the rest is read and checked, not applied', async (t) => {
  const { client, calls } = recordingClient();
  t.same(await restoreMongo(client, stream, { drop: true, db: 'b' }), { collections: 1, documents: 0 });
  t.same(calls, ['create b.empty'], 'nothing of database a touched');
  await t.rejects(restoreMongo(recordingClient().client, stream, { drop: false, db: 'zz' }), {
    message: /--db zz: the snapshot holds no collection of that database/,
  });
  const miscounted = [...stream.slice(0, 4), ...stream.slice(-3)];
  await t.rejects(
    restoreMongo(recordingClient().client, miscounted, { drop: false, db: 'b' }),
    {
      message: /the trailer counts 2 collections and 5 documents/,
    },
    'a skipped database still counts against the trailer',
  );
});

t.test('a restore inserts in batches, builds indexes after the documents, and needs the trailer', async (t) => {
  const { client, calls } = recordingClient();
  t.same(await restoreMongo(client, stream, { drop: false, batchDocs: 2 }), { collections: 2, documents: 5 });
  t.same(calls, ['create a.c', 'insert a.c 2', 'insert a.c 2', 'insert a.c 1', 'indexes a.c 1', 'create b.empty']);
  const cut = stream.slice(0, 5);
  await t.rejects(restoreMongo(recordingClient().client, cut, { drop: false }), {
    message: /ends without its trailer: it was cut short/,
  });
  const miscounted = [...stream.slice(0, 4), ...stream.slice(-3)];
  await t.rejects(restoreMongo(recordingClient().client, miscounted, { drop: false }), {
    message: /the trailer counts 2 collections and 5 documents, the stream held 2 and 2/,
  });
  await t.rejects(restoreMongo(recordingClient().client, ['\x1f\x8b binary'], { drop: false }), {
    message: /dump line 1: not Extended JSON/,
  });
  await t.rejects(restoreMongo(recordingClient().client, stream.slice(1), { drop: false }), {
    message: /not a stash-ts\/mongodb-dump stream \(a mongodump archive cannot be read here\)/,
  });
  await t.rejects(restoreMongo(recordingClient().client, [], { drop: false }), { message: /the dump is empty/ });
});

t.test('dump and restore commands: node scripts, the password only in the environment', async (t) => {
  const dump = buildMongoDumpCommand(conn, { path: '/bin', nodePath: '/usr/bin/node' });
  t.same(dump, {
    file: '/usr/bin/node',
    args: [
      '--no-warnings',
      MONGODB_DUMP_SCRIPT,
      '--host',
      'store.demo.svc',
      '--port',
      '27017',
      '--user',
      'backup',
      '--auth-source',
      'admin',
    ],
    env: { PATH: '/bin', [MONGODB_PASSWORD_ENV]: 's3cret"pw' },
  });
  t.notOk(dump.args.join(' ').includes('s3cret'), 'no password in argv');
  const restore = buildMongoRestoreCommand(
    { ...conn, user: '', password: '', database: undefined },
    { params: [{ name: 'dropCollections', value: 'true' }], nodePath: 'node', path: '/bin' },
  );
  t.same(restore.args, [
    '--no-warnings',
    MONGODB_RESTORE_SCRIPT,
    '--host',
    'store.demo.svc',
    '--port',
    '27017',
    '--drop',
  ]);
  t.same(restore.env, { PATH: '/bin' }, 'no login, no password variable');
  t.throws(() => buildMongoDumpCommand(conn, { params: [{ name: 'args', value: '--gzip' }] }), {
    message: /args may only be --db <name>, not "--gzip"/,
  });
  t.same(
    buildMongoDumpCommand(conn, { params: [{ name: 'args', value: '--db=shop' }], nodePath: 'node' }).args.slice(-2),
    ['--db', 'shop'],
    '--db reaches the dump client',
  );
});

t.test('task params: dropCollections, --drop and --db', async (t) => {
  const restore = (params?: Array<{ name: string; value: string }>) => mongoRestoreOptions(params);
  t.same(restore(undefined), { drop: false });
  t.same(restore([{ name: 'dropCollections', value: 'false' }]), { drop: false });
  t.same(restore([{ name: 'dropCollections', value: 'true' }]), { drop: true });
  t.same(restore([{ name: 'args', value: '--drop' }]), { drop: true });
  t.same(restore([{ name: 'args', value: '--db=shop --drop' }]), { drop: true, db: 'shop' });
  t.same(restore([{ name: 'args', value: '-d shop' }]), { drop: false, db: 'shop' });
  t.same(mongoBackupOptions([{ name: 'args', value: '--db shop' }]), { drop: false, db: 'shop' });
  t.throws(() => restore([{ name: 'dropCollections', value: 'TRUE' }]), {
    message: /task\.params\[dropCollections\]: dropCollections must be "true" or "false", not "TRUE"/,
  });
  t.throws(() => restore([{ name: 'args', value: '--drop --nsInclude=a.*' }]), {
    message: /args may only be --drop and --db <name>, not "--nsInclude=a\.\*"/,
  });
  t.throws(() => mongoBackupOptions([{ name: 'args', value: '--drop' }]), {
    message: /args may only be --db <name>, not "--drop"/,
  });
  t.throws(() => mongoBackupOptions([{ name: 'args', value: '--db' }]), { message: /--db needs a database name/ });
  t.throws(() => mongoBackupOptions([{ name: 'args', value: '--db=admin' }]), {
    message: /--db admin: admin, config and local are the server's own/,
  });
});

t.test('the dump script writes nothing usable when it cannot connect, and exits non-zero', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, ['--no-warnings', MONGODB_DUMP_SCRIPT, '--host', '127.0.0.1', '--port', '1'], {
    env: { PATH: process.env.PATH ?? '', [MONGODB_PASSWORD_ENV]: 'x' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.equal(r.status, 1, 'exit code 1');
  t.match(r.stderr, /mongodb dump failed: .*(ECONNREFUSED|connect)/);
  t.notMatch(r.stdout, /"end"/, 'no trailer on stdout');
});

t.test('a view is a header only; a document after it is refused', async (t) => {
  const { client, calls } = recordingClient();
  const view = collectionLine({
    db: 'a',
    name: 'v',
    type: 'view',
    options: { viewOn: 'c', pipeline: [] },
    indexes: [],
  });
  t.same(await restoreMongo(client, [formatLine(), view, endLine(1, 0)].join('').split('\n'), { drop: false }), {
    collections: 1,
    documents: 0,
  });
  t.same(calls, ['create a.v']);
  await t.rejects(
    restoreMongo(
      recordingClient().client,
      [formatLine(), view, docLine({ _id: 1 }), endLine(1, 1)].join('').split('\n'),
      {
        drop: false,
      },
    ),
    { message: /dump line 3: a document outside a collection/ },
  );
  t.equal(dumpFilename('mongodb'), 'dumpfile.ejson', 'stored under its own name, not a mongodump archive name');
});
