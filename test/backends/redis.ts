// A throwaway Redis server for tests (Debian's redis-server): no persistence, a private temporary directory,
// 127.0.0.1 at a free port. The password is in a config file, not argv, so the test's sampling of
// /proc/<pid>/cmdline for the canary password also covers the server.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisClient } from '../../agent/db/resp.ts';
import { onPath } from './bins.ts';
import { freePort, startServer, type ServerProcess } from './proc.ts';

export interface RedisServer {
  port: number;
  password: string;
  server: ServerProcess;
  /** A client logged in as the default user (closed by stop()). */
  client(): Promise<RedisClient>;
  stop(): Promise<void>;
}

export function redisAvailable(): boolean {
  return (
    onPath('redis-server', `${process.env.PATH ?? ''}:/usr/sbin`) !== undefined && onPath('redis-cli') !== undefined
  );
}

function confValue(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export async function startRedis(opts: { password: string; port?: number }): Promise<RedisServer> {
  const bin = onPath('redis-server', `${process.env.PATH ?? ''}:/usr/sbin`);
  if (!bin) throw new Error('redis-server not found: run hack/install-system-packages.sh (Debian redis-server)');
  const dir = await mkdtemp(join(tmpdir(), 'stash-ts-redis-'));
  const port = opts.port ?? (await freePort());
  const conf = join(dir, 'redis.conf');
  await writeFile(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      'save ""',
      'appendonly no',
      'protected-mode yes',
      `requirepass ${confValue(opts.password)}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const clients: RedisClient[] = [];
  const client = async () => {
    const c = await RedisClient.connect({ host: '127.0.0.1', port, password: opts.password, connectTimeoutMs: 2000 });
    clients.push(c);
    return c;
  };
  let server: ServerProcess;
  try {
    server = await startServer(bin, [conf], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      ready: async () => {
        const c = await RedisClient.connect({
          host: '127.0.0.1',
          port,
          password: opts.password,
          connectTimeoutMs: 1000,
        });
        const pong = await c.call(['PING']);
        c.close();
        return pong === 'PONG';
      },
      readyTimeoutMs: 20_000,
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    password: opts.password,
    server,
    client,
    async stop() {
      for (const c of clients.splice(0)) c.close();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
