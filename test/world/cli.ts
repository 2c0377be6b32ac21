// `node test/world/cli.ts up|down|status [dir]`: the local world's control plane, for make dev-up/dev-down.
import { join } from 'node:path';
import { REPO_ROOT } from './bins.ts';
import { isHealthy, readState, startControlPlane, stopControlPlane } from './controlplane.ts';
import { startOperator, stopOperator } from './operator.ts';

const [cmd = 'status', dirArg] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const dir = dirArg ?? join(REPO_ROOT, '.cluster');
const log = (m: string) => console.log(`[world] ${m}`);

switch (cmd) {
  case 'up': {
    const t0 = Date.now();
    const s = await startControlPlane(dir, { log });
    if (!process.argv.includes('--no-operator')) await startOperator(s, log);
    log(`up in ${((Date.now() - t0) / 1000).toFixed(1)}s: kubeconfig ${s.kubeconfig}, kubectl ${s.kubectl}`);
    break;
  }
  case 'down':
    await stopOperator(dir);
    await stopControlPlane(dir);
    log('down');
    break;
  case 'status': {
    const s = readState(dir);
    log(s && (await isHealthy(s)) ? `running at https://127.0.0.1:${s.ports.api}` : 'not running');
    break;
  }
  default:
    console.error('usage: cli.ts up|down|status [dir]');
    process.exit(2);
}
