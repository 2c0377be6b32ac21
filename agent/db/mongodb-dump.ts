// Writes the dump of a MongoDB server (mongodb-client.ts) to stdout, for `restic backup --stdin`: exit 0 only
// when every collection was read to its end and the trailer is written, so a dump cut short never becomes a
// snapshot. Usage: node mongodb-dump.ts --host <host> --port <port> [--user <name>] [--auth-source <db>];
// the password comes from STASH_MONGODB_PASSWORD, never argv.
import { parseArgs } from 'node:util';
import { connectMongo, dumpMongo } from './mongodb-client.ts';
import { MONGODB_PASSWORD_ENV } from './mongodb.ts';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      user: { type: 'string' },
      'auth-source': { type: 'string' },
    },
  });
  if (!values.host || !values.port) {
    process.stderr.write('usage: mongodb-dump.ts --host <host> --port <port> [--user <name>] [--auth-source <db>]\n');
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
    const { collections, documents } = await dumpMongo(client, process.stdout);
    await new Promise<void>((resolve, reject) => process.stdout.write('', (e) => (e ? reject(e) : resolve())));
    process.stderr.write(`dumped ${documents} documents in ${collections} collections\n`);
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
    // exit now: a driver socket or timer left by the failure must not keep a failed dump alive
    process.stderr.write(`mongodb dump failed: ${err instanceof Error ? err.message : String(err)}\n`, () =>
      process.exit(1),
    );
  },
);
