// Replays a MongoDB member's dump (mongodb-client.ts) from stdin, as `restic dump`'s consumer: exit 0 only when
// the whole stream, trailer included, is in the server. Usage: node mongodb-restore.ts --host <host>
// --port <port> [--user <name>] [--auth-source <db>] [--drop]; the password comes from STASH_MONGODB_PASSWORD.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { connectMongo, restoreMongo } from './mongodb-client.ts';
import { MONGODB_PASSWORD_ENV } from './mongodb.ts';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      user: { type: 'string' },
      'auth-source': { type: 'string' },
      drop: { type: 'boolean' },
    },
  });
  if (!values.host || !values.port) {
    process.stderr.write('usage: mongodb-restore.ts --host <host> --port <port> [--user <name>] [--drop]\n');
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
    const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
    const { collections, documents } = await restoreMongo(client, lines, { drop: values.drop === true });
    process.stderr.write(`restored ${documents} documents in ${collections} collections\n`);
    return 0;
  } finally {
    await client.close().catch(() => undefined);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // exit now: a restore that stopped reading still has restic writing into its stdin, which would hold it open
    process.stderr.write(`mongodb restore failed: ${err instanceof Error ? err.message : String(err)}\n`, () =>
      process.exit(1),
    );
  },
);
