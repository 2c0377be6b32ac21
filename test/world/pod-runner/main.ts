// `node test/world/pod-runner/main.ts <worldDir>`: the pod runner as a background process of the local
// world (make dev-up). Dev/test only: it stands in for a kubelet and runs only our agent image.
import { join } from 'node:path';
import { readFileSync, existsSync } from 'node:fs';
import { createLogger } from '../../../shared/log.ts';
import { Kube } from '../../../shared/kube/client.ts';
import { REPO_ROOT, binary } from '../bins.ts';
import { templateWasm } from '../../backends/bins.ts';
import { AGENT_ENTRYPOINT, AGENT_IMAGE } from '../entrypoints.ts';
import { PodRunner } from './runner.ts';

const worldDir = process.argv[2] ?? join(REPO_ROOT, '.cluster');
const log = createLogger({ name: 'pod-runner', level: process.env.STASH_LOG_LEVEL ?? 'info' });

// A previous runner that died hard may have left container processes behind.
const pidFile = join(worldDir, 'pod-runner-pids.json');
if (existsSync(pidFile)) {
  for (const pid of JSON.parse(readFileSync(pidFile, 'utf8')) as number[]) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

const kubeconfig = join(worldDir, 'kubeconfig');
const runner = new PodRunner({
  kube: Kube.load(kubeconfig, 'stash-ts-pod-runner'),
  worldDir,
  workdir: REPO_ROOT,
  nodeBinary: join(REPO_ROOT, 'node_modules', '.bin', 'node'),
  // A fault test may put a proxy between agents and the apiserver; the runner itself always talks to it directly.
  kubeconfig: process.env.STASH_POD_RUNNER_AGENT_KUBECONFIG || kubeconfig,
  log,
  images: {
    [AGENT_IMAGE]: {
      entrypoint: [...AGENT_ENTRYPOINT],
      env: { NODE_ENV: 'production', STASH_RESTIC_BINARY: binary('restic'), STASH_TEMPLATE_WASM: templateWasm() },
    },
  },
});
await runner.start();
log.info({ node: runner.nodeName }, 'pod runner started');
const shutdown = async () => {
  await runner.stop();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown());
process.once('SIGINT', () => void shutdown());
