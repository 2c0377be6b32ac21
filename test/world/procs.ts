// Background processes of the local world: each in its own process group, output appended to a log
// file, stopped by group with a grace period. Pids live in small JSON files so a later command (or the
// successor of a crashed run) can find them.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function launchDetached(
  logDir: string,
  name: string,
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): number {
  mkdirSync(logDir, { recursive: true });
  const out = openSync(join(logDir, `${name}.log`), 'a');
  const child = spawn(cmd, args, {
    detached: true,
    cwd: opts.cwd,
    stdio: ['ignore', out, out],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env },
  });
  closeSync(out);
  child.unref();
  if (!child.pid) throw new Error(`could not start ${name}`);
  return child.pid;
}

export async function killGroup(pid: number | undefined, graceMs = 10_000): Promise<void> {
  if (!pid || !alive(pid)) return;
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  const end = Date.now() + graceMs;
  while (alive(pid) && Date.now() < end) await sleep(100);
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  while (alive(pid)) await sleep(50);
}

/** A pid file holding `{ pid, ... }`. */
export function readPidFile<T extends { pid: number }>(file: string): T | null {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

export function writePidFile(file: string, data: { pid: number }): void {
  writeFileSync(file, JSON.stringify(data, null, 2));
}

export async function stopPidFile(file: string, graceMs = 10_000): Promise<void> {
  await killGroup(readPidFile(file)?.pid, graceMs);
  rmSync(file, { force: true });
}
