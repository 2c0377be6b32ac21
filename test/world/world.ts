// The whole local world in one call: control plane, operator, and the dev/test pod runner.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from './bins.ts';
import { isHealthy, readState, startControlPlane, stopControlPlane, type ControlPlaneState } from './controlplane.ts';
import { startOperator, stopOperator } from './operator.ts';
import { alive, launchDetached, readPidFile, stopPidFile, writePidFile } from './procs.ts';

export const DEV_WORLD_DIR = join(REPO_ROOT, '.cluster');

export interface WorldOptions {
  operator?: boolean;
  runner?: boolean;
  /** Extra operator environment. */
  operatorEnv?: Record<string, string>;
  /** The kubeconfig the pod runner hands to agents instead of the world's own (a test's proxy in front of the apiserver). */
  agentKubeconfig?: string;
  log?: (m: string) => void;
}

function runnerPidFile(dir: string): string {
  return join(dir, 'pod-runner.json');
}

export async function startRunner(
  dir: string,
  log: (m: string) => void = () => undefined,
  opts: { agentKubeconfig?: string } = {},
): Promise<void> {
  await stopPidFile(runnerPidFile(dir));
  const env = opts.agentKubeconfig ? { STASH_POD_RUNNER_AGENT_KUBECONFIG: opts.agentKubeconfig } : {};
  const pid = launchDetached(
    join(dir, 'logs'),
    'pod-runner',
    join(REPO_ROOT, 'node_modules', '.bin', 'node'),
    ['test/world/pod-runner/main.ts', dir],
    { cwd: REPO_ROOT, env },
  );
  writePidFile(runnerPidFile(dir), { pid });
  await sleep(500);
  if (!alive(pid)) throw new Error(`pod runner exited at start; see ${join(dir, 'logs', 'pod-runner.log')}`);
  log('pod runner started (dev/test stand-in for a kubelet: runs only the agent image)');
}

export async function worldUp(dir = DEV_WORLD_DIR, opts: WorldOptions = {}): Promise<ControlPlaneState> {
  const log = opts.log ?? (() => undefined);
  const s = await startControlPlane(dir, { log });
  if (opts.operator ?? true) await startOperator(s, log, { env: opts.operatorEnv });
  if (opts.runner ?? true) await startRunner(dir, log, { agentKubeconfig: opts.agentKubeconfig });
  return s;
}

export async function worldDown(dir = DEV_WORLD_DIR): Promise<void> {
  await stopPidFile(runnerPidFile(dir));
  await stopOperator(dir);
  await stopControlPlane(dir);
}

export async function worldStatus(dir = DEV_WORLD_DIR): Promise<string[]> {
  const s = readState(dir);
  return [
    s && (await isHealthy(s))
      ? `control plane running at https://127.0.0.1:${s.ports.api}`
      : 'control plane not running',
    `operator: ${alive(readPidFile(join(dir, 'operator.json'))?.pid) ? 'running' : 'not running'}`,
    `pod runner: ${alive(readPidFile(runnerPidFile(dir))?.pid) ? 'running' : 'not running'}`,
  ];
}
