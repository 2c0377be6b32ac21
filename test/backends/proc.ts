// A backend server for tests: a child in its own process group, started on a free loopback port,
// ready once it answers, and stopped by signalling the whole group with a bounded wait, so no test
// leaves a server (or a server's children) running.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { once } from 'node:events';

/** Ports freePort has handed out in this process: the kernel may give a just-released port to the next bind. */
const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1 (bound then released; the tiny reuse race with other processes is acceptable in
 * tests), never one this process was given before: two calls in a row once returned the same port, and an
 * operator then found its metrics port taken by its own webhook.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const srv = createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const addr = srv.address();
    srv.close();
    await once(srv, 'close');
    if (addr === null || typeof addr === 'string') throw new Error('could not allocate a port');
    if (handedOut.has(addr.port)) continue;
    handedOut.add(addr.port);
    return addr.port;
  }
  throw new Error('could not allocate a port this process was not given before');
}

/** A port where nothing listens: allocated and immediately released, so a dial is refused. */
export const closedPort = freePort;

export interface ServerProcess {
  readonly pid: number;
  /** Last lines the server printed, for failure messages. */
  output(): string;
  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  readonly exited: Promise<void>;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Resolves once the server is usable; polled until `readyTimeoutMs`. */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
}

export async function startServer(bin: string, args: string[], opts: StartOptions): Promise<ServerProcess> {
  const child: ChildProcess = spawn(bin, args, {
    detached: true, // own process group, so stop() reaches any children too
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    cwd: opts.cwd,
  });
  let tail = '';
  const keep = (b: Buffer) => {
    tail = (tail + b.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let done = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      done = true;
      resolve();
    });
    child.once('error', (err) => {
      tail += `\nspawn error: ${err.message}`;
      done = true;
      resolve();
    });
  });
  const pid = child.pid;

  const stop = async (graceMs = 5000): Promise<void> => {
    if (done || pid === undefined) return;
    signalGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    // The leader is gone; make sure nothing it started survives it.
    signalGroup(pid, 'SIGKILL');
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (done) throw new Error(`${bin} exited before it was ready:\n${tail}`);
    if (await opts.ready().catch(() => false)) break;
    if (Date.now() > deadline) {
      await stop(1000);
      throw new Error(`${bin} not ready within ${opts.readyTimeoutMs ?? 30_000} ms:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (pid === undefined) throw new Error(`${bin} did not start`);
  return { pid, output: () => tail, stop, exited };
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // ESRCH: the group is already gone
  }
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** True when GET url answers with a status below 500. */
export async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.status < 500;
  } catch {
    return false;
  }
}
