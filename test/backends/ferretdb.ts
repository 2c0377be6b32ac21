// A throwaway MongoDB-protocol server for tests: FerretDB (hack/build-bins.sh ferretdb) on its SQLite backend
// in a private temporary directory, 127.0.0.1 at a free port. Access control is on (FerretDB's SCRAM
// authentication, `--test-enable-new-auth`, with one user set up in admin at start) so a wrong or missing
// password is refused as by a real mongod with authorization enabled. The password reaches the server through
// FERRETDB_SETUP_PASSWORD in its environment, not argv, so the test's /proc/<pid>/cmdline sampling also covers
// the server. Nothing dials out: telemetry is off (flag, DO_NOT_TRACK, and a loopback reporting URL that
// would refuse anyway), the debug HTTP listener is off, and FerretDB has no update check of its own.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { ferretdbBin } from './bins.ts';
import { freePort, startServer, type ServerProcess } from './proc.ts';

export const FERRETDB_ADMIN = 'stash';

export interface FerretDbServer {
  port: number;
  user: string;
  password: string;
  server: ServerProcess;
  /** A client logged in as the admin user (closed by stop()). */
  client(): Promise<MongoClient>;
  stop(): Promise<void>;
}

export async function startFerretDb(opts: { password: string }): Promise<FerretDbServer> {
  const bin = ferretdbBin();
  if (!bin) throw new Error('ferretdb not built: run hack/build-bins.sh ferretdb');
  const dir = await mkdtemp(join(tmpdir(), 'stash-ts-ferretdb-'));
  const port = await freePort();
  const login = (timeout: number) =>
    new MongoClient(`mongodb://127.0.0.1:${port}/`, {
      directConnection: true,
      auth: { username: FERRETDB_ADMIN, password: opts.password },
      authSource: 'admin',
      serverSelectionTimeoutMS: timeout,
    });
  const clients: MongoClient[] = [];
  let server: ServerProcess;
  try {
    server = await startServer(
      bin,
      [
        '--handler=sqlite',
        `--sqlite-url=file:${dir}/`,
        `--state-dir=${dir}`,
        `--listen-addr=127.0.0.1:${port}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--test-telemetry-url=http://127.0.0.1:9/',
        '--log-level=warn',
        '--test-enable-new-auth',
        '--setup-database=admin',
        `--setup-username=${FERRETDB_ADMIN}`,
      ],
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', DO_NOT_TRACK: '1', FERRETDB_SETUP_PASSWORD: opts.password },
        ready: async () => {
          const c = login(1000);
          try {
            await c.db('admin').command({ ping: 1 });
            return true;
          } finally {
            await c.close();
          }
        },
        readyTimeoutMs: 30_000,
      },
    );
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    user: FERRETDB_ADMIN,
    password: opts.password,
    server,
    async client() {
      const c = login(5000);
      await c.connect();
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients.splice(0)) await c.close().catch(() => undefined);
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A TCP relay to `port` that goes dead once `cutAfter` bytes came back from the server: every connection is
 * destroyed and new ones are refused, as when a server dies in the middle of a dump. `cut` says whether it did;
 * `relayed` counts the bytes the server sent (with `cutAfter` Infinity: how much a whole dump reads). `listenPort`
 * puts a new relay where an earlier one was, for an address that is already in an AppBinding.
 */
export async function startCuttingProxy(
  port: number,
  cutAfter: number,
  listenPort = 0,
): Promise<{ port: number; cut(): boolean; relayed(): number; stop(): Promise<void> }> {
  let relayed = 0;
  let dead = false;
  const sockets = new Set<Socket>();
  const listener: Server = createServer((down) => {
    if (dead) return down.destroy();
    const up = connect(port, '127.0.0.1');
    sockets.add(down).add(up);
    const close = () => {
      down.destroy();
      up.destroy();
      sockets.delete(down);
      sockets.delete(up);
    };
    down.on('error', close).on('close', close);
    up.on('error', close).on('close', close);
    down.pipe(up);
    up.on('data', (chunk: Buffer) => {
      if (dead) return;
      relayed += chunk.length;
      if (relayed < cutAfter) {
        down.write(chunk);
        return;
      }
      dead = true;
      listener.close();
      for (const s of sockets) s.destroy();
    });
  });
  listener.listen(listenPort, '127.0.0.1');
  await once(listener, 'listening');
  const addr = listener.address();
  if (addr === null || typeof addr === 'string') throw new Error('proxy: no port');
  return {
    port: addr.port,
    cut: () => dead,
    relayed: () => relayed,
    async stop() {
      dead = true;
      for (const s of sockets) s.destroy();
      if (listener.listening) await new Promise((r) => listener.close(r));
    },
  };
}
