// The MongoDB member's dump format (docs/decisions/0021-mongodb-dump-format.md): newline-delimited canonical
// Extended JSON v2, one record a line, each record an object with one key that says what it is:
//   {"format":{"name":"stash-ts/mongodb-dump","version":1}}            first line
//   {"collection":{"db":…,"name":…,"type":…,"options":{…},"indexes":[…]}}  then that collection's documents
//   {"doc":{…}}                                                        one document, canonical EJSON
//   {"end":{"collections":N,"documents":M}}                             last line
// Canonical (not relaxed) EJSON keeps every BSON type apart — Int32, Int64, Double and Decimal128 do not
// collapse into one JSON number, Dates keep their milliseconds, Binary keeps its subtype — so what is
// inserted back is the same BSON. The trailer lets a restore tell a stream that ended from one that was cut.
// Pure functions only: the driver-side code is in mongodb-client.ts.
import { BSON } from 'mongodb';

export const FORMAT_NAME = 'stash-ts/mongodb-dump';
export const FORMAT_VERSION = 1;

export interface CollectionHeader {
  db: string;
  name: string;
  /** listCollections' type: `collection`, `timeseries` or `view`; a view has no documents. */
  type: string;
  /** listCollections' options (capped, validator, collation, viewOn/pipeline, ...). */
  options: Record<string, unknown>;
  /** listIndexes' specifications, the `_id_` index left out (every collection gets it anyway). */
  indexes: Array<Record<string, unknown>>;
}

export type DumpRecord =
  | { kind: 'format'; name: string; version: number }
  | { kind: 'collection'; header: CollectionHeader }
  | { kind: 'doc'; doc: BSON.Document }
  | { kind: 'end'; collections: number; documents: number };

const stringify = (v: unknown): string => BSON.EJSON.stringify(v as BSON.Document, { relaxed: false });

export function formatLine(): string {
  return `${stringify({ format: { name: FORMAT_NAME, version: FORMAT_VERSION } })}\n`;
}

export function collectionLine(h: CollectionHeader): string {
  return `${stringify({ collection: h })}\n`;
}

export function docLine(doc: BSON.Document): string {
  return `${stringify({ doc })}\n`;
}

export function endLine(collections: number, documents: number): string {
  return `${stringify({ end: { collections, documents } })}\n`;
}

/** A line of the dump that is not what the format says; `line` is 1-based. */
export class DumpFormatError extends Error {
  constructor(line: number, message: string) {
    super(`dump line ${line}: ${message}`);
    this.name = 'DumpFormatError';
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One record of the dump. Values are parsed back into BSON types (canonical mode), never into plain numbers. */
export function parseLine(text: string, line: number): DumpRecord {
  let v: unknown;
  try {
    v = BSON.EJSON.parse(text, { relaxed: false });
  } catch (err) {
    throw new DumpFormatError(line, `not Extended JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isObject(v)) throw new DumpFormatError(line, 'not an object');
  const keys = Object.keys(v);
  if (keys.length !== 1) throw new DumpFormatError(line, `expected one key, got ${keys.length}`);
  const body = v[keys[0]!];
  switch (keys[0]) {
    case 'doc':
      if (!isObject(body)) throw new DumpFormatError(line, 'a document is not an object');
      return { kind: 'doc', doc: body };
    case 'collection': {
      if (!isObject(body) || typeof body.db !== 'string' || typeof body.name !== 'string')
        throw new DumpFormatError(line, 'a collection header needs db and name');
      return {
        kind: 'collection',
        header: {
          db: body.db,
          name: body.name,
          type: typeof body.type === 'string' ? body.type : 'collection',
          options: isObject(body.options) ? body.options : {},
          indexes: Array.isArray(body.indexes) ? (body.indexes.filter(isObject) as CollectionHeader['indexes']) : [],
        },
      };
    }
    case 'format':
      if (!isObject(body) || typeof body.name !== 'string') throw new DumpFormatError(line, 'a bad format header');
      return { kind: 'format', name: body.name, version: Number(body.version) };
    case 'end':
      if (!isObject(body)) throw new DumpFormatError(line, 'a bad trailer');
      return { kind: 'end', collections: Number(body.collections), documents: Number(body.documents) };
    default:
      throw new DumpFormatError(line, `unknown record ${JSON.stringify(keys[0])}`);
  }
}

/** The index specification createIndexes takes back: listIndexes' output without its version and namespace. */
export function restorableIndex(spec: Record<string, unknown>): Record<string, unknown> {
  const { v: _v, ns: _ns, ...rest } = spec;
  return rest;
}
