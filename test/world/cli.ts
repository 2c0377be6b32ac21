// `node test/world/cli.ts up|down|status [dir] [--no-operator] [--no-runner]`: the local world for
// make dev-up / make dev-down — control plane, operator, and the dev/test pod runner.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from './bins.ts';
import { isHealthy, readState, startControlPlane, stopControlPlane } from './controlplane.ts';
import { startOperator, stopOperator } from './operator.ts';
import { alive, launchDetached, readPidFile, stopPidFile, writePidFile } from './procs.ts';

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const [cmd = 'status', dirArg] = positional;
const dir = dirArg ?? join(REPO_ROOT, '.cluster');
const log = (m: string) => console.log(`[world] ${m}`);
const runnerPidFile = join(dir, 'pod-runner.json');

async function startRunner(): Promise<void> {
  await stopPidFile(runnerPidFile);
  const pid = launchDetached(join(dir, 'logs'), 'pod-runner', join(REPO_ROOT, 'node_modules', '.bin', 'node'), ['test/world/pod-runner/main.ts', dir], { cwd: REPO_ROOT });
  writePidFile(runnerPidFile, { pid });
  await sleep(500);
  if (!alive(pid)) throw new Error(`pod runner exited at start; see ${join(dir, 'logs', 'pod-runner.log')}`);
  log('pod runner started (dev/test stand-in for a kubelet: runs only the agent image)');
}

switch (cmd) {
  case 'up': {
    const t0 = Date.now();
    const s = await startControlPlane(dir, { log });
    if (!process.argv.includes('--no-operator')) await startOperator(s, log);
    if (!process.argv.includes('--no-runner')) await startRunner();
    log(`up in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    log(`kubectl: ${s.kubectl} --kubeconfig ${s.kubeconfig}`);
    break;
  }
  case 'down':
    await stopPidFile(runnerPidFile);
    await stopOperator(dir);
    await stopControlPlane(dir);
    log('down');
    break;
  case 'status': {
    const s = readState(dir);
    log(s && (await isHealthy(s)) ? `control plane running at https://127.0.0.1:${s.ports.api}` : 'control plane not running');
    log(`operator: ${alive(readPidFile(join(dir, 'operator.json'))?.pid) ? 'running' : 'not running'}`);
    log(`pod runner: ${alive(readPidFile(runnerPidFile)?.pid) ? 'running' : 'not running'}`);
    break;
  }
  default:
    console.error('usage: cli.ts up|down|status [dir] [--no-operator] [--no-runner]');
    process.exit(2);
}
