// Starts one container as a local process that sees its volumes at their mount paths and its pod's
// hostname: it runs in private mount and UTS namespaces (unshare) where each volume directory is bind-mounted onto its mountPath. The
// mount points themselves have to exist on this machine's filesystem, so missing ones are created and
// removed again when the last container using them stops.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Mount } from './volumes.ts';

export interface LaunchSpec {
  /** The pod's hostname, as in a real pod (its own UTS namespace): restic records it in its locks. */
  hostname: string;
  argv: string[];
  env: Record<string, string>;
  mounts: Mount[];
  cwd: string;
  logFile: string;
}

const created = new Map<string, number>();

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Creates a missing mount point (and parents) and takes a reference on every directory of its path that we
 * created, now or for an earlier container. Returns those directories, deepest first.
 */
function claimMountPoint(target: string): string[] {
  const missing: string[] = [];
  for (let d = target; !existsSync(d); d = dirname(d)) missing.unshift(d);
  for (const d of missing) mkdirSync(d);
  const ours: string[] = [];
  for (let d = target; created.has(d) || missing.includes(d); d = dirname(d)) ours.push(d);
  for (const d of ours) created.set(d, (created.get(d) ?? 0) + 1);
  return ours;
}

/** Drops the references; a directory nobody uses any more is removed (only if empty). */
function releaseMountPoints(dirs: string[]): void {
  for (const d of dirs) {
    const n = (created.get(d) ?? 1) - 1;
    if (n > 0) {
      created.set(d, n);
      continue;
    }
    created.delete(d);
    try {
      rmdirSync(d);
    } catch {
      // not empty, or still a mount point elsewhere: leave it
    }
  }
}

export function launchContainer(spec: LaunchSpec): ChildProcess {
  const claimed = spec.mounts.flatMap((m) => claimMountPoint(m.target));
  const script = [
    'set -e',
    `hostname ${q(spec.hostname)}`,
    ...spec.mounts.flatMap((m) => [
      `mount --bind ${q(m.source)} ${q(m.target)}`,
      ...(m.readOnly ? [`mount -o remount,bind,ro ${q(m.target)}`] : []),
    ]),
    'exec "$@"',
  ].join('\n');
  mkdirSync(dirname(spec.logFile), { recursive: true });
  const out = openSync(spec.logFile, 'a');
  const child = spawn('unshare', ['--mount', '--uts', '--propagation', 'private', '--', 'sh', '-c', script, 'container', ...spec.argv], {
    cwd: spec.cwd, env: spec.env, stdio: ['ignore', out, out], detached: true,
  });
  closeSync(out);
  child.once('exit', () => releaseMountPoints(claimed));
  return child;
}

/** SIGTERM to the container's process group, SIGKILL after the grace period. */
export async function stopContainer(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try { process.kill(-child.pid, 'SIGTERM'); } catch { return; }
  const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
  await exited;
  clearTimeout(timer);
}
