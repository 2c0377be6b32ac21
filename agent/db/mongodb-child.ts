// The part the MongoDB dump and restore child processes share: their server flags, the login with the password
// from STASH_MONGODB_PASSWORD (never argv), and how they end. Usage of both: node mongodb-<dump|restore>.ts
// --host <host> --port <port> [--user <name>] [--auth-source <db>] [--db <name>] (restore also [--drop]).
import type { MongoClient } from 'mongodb';
import { parseArgs } from 'node:util';
import { connectMongo } from './mongodb-client.ts';
import { MONGODB_PASSWORD_ENV } from './mongodb.ts';

export type MongoChildWork = (client: MongoClient, flags: { drop: boolean; db?: string }) => Promise<string>;

async function run(action: 'dump' | 'restore', work: MongoChildWork): Promise<number> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      user: { type: 'string' },
      'auth-source': { type: 'string' },
      db: { type: 'string' },
      ...(action === 'restore' ? { drop: { type: 'boolean' as const } } : {}),
    },
  });
  if (!values.host || !values.port) {
    process.stderr.write(
      `usage: mongodb-${action}.ts --host <host> --port <port> [--user <name>] [--auth-source <db>] [--db <name>]${action === 'restore' ? ' [--drop]' : ''}\n`,
    );
    return 2;
  }
  const client = await connectMongo({
    host: values.host,
    port: Number(values.port),
    user: values.user,
    password: process.env[MONGODB_PASSWORD_ENV],
    authSource: values['auth-source'],
  });
  try {
    process.stderr.write(
      `${await work(client, { drop: values.drop === true, ...(values.db !== undefined ? { db: values.db } : {}) })}\n`,
    );
    return 0;
  } finally {
    await client.close().catch(() => undefined);
  }
}

/**
 * Runs one child to its exit code. A failure exits at once: a driver socket or timer, or restic still writing
 * into a restore's stdin, must not hold a failed run open.
 */
export function runMongoChild(action: 'dump' | 'restore', work: MongoChildWork): void {
  run(action, work).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`mongodb ${action} failed: ${err instanceof Error ? err.message : String(err)}\n`, () =>
        process.exit(1),
      );
    },
  );
}
