// Two moves the database tests make on MariaDB and PostgreSQL alike: hold a table lock in a client session of
// their own (so a dump blocks on it at a known point), and end the first session of a user that waits on a lock
// (so the dump breaks in the middle of its output).
import { spawn } from 'node:child_process';

export interface HeldLock {
  release(): Promise<void>;
}

/** Starts `file args`, sends `lockSql` (which must print `locked` once it holds the lock) and keeps the session open. */
export async function holdInSession(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  lockSql: string,
  releaseSql: string,
  what: string,
): Promise<HeldLock> {
  const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stdin.write(lockSql);
  const deadline = Date.now() + 10_000;
  while (!out.includes('locked')) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`could not lock ${what}`);
    }
    await sleep(20);
  }
  return {
    async release() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.stdin.end(releaseSql);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `find` for a blocked session of `who` and ends it with `end`; returns the query it was running. */
export async function endBlockedSession(
  find: () => Promise<{ id: string; query: string } | undefined>,
  end: (id: string) => Promise<unknown>,
  who: string,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await find();
    if (found) {
      await end(found.id);
      return found.query;
    }
    if (Date.now() > deadline) throw new Error(`no session of ${who} waited for a lock within ${timeoutMs} ms`);
    await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
