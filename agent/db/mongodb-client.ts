// The driver side of the MongoDB member (docs/decisions/0021-mongodb-dump-format.md): walks every user
// database and collection into the dump stream, and replays a dump into a server. Runs only inside the dump
// and restore child processes (mongodb-dump.ts, mongodb-restore.ts), so the agent itself never loads the driver.
// Documents are read with promoteValues off: an Int32, a Double and a Long stay distinct objects instead of
// all becoming JS numbers, which is what lets the canonical EJSON keep their types.
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { MongoClient, MongoServerError, type BSON, type Db } from 'mongodb';
import {
  FORMAT_NAME,
  FORMAT_VERSION,
  DumpFormatError,
  collectionLine,
  docLine,
  endLine,
  formatLine,
  parseLine,
  restorableIndex,
  type CollectionHeader,
} from './mongodb-format.ts';
import { SYSTEM_DATABASES } from './mongodb.ts';

export interface MongoLogin {
  host: string;
  port: number;
  user?: string;
  password?: string;
  /** The database the user is defined in (Stash's addon logs in against admin). */
  authSource?: string;
  /** How long to look for the server before giving up, in ms. */
  serverSelectionTimeoutMS?: number;
}

const READ_OPTIONS = { promoteValues: false, promoteBuffers: false, bsonRegExp: true } as const;

export async function connectMongo(l: MongoLogin): Promise<MongoClient> {
  const client = new MongoClient(`mongodb://${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}/`, {
    // The AppBinding names one address (a Service); discovering replica-set members by their own names could
    // leave it for hosts that do not resolve from the agent's pod.
    directConnection: true,
    appName: 'stash-ts',
    serverSelectionTimeoutMS: l.serverSelectionTimeoutMS ?? 15_000,
    // A read cut short must fail the dump, not be replayed from the start of a collection already half written.
    retryReads: false,
    retryWrites: false,
    ...(l.user ? { auth: { username: l.user, password: l.password ?? '' }, authSource: l.authSource ?? 'admin' } : {}),
  });
  await client.connect();
  return client;
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

/** The user databases, sorted, so a dump's order does not depend on the server's. */
async function userDatabases(client: MongoClient): Promise<string[]> {
  const { databases } = await client.db('admin').admin().listDatabases({ nameOnly: true });
  return databases
    .map((d) => d.name)
    .filter((n) => !SYSTEM_DATABASES.has(n))
    .sort();
}

async function headers(db: Db): Promise<CollectionHeader[]> {
  const infos = await db.listCollections({}, { nameOnly: false }).toArray();
  const out: CollectionHeader[] = [];
  for (const info of infos.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    // system.* collections are the server's (system.views is rebuilt from the views' own headers).
    if (info.name.startsWith('system.')) continue;
    const type = (info as { type?: string }).type ?? 'collection';
    const indexes =
      type === 'view' ? [] : (await db.collection(info.name).listIndexes().toArray()).filter((i) => i.name !== '_id_');
    out.push({
      db: db.databaseName,
      name: info.name,
      type,
      options: ((info as { options?: Record<string, unknown> }).options ?? {}) as Record<string, unknown>,
      indexes: indexes as Array<Record<string, unknown>>,
    });
  }
  return out;
}

/**
 * Writes the dump of every user database to `out`; returns what it wrote. Each collection is one cursor in
 * natural order, not one point in time across collections (like mongodump without --oplog).
 */
export async function dumpMongo(
  client: MongoClient,
  out: Writable,
  o: { batchSize?: number; db?: string } = {},
): Promise<{ collections: number; documents: number }> {
  let collections = 0;
  let documents = 0;
  const all = await userDatabases(client);
  // A misspelt --db would otherwise store an empty dump as a good backup.
  if (o.db !== undefined && !all.includes(o.db))
    throw new Error(`--db ${o.db}: the server has no such database (it has ${all.join(', ') || 'none'})`);
  await write(out, formatLine());
  for (const name of o.db !== undefined ? [o.db] : all) {
    const db = client.db(name);
    for (const h of await headers(db)) {
      await write(out, collectionLine(h));
      collections++;
      // Only a view has no documents of its own; time-series and plain collections are read alike.
      if (h.type === 'view') continue;
      const cursor = db.collection(h.name).find({}, { ...READ_OPTIONS, batchSize: o.batchSize ?? 1000 });
      let n = 0;
      try {
        for await (const doc of cursor) {
          await write(out, docLine(doc));
          n++;
        }
      } catch (err) {
        // Say where: a reader of the failure can tell a dump that died halfway from one that never began.
        const msg = err instanceof Error ? err.message : String(err);
        throw new Error(`reading ${name}.${h.name} after ${n} of its documents: ${msg}`, { cause: err });
      }
      documents += n;
    }
  }
  await write(out, endLine(collections, documents));
  return { collections, documents };
}

export interface RestoreOptions {
  /** Drop each collection before restoring it (`dropCollections`); otherwise existing documents stay. */
  drop: boolean;
  /** Restore only this database's collections; the rest of the stream is read and checked, not applied. */
  db?: string;
  /** Documents per insertMany. */
  batchDocs?: number;
  /** Bytes of dump text per insertMany (a rough bound on the batch's BSON size). */
  batchBytes?: number;
}

function duplicateKey(err: unknown): boolean {
  if (err instanceof MongoServerError && err.code === 11000) return true;
  // insertMany's bulk error carries the first write error's code
  const e = err as { writeErrors?: Array<{ code?: number }>; code?: number };
  return e.code === 11000 || (Array.isArray(e.writeErrors) && e.writeErrors.some((w) => w.code === 11000));
}

class Target {
  private batch: BSON.Document[] = [];
  private bytes = 0;
  private readonly client: MongoClient;
  readonly header: CollectionHeader;
  private readonly o: RestoreOptions;
  constructor(client: MongoClient, header: CollectionHeader, o: RestoreOptions) {
    this.client = client;
    this.header = header;
    this.o = o;
  }

  get ns(): string {
    return `${this.header.db}.${this.header.name}`;
  }

  async open(): Promise<void> {
    const db = this.client.db(this.header.db);
    const exists = (await db.listCollections({ name: this.header.name }, { nameOnly: true }).toArray()).length > 0;
    if (exists && this.o.drop) await db.dropCollection(this.header.name);
    // A view's options carry its viewOn and pipeline, so one call re-creates collections and views alike.
    if (!exists || this.o.drop) await db.createCollection(this.header.name, this.header.options);
  }

  async add(doc: BSON.Document, size: number): Promise<void> {
    this.batch.push(doc);
    this.bytes += size;
    if (this.batch.length >= (this.o.batchDocs ?? 1000) || this.bytes >= (this.o.batchBytes ?? 8 << 20))
      await this.flush();
  }

  async flush(): Promise<void> {
    if (this.batch.length === 0) return;
    const docs = this.batch;
    this.batch = [];
    this.bytes = 0;
    try {
      await this.client.db(this.header.db).collection(this.header.name).insertMany(docs, { ordered: true });
    } catch (err) {
      if (duplicateKey(err))
        throw new Error(
          `${this.ns} already holds a document with an _id (or unique key) from the snapshot; ` +
            `restore with the task param dropCollections=true to replace the collection, or empty it first`,
          { cause: err },
        );
      throw err;
    }
  }

  /** The documents are in: build the indexes once, rather than maintain them through every insert. */
  async close(): Promise<void> {
    await this.flush();
    const specs = this.header.indexes.map(restorableIndex);
    if (specs.length > 0)
      await this.client
        .db(this.header.db)
        .collection(this.header.name)
        .createIndexes(specs as unknown as Parameters<ReturnType<Db['collection']>['createIndexes']>[0]);
  }
}

/**
 * Replays a dump, line by line, into the server. Fails on a line the format does not allow, on a stream
 * without its trailer (cut short), and on a document whose _id is already there (unless dropping).
 */
export async function restoreMongo(
  client: MongoClient,
  lines: AsyncIterable<string> | Iterable<string>,
  o: RestoreOptions,
): Promise<{ collections: number; documents: number }> {
  let n = 0;
  // The collection the stream is in; `target` is unset while skipping one of a database --db left out.
  let current: { header: CollectionHeader; target?: Target } | undefined;
  const stream = { collections: 0, documents: 0 };
  const restored = { collections: 0, documents: 0 };
  let ended = false;
  for await (const text of lines) {
    n++;
    if (text === '') continue;
    if (ended) throw new DumpFormatError(n, 'data after the trailer');
    const r = parseLine(text, n);
    if (n === 1) {
      if (r.kind !== 'format' || r.name !== FORMAT_NAME)
        throw new DumpFormatError(n, `not a ${FORMAT_NAME} stream (a mongodump archive cannot be read here)`);
      if (r.version > FORMAT_VERSION)
        throw new DumpFormatError(n, `format version ${r.version} is newer than this agent's ${FORMAT_VERSION}`);
      continue;
    }
    if (r.kind === 'collection') {
      await current?.target?.close();
      current = { header: r.header };
      stream.collections++;
      if (o.db === undefined || r.header.db === o.db) {
        current.target = new Target(client, r.header, o);
        await current.target.open();
        restored.collections++;
      }
    } else if (r.kind === 'doc') {
      if (!current || current.header.type === 'view') throw new DumpFormatError(n, 'a document outside a collection');
      stream.documents++;
      if (current.target) {
        await current.target.add(r.doc, text.length);
        restored.documents++;
      }
    } else if (r.kind === 'end') {
      await current?.target?.close();
      current = undefined;
      if (r.collections !== stream.collections || r.documents !== stream.documents)
        throw new DumpFormatError(
          n,
          `the trailer counts ${r.collections} collections and ${r.documents} documents, the stream held ${stream.collections} and ${stream.documents}`,
        );
      ended = true;
    } else throw new DumpFormatError(n, 'a second format header');
  }
  if (n === 0) throw new DumpFormatError(1, 'the dump is empty');
  if (!ended) throw new DumpFormatError(n, 'the dump ends without its trailer: it was cut short');
  if (o.db !== undefined && restored.collections === 0)
    throw new Error(`--db ${o.db}: the snapshot holds no collection of that database`);
  return restored;
}
