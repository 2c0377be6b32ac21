// `node test/world/cli.ts up|down|status [dir] [--no-operator] [--no-runner]`: the local world for
// make dev-up / make dev-down — control plane, operator, and the dev/test pod runner.
import { DEV_WORLD_DIR, worldDown, worldStatus, worldUp } from './world.ts';

const [cmd = 'status', dirArg] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const dir = dirArg ?? DEV_WORLD_DIR;
const log = (m: string) => console.log(`[world] ${m}`);

switch (cmd) {
  case 'up': {
    const t0 = Date.now();
    const s = await worldUp(dir, { log, operator: !process.argv.includes('--no-operator'), runner: !process.argv.includes('--no-runner') });
    log(`up in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    log(`kubectl: ${s.kubectl} --kubeconfig ${s.kubeconfig}`);
    break;
  }
  case 'down':
    await worldDown(dir);
    log('down');
    break;
  case 'status':
    for (const line of await worldStatus(dir)) log(line);
    break;
  default:
    console.error('usage: cli.ts up|down|status [dir] [--no-operator] [--no-runner]');
    process.exit(2);
}
