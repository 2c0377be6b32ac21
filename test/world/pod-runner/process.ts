// Starts one container as a local process that sees its volumes at their mount paths and its pod's
// hostname: it runs in private mount and UTS namespaces (unshare) where each volume directory is
// bind-mounted onto its mountPath.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
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

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Mount points must exist on this machine's filesystem. Missing ones are created and deliberately left in
 * place afterwards: several pod runners (parallel test worlds) share them, and removing one under another
 * runner's starting container breaks its mounts. They are empty directories; the data lives elsewhere.
 */
function ensureMountPoint(target: string): void {
  mkdirSync(target, { recursive: true });
}

export function launchContainer(spec: LaunchSpec): ChildProcess {
  for (const m of spec.mounts) ensureMountPoint(m.target);
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
  const child = spawn(
    'unshare',
    ['--mount', '--uts', '--propagation', 'private', '--', 'sh', '-c', script, 'container', ...spec.argv],
    {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', out, out],
      detached: true,
    },
  );
  closeSync(out);
  return child;
}

/** SIGTERM to the container's process group, SIGKILL after the grace period. */
export async function stopContainer(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}
