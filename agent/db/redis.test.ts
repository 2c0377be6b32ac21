import t from 'tap';
import {
  buildRedisDumpCommand,
  buildRedisRestoreCommand,
  keyspaceDatabases,
  redisFlushFirst,
  restoreCommand,
} from './redis.ts';
import { encodeCommand, parseReply, RedisReplyError } from './resp.ts';
import type { DatabaseConnection } from './connection.ts';

const conn: DatabaseConnection = {
  engine: 'redis',
  host: 'cache.demo.svc',
  port: 6379,
  user: 'backup',
  password: 's3cret"pw',
};

t.test('RESP: commands encode binary-safe, replies parse whole or not at all', async (t) => {
  const bin = Buffer.from([0, 0x0d, 0x0a, 0xff]);
  t.same(
    encodeCommand(['SET', bin, 7]),
    Buffer.concat([Buffer.from('*3\r\n$3\r\nSET\r\n$4\r\n'), bin, Buffer.from('\r\n$1\r\n7\r\n')]),
  );
  const reply = Buffer.from('*3\r\n$4\r\n\0\r\n\xff\r\n:-2\r\n$-1\r\n+OK\r\n-ERR nope\r\n', 'latin1');
  const a = parseReply(reply, 0)!;
  t.same(a.value, [Buffer.from([0, 0x0d, 0x0a, 0xff]), -2, null]);
  const b = parseReply(reply, a.next)!;
  t.equal(b.value, 'OK');
  const c = parseReply(reply, b.next)!;
  t.ok(c.value instanceof RedisReplyError && c.value.message === 'ERR nope');
  t.equal(parseReply(reply.subarray(0, 12), 0), undefined, 'a partial bulk waits for the rest');
});

t.test('the dump: databases with keys, RESTORE with absolute expiry', async (t) => {
  t.same(
    keyspaceDatabases(
      '# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=5\r\ndb12:keys=1,expires=0\r\ndb2:keys=0,expires=0\r\n',
    ),
    [0, 12],
  );
  t.same(keyspaceDatabases('# Keyspace\r\n'), []);
  const payload = Buffer.from([1, 2, 3]);
  t.same(
    restoreCommand(Buffer.from('k'), payload, 1700000000123),
    encodeCommand(['RESTORE', 'k', 1700000000123, payload, 'REPLACE', 'ABSTTL']),
  );
  t.same(restoreCommand(Buffer.from('k'), payload, -1), encodeCommand(['RESTORE', 'k', 0, payload, 'REPLACE']));
});

t.test('credentials go through REDISCLI_AUTH, never argv', async (t) => {
  for (const cmd of [buildRedisDumpCommand(conn), buildRedisRestoreCommand(conn)]) {
    t.notOk(
      cmd.args.some((a) => a.includes(conn.password)),
      cmd.file,
    );
    t.equal(cmd.env.REDISCLI_AUTH, conn.password);
    t.match(cmd.args.join(' '), /-h cache\.demo\.svc -p 6379 --user backup/);
  }
  t.notOk('REDISCLI_AUTH' in buildRedisDumpCommand({ ...conn, password: '' }).env, 'no AUTH without a password');
  t.match(buildRedisRestoreCommand(conn, { params: [{ name: 'args', value: '--pipe-timeout 60' }] }).args.slice(-2), [
    '--pipe-timeout',
    '60',
  ]);
});

t.test('flushAll param', async (t) => {
  t.equal(redisFlushFirst(undefined), false);
  t.equal(redisFlushFirst([{ name: 'flushAll', value: 'false' }]), false);
  t.equal(redisFlushFirst([{ name: 'flushAll', value: 'true' }]), true);
  t.throws(() => redisFlushFirst([{ name: 'flushAll', value: 'TRUE!' }]), { message: /task\.params\[flushAll\]/ });
});
