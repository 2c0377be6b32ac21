// `node test/world/cli.ts up|down|status [dir] [--pod-runner] [--no-operator] [--no-runner]`: the local world for
// make dev-up / make dev-down. By default the real-kubelet world (test/world/node/: kubelet + containerd in a
// network namespace of its own, the product installed from manifests/ and locally built images); where this
// machine cannot run it (not root, no network namespaces, packages or binaries missing) or with --pod-runner,
// the control plane + operator + pod runner world, which runs no application containers.
import { DEV_WORLD_DIR, worldDown, worldStatus, worldUp } from './world.ts';
import { installProduct } from './node/install.ts';
import {
  isNodeWorldHealthy,
  nodeWorldUnsupported,
  readNodeState,
  startNodeWorld,
  stopNodeWorld,
} from './node/world.ts';

const [cmd = 'status', dirArg] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const dir = dirArg ?? DEV_WORLD_DIR;
const flag = (f: string) => process.argv.includes(f);
const log = (m: string) => console.log(`[world] ${m}`);

switch (cmd) {
  case 'up': {
    const t0 = Date.now();
    const unsupported = flag('--pod-runner') ? 'asked for with --pod-runner' : nodeWorldUnsupported();
    if (unsupported) {
      log(
        `POD-RUNNER WORLD (a stand-in for a kubelet: application containers do not run) — real-kubelet world not used: ${unsupported}`,
      );
      await stopNodeWorld(dir);
      const s = await worldUp(dir, { log, operator: !flag('--no-operator'), runner: !flag('--no-runner') });
      log(`up in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      log(`kubectl: ${s.kubectl} --kubeconfig ${s.kubeconfig}`);
      break;
    }
    await worldDown(dir);
    const s = await startNodeWorld(dir, {
      log,
      images: flag('--no-operator') ? ['app'] : ['operator', 'agent', 'app'],
    });
    if (!flag('--no-operator')) await installProduct(s, log);
    log(`REAL-KUBELET WORLD up in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    log(`kubectl: ${s.kubectl} --kubeconfig ${s.kubeconfig}`);
    break;
  }
  case 'down':
    await stopNodeWorld(dir);
    await worldDown(dir);
    log('down');
    break;
  case 'status': {
    const n = readNodeState(dir);
    if (n)
      log(
        `real-kubelet world: ${(await isNodeWorldHealthy(n)) ? `running, apiserver on https://127.0.0.1:${n.apiPort}` : 'not healthy (down cleans it up)'}`,
      );
    for (const line of await worldStatus(dir)) log(line);
    break;
  }
  default:
    console.error('usage: cli.ts up|down|status [dir] [--pod-runner] [--no-operator] [--no-runner]');
    process.exit(2);
}
