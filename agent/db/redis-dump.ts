// Writes the logical dump of a Redis server (redis.ts) to stdout, for `restic backup --stdin`: exit 0 only
// when every database was walked to its end, so a dump cut short never becomes a snapshot.
// Usage: node redis-dump.ts -h <host> -p <port> [--user <name>]; the password comes from REDISCLI_AUTH.
import { parseArgs } from 'node:util';
import { dumpRedis } from './redis.ts';
import { RedisClient } from './resp.ts';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { h: { type: 'string' }, p: { type: 'string' }, user: { type: 'string' } },
  });
  if (!values.h || !values.p) {
    process.stderr.write('usage: redis-dump.ts -h <host> -p <port> [--user <name>]\n');
    return 2;
  }
  const client = await RedisClient.connect({
    host: values.h,
    port: Number(values.p),
    user: values.user,
    password: process.env.REDISCLI_AUTH,
  });
  try {
    const { keys } = await dumpRedis(client, process.stdout);
    await new Promise<void>((resolve, reject) => process.stdout.write('', (e) => (e ? reject(e) : resolve())));
    process.stderr.write(`dumped ${keys} keys\n`);
    return 0;
  } finally {
    client.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`redis dump failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
