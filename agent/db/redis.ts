// The Redis member (docs/decisions/0014-more-member-kinds.md): a logical dump of every database as a
// stream of RESP commands — `SELECT <db>` and, per key, `RESTORE <key> <expire-at-ms> <DUMP payload>
// REPLACE ABSTTL` — which `redis-cli --pipe` replays into a running server. DUMP's payload is the server's
// own serialisation of the value (any type, binary-safe, big keys included) and ABSTTL keeps the absolute
// expiry time, so a TTL is identical after restore rather than restarted. Each key is read atomically;
// the dump is not one point in time across keys (a SCAN walk, like upstream's redis-dump-go).
// The login reaches both sides through REDISCLI_AUTH in the environment, never argv.
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { ValidationError } from '../../shared/errors.ts';
import { paramValue, argsParam, type TaskParam } from './args.ts';
import type { DbCommand } from './commands.ts';
import type { DatabaseConnection } from './connection.ts';
import { encodeCommand, ok, RedisClient, type Reply } from './resp.ts';

/** The stored file name (upstream's Redis addon stores its RESP stream under this name too). */
export const REDIS_DUMP_FILENAME = 'dumpfile.resp';

/** The dump process (run under node, so the producer-failure rules of `restic backup --stdin` apply). */
export const REDIS_DUMP_SCRIPT = join(import.meta.dirname, 'redis-dump.ts');

const SCAN_COUNT = 500;

/** Databases that hold keys, from `INFO keyspace` (`db3:keys=10,expires=2,avg_ttl=0`). */
export function keyspaceDatabases(info: string): number[] {
  const dbs: number[] = [];
  for (const line of info.split(/\r?\n/)) {
    const m = /^db(\d+):keys=(\d+)/.exec(line);
    if (m && Number(m[2]) > 0) dbs.push(Number(m[1]));
  }
  return dbs.sort((a, b) => a - b);
}

/** The RESTORE command for one key; `expireAtMs` < 0 means no expiry. */
export function restoreCommand(key: Buffer, payload: Buffer, expireAtMs: number): Buffer {
  return expireAtMs >= 0
    ? encodeCommand(['RESTORE', key, expireAtMs, payload, 'REPLACE', 'ABSTTL'])
    : encodeCommand(['RESTORE', key, 0, payload, 'REPLACE']);
}

function write(out: Writable, chunk: Buffer): Promise<void> | undefined {
  if (out.write(chunk)) return undefined;
  return new Promise((resolve, reject) => {
    const onErr = (e: Error) => reject(e);
    out.once('error', onErr);
    out.once('drain', () => {
      out.off('error', onErr);
      resolve();
    });
  });
}

function str(r: Reply): string {
  return Buffer.isBuffer(r) ? r.toString('utf8') : String(r);
}

/**
 * Writes the dump of every database to `out`; returns the number of keys. A key that vanishes between
 * SCAN and DUMP (expired or deleted meanwhile) is left out; any other failure rejects.
 */
export async function dumpRedis(client: RedisClient, out: Writable): Promise<{ keys: number }> {
  const dbs = keyspaceDatabases(str(ok(await client.call(['INFO', 'keyspace']), 'INFO keyspace')));
  // PEXPIRETIME (Redis 7) gives the absolute expiry; older servers give PTTL, made absolute here.
  const info = await client.call(['COMMAND', 'INFO', 'PEXPIRETIME']);
  const absolute = Array.isArray(info) && info[0] !== null && info[0] !== undefined;
  let keys = 0;
  for (const db of dbs) {
    ok(await client.call(['SELECT', db]), `SELECT ${db}`);
    await write(out, encodeCommand(['SELECT', db]));
    let cursor = '0';
    do {
      const scan = ok(await client.call(['SCAN', cursor, 'COUNT', SCAN_COUNT]), 'SCAN') as Reply[];
      cursor = str(scan[0]!);
      const batch = (scan[1] as Buffer[]) ?? [];
      if (batch.length === 0) continue;
      const now = Date.now();
      const replies = await client.pipeline(
        batch.flatMap((k) => [
          [absolute ? 'PEXPIRETIME' : 'PTTL', k],
          ['DUMP', k],
        ]),
      );
      for (let i = 0; i < batch.length; i++) {
        const ttl = ok(replies[2 * i]!, 'expiry') as number;
        const payload = ok(replies[2 * i + 1]!, 'DUMP');
        if (payload === null || ttl === -2) continue; // gone meanwhile
        const expireAt = ttl < 0 ? -1 : absolute ? ttl : now + ttl;
        const pending = write(out, restoreCommand(batch[i]!, payload as Buffer, expireAt));
        if (pending) await pending;
        keys++;
      }
    } while (cursor !== '0');
  }
  return { keys };
}

/** `flushAll: "true"` empties the server before a restore; otherwise the snapshot's keys replace equal keys. */
export function redisFlushFirst(params: readonly TaskParam[] | undefined): boolean {
  const v = paramValue(params, 'flushAll');
  if (v === undefined || v === '' || v === 'false') return false;
  if (v === 'true') return true;
  throw new ValidationError('task.params[flushAll]', `flushAll must be "true" or "false", not ${JSON.stringify(v)}`);
}

function redisEnv(conn: DatabaseConnection, path: string | undefined): Record<string, string> {
  const env: Record<string, string> = { PATH: path ?? process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
  if (conn.password) env.REDISCLI_AUTH = conn.password;
  return env;
}

function serverArgs(conn: DatabaseConnection): string[] {
  return ['-h', conn.host, '-p', String(conn.port), ...(conn.user ? ['--user', conn.user] : [])];
}

export function buildRedisDumpCommand(
  conn: DatabaseConnection,
  o: { path?: string; nodePath?: string } = {},
): DbCommand {
  return {
    file: o.nodePath ?? process.execPath,
    args: ['--no-warnings', REDIS_DUMP_SCRIPT, ...serverArgs(conn)],
    env: redisEnv(conn, o.path),
  };
}

/** `redis-cli --pipe` exits non-zero when any command failed and prints the errors on stderr. */
export function buildRedisRestoreCommand(
  conn: DatabaseConnection,
  o: { params?: readonly TaskParam[]; path?: string } = {},
): DbCommand {
  return {
    file: 'redis-cli',
    args: [...serverArgs(conn), '--no-auth-warning', '--pipe', ...(argsParam(o.params) ?? [])],
    env: redisEnv(conn, o.path),
  };
}

/** FLUSHALL before a restore that asked for it. */
export async function flushRedis(conn: DatabaseConnection): Promise<void> {
  const client = await RedisClient.connect({
    host: conn.host,
    port: conn.port,
    user: conn.user,
    password: conn.password,
  });
  try {
    ok(await client.call(['FLUSHALL']), 'FLUSHALL');
  } finally {
    client.close();
  }
}
