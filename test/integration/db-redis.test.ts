// A Redis member on a real server (Debian's redis-server, started here): a logical dump of several
// databases — binary keys and values, a multi-megabyte string, big hashes/lists/sets/sorted sets, a
// stream, millisecond TTLs — streamed into restic, wiped, restored with every key's DUMP payload and
// absolute expiry identical; a restore over live data replaces the snapshot's keys and keeps others, and
// empties the server first only with `flushAll`; a dump that fails halfway (its user may not read the last
// database's key) leaves no snapshot and the earlier one restorable; the password is in no command line.
// Both restic versions for the failure path (restic 0.14 once stored half a stdin stream), newest for the rest.
import { createHash, randomBytes } from 'node:crypto';
import t from 'tap';
import { connectionFromAppBinding, type DatabaseConnection } from '../../agent/db/connection.ts';
import { RedisClient, type Reply } from '../../agent/db/resp.ts';
import { backupDatabase, restoreDatabase } from '../../agent/db/run.ts';
import { requireDatabaseTask } from '../../agent/db/tasks.ts';
import { resticBinaries } from '../backends/bins.ts';
import { sampleCommandLines } from '../backends/db-scenario.ts';
import { redisAvailable, startRedis } from '../backends/redis.ts';
import { localRepo } from '../backends/restic.ts';

t.setTimeout(180_000);

const bins = resticBinaries();
if (bins.size === 0) t.fail('no restic binary found');
if (!redisAvailable()) t.fail('Redis not installed: run hack/install-system-packages.sh');
const newest = [...bins.keys()].sort((a, b) => b.localeCompare(a, undefined, { numeric: true }))[0];

const BIG = randomBytes(6 * 1024 * 1024);
const BINARY_KEY = Buffer.from([0, 0xff, 0x20, 0x0d, 0x0a, 0x2a, 0x24]);

async function seed(c: RedisClient): Promise<void> {
  const expireBase = Date.now() + 3_600_000;
  const cmds: Array<Array<string | Buffer | number>> = [['SELECT', 0]];
  for (let i = 0; i < 2000; i++) cmds.push(['SET', `k:${i}`, randomBytes(1 + (i % 300))]);
  for (let i = 0; i < 300; i++) cmds.push(['SET', `ttl:${i}`, `v${i}`, 'PXAT', expireBase + i * 7 + 3]);
  cmds.push(['SET', 'big', BIG]);
  cmds.push(['SET', BINARY_KEY, Buffer.from([0, 1, 2, 0x0d, 0x0a, 0xfe])]);
  for (let i = 0; i < 20_000; i += 1000)
    cmds.push(['HSET', 'bighash', ...Array.from({ length: 1000 }, (_, j) => [`f${i + j}`, randomBytes(20)]).flat()]);
  cmds.push(['RPUSH', 'list', ...Array.from({ length: 5000 }, (_, i) => `item-${i}`)]);
  cmds.push(['SADD', 'set', ...Array.from({ length: 3000 }, (_, i) => `m${i}`)]);
  cmds.push(['ZADD', 'zset', ...Array.from({ length: 2000 }, (_, i) => [i / 3, `z${i}`]).flat()]);
  cmds.push(['HSET', 'small-hash', 'a', '1', 'b', '2'], ['PEXPIREAT', 'small-hash', expireBase + 12_345]);
  for (let i = 0; i < 100; i++) cmds.push(['XADD', 'stream', '*', 'n', String(i), 'bin', randomBytes(8)]);
  cmds.push(['SELECT', 3]);
  for (let i = 0; i < 500; i++)
    cmds.push(['SET', `db3:${i}`, `value ${i}`, ...(i % 5 === 0 ? ['PXAT', expireBase + i] : [])]);
  cmds.push(['SELECT', 15], ['SET', '!last', 'the last database'], ['SELECT', 0]);
  for (const r of await c.pipeline(cmds)) if (r instanceof Error) throw r;
}

const READ: Record<string, (key: Buffer) => Array<string | Buffer | number>> = {
  string: (k) => ['GET', k],
  list: (k) => ['LRANGE', k, 0, -1],
  hash: (k) => ['HGETALL', k],
  set: (k) => ['SMEMBERS', k],
  zset: (k) => ['ZRANGE', k, 0, -1, 'WITHSCORES'],
  stream: (k) => ['XRANGE', k, '-', '+'],
};

const flat = (r: Reply): string[] =>
  Array.isArray(r) ? r.flatMap(flat) : [Buffer.isBuffer(r) ? r.toString('hex') : String(r)];

/** A value by its type, canonical (members sorted where Redis keeps no order), hashed. */
function canonical(type: string, reply: Reply): string {
  let items = flat(reply);
  if (type === 'hash')
    items = Array.from({ length: items.length / 2 }, (_, i) => `${items[2 * i]}=${items[2 * i + 1]}`).sort();
  else if (type === 'set') items = items.sort();
  return `${type}:${createHash('sha256').update(items.join(',')).digest('hex').slice(0, 16)}`;
}

/** Every key of every database: its type and canonical value, and its absolute expiry in ms. */
async function contents(c: RedisClient): Promise<string> {
  const lines: string[] = [];
  for (let db = 0; db < 16; db++) {
    await c.call(['SELECT', db]);
    let cursor = '0';
    do {
      const [next, keys] = (await c.call(['SCAN', cursor, 'COUNT', 1000])) as [Buffer, Buffer[]];
      cursor = next.toString();
      const types = (await c.pipeline(keys.map((k) => ['TYPE', k]))).map(String);
      const reads = await c.pipeline(
        keys.flatMap((k, i) => {
          const read = READ[types[i]!];
          if (!read) throw new Error(`unexpected type ${types[i]}`);
          return [read(k), ['PEXPIRETIME', k]];
        }),
      );
      keys.forEach((k, i) =>
        lines.push(`${db} ${k.toString('hex')} ${canonical(types[i]!, reads[2 * i]!)} ${String(reads[2 * i + 1])}`),
      );
    } while (cursor !== '0');
  }
  await c.call(['SELECT', 0]);
  return lines.sort().join('\n');
}

for (const [version, bin] of bins) {
  t.test(`Redis member, restic ${version}`, async (t) => {
    const password = `Canary-${version}-p#ss"w'rd\\;$x`;
    const redis = await startRedis({ password });
    t.teardown(() => redis.stop());
    const restic = await localRepo(t, bin, { graceMs: 15_000 });

    const task = requireDatabaseTask('redis-backup-7.0.5', 'backup');
    t.equal(requireDatabaseTask('redis-restore-7.0.5', 'restore').engine, 'redis');
    const conn: DatabaseConnection = connectionFromAppBinding(
      {
        metadata: { name: 'cache', namespace: 'demo' },
        spec: {
          type: 'kubedb.com/redis',
          clientConfig: { url: `redis://127.0.0.1:${redis.port}` },
          secret: { name: 'cache-auth' },
        },
      },
      { password },
      { engine: task.engine },
    );
    t.match(conn, { engine: 'redis', host: '127.0.0.1', port: redis.port, user: '' });

    const c = await redis.client();
    await seed(c);
    const original = await contents(c);
    t.ok(original.split('\n').length > 2800, `${original.split('\n').length} keys seeded`);
    const host = 'host-0';
    const sampler = sampleCommandLines(password, /^redis-cli$/, /redis-dump\.ts/);
    let sampled: { hits: string[]; seen: string[] };
    try {
      const started = Date.now();
      const backup = await backupDatabase(restic, conn, { host });
      t.ok(backup.snapshotId, `snapshot ${backup.snapshotId?.slice(0, 8)} in ${Date.now() - started} ms`);
      const snaps = await restic.snapshots();
      t.same(
        snaps.map((s) => s.paths),
        [['/dumpfile.resp']],
        'one snapshot holding /dumpfile.resp',
      );

      await c.call(['FLUSHALL']);
      t.equal(await c.call(['DBSIZE']), 0, 'wiped');
      const restoreStarted = Date.now();
      const restored = await restoreDatabase(restic, conn, { snapshot: backup.snapshotId!, host });
      t.ok(restored.bytes > BIG.length, `restored ${restored.bytes} bytes in ${Date.now() - restoreStarted} ms`);
      t.ok((await contents(c)) === original, 'every key, payload and absolute expiry identical after restore');
      t.ok(Buffer.compare((await c.call(['GET', 'big'])) as Buffer, BIG) === 0, 'the 6 MiB value byte-identical');
      t.same(await c.call(['GET', BINARY_KEY]), Buffer.from([0, 1, 2, 0x0d, 0x0a, 0xfe]), 'binary key and value');

      if (version === newest) {
        // Into a server with data: the snapshot's keys replace theirs, other keys stay.
        await c.pipeline([
          ['SET', 'k:1', 'changed'],
          ['DEL', 'k:2'],
          ['RPUSH', 'list', 'extra'],
          ['PERSIST', 'ttl:5'],
          ['SET', 'not-in-snapshot', 'keep me'],
        ]);
        await restoreDatabase(restic, conn, { snapshot: 'latest', host });
        t.equal(await c.call(['EXISTS', 'not-in-snapshot']), 1, 'a key the snapshot lacks is kept');
        await c.call(['DEL', 'not-in-snapshot']);
        t.ok((await contents(c)) === original, 'changed, deleted and re-expired keys are back as dumped');
        await c.call(['SET', 'not-in-snapshot', 'gone after flush']);
        await restoreDatabase(restic, conn, {
          snapshot: 'latest',
          host,
          params: [{ name: 'flushAll', value: 'true' }],
        });
        t.ok((await contents(c)) === original, 'flushAll: exactly the snapshot, nothing else');
        await t.rejects(
          restoreDatabase(restic, conn, { snapshot: 'latest', host, params: [{ name: 'flushAll', value: 'yes' }] }),
          /task\.params\[flushAll\]: flushAll must be "true" or "false"/,
          'a bad flushAll value is rejected',
        );
      }

      // A dump that fails halfway: its ACL user may not read `!last` in db 15, after db 0 and db 3 are out.
      const aclPassword = `${password}-acl`;
      await c.call(['ACL', 'SETUSER', 'halfway', 'on', `>${aclPassword}`, '+@all', 'resetkeys', '~[^!]*']);
      const limited = { ...conn, user: 'halfway', password: aclPassword };
      const failed = await backupDatabase(restic, limited, { host }).then(
        () => undefined,
        (err: unknown) => err as Error,
      );
      t.ok(failed, 'the dump that failed halfway fails the backup');
      t.match(
        failed?.message,
        /^backup of Redis at 127\.0\.0\.1:\d+ failed: .*redis-dump failed .*NOPERM/,
        `readable: ${failed?.message}`,
      );
      t.notMatch(failed?.message ?? '', process.execPath, 'the client is named, not the node binary it runs under');
      t.notMatch(failed?.message ?? '', aclPassword, 'no password in the message');
      t.same(
        (await restic.snapshots()).map((s) => s.id),
        snaps.map((s) => s.id),
        'no snapshot from the failed dump',
      );
      await c.call(['FLUSHALL']);
      await restoreDatabase(restic, conn, { snapshot: 'latest', host });
      t.ok((await contents(c)) === original, 'the earlier snapshot restores identically');

      const denied = await restoreDatabase(
        restic,
        { ...conn, password: `${password}-wrong` },
        {
          snapshot: 'latest',
          host,
        },
      ).then(
        () => undefined,
        (err: unknown) => err as Error,
      );
      t.match(
        denied?.message,
        /^restore of Redis .* failed: redis-cli failed .*(WRONGPASS|AUTH|NOAUTH)/i,
        `readable: ${denied?.message}`,
      );
      t.notMatch(denied?.message ?? '', password, 'no password in the message');
    } finally {
      sampled = await sampler.stop();
    }
    t.same(sampled.hits, [], 'the password never appeared in any command line');
    t.ok(
      sampled.seen.some((s) => /redis-cli/.test(s)) && sampled.seen.some((s) => /redis-dump/.test(s)),
      `the sampler saw both clients: ${sampled.seen.join(' ; ')}`,
    );
  });
}
