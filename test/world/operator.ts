// Runs the operator on this machine for the local world: the same entrypoint as the image, serving the
// admission webhook on 127.0.0.1 with a certificate from certs/, and registers the webhook configurations
// with clientConfig.url on loopback (the apiserver must never dial a Service IP here).
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateCerts } from '../../certs/certs.ts';
import { renderWebhookConfigurations } from '../../certs/webhook-config.ts';
import { Kube, type KubeObject } from '../../shared/kube/client.ts';
import { REPO_ROOT } from './bins.ts';
import { templateWasm } from '../backends/bins.ts';
import { applyFile, freePort, type ControlPlaneState } from './controlplane.ts';
import { AGENT_IMAGE, OPERATOR_ENTRYPOINT } from './entrypoints.ts';
import { alive, launchDetached, stopPidFile, writePidFile } from './procs.ts';

export const OPERATOR_NAMESPACE = 'stash-system';

export interface OperatorState {
  pid: number;
  port: number;
  caFile: string;
}

/** True when the operator on 127.0.0.1:port answers /readyz with 200 over TLS signed by `ca`. */
export async function operatorReady(port: number, ca: Buffer): Promise<boolean> {
  return await new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/readyz', ca, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

export async function stopOperator(dir: string): Promise<void> {
  await stopPidFile(join(dir, 'operator.json'));
}

export interface OperatorOptions {
  /** Extra operator environment (tests shorten STASH_HOST_LIVENESS_TIMEOUT this way). */
  env?: Record<string, string>;
}

export async function startOperator(
  cp: ControlPlaneState,
  log: (m: string) => void = () => undefined,
  opts: OperatorOptions = {},
): Promise<OperatorState> {
  await stopOperator(cp.dir);
  const certDir = join(cp.dir, 'webhook-certs');
  const certs = await generateCerts({
    dir: certDir,
    serviceName: 'stash-ts-operator',
    namespace: OPERATOR_NAMESPACE,
    days: 365,
  });
  const kube = Kube.load(cp.kubeconfig);
  if (!(await kube.getOrNull('v1', 'Namespace', undefined, OPERATOR_NAMESPACE))) {
    await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: OPERATOR_NAMESPACE } });
  }
  const port = await freePort();
  const [, script] = OPERATOR_ENTRYPOINT;
  const pid = launchDetached(
    join(cp.dir, 'logs'),
    'operator',
    join(REPO_ROOT, 'node_modules', '.bin', 'node'),
    [script],
    {
      cwd: REPO_ROOT,
      env: {
        STASH_KUBECONFIG: cp.kubeconfig,
        POD_NAMESPACE: OPERATOR_NAMESPACE,
        POD_NAME: 'stash-ts-operator-local',
        STASH_WEBHOOK_HOST: '127.0.0.1',
        STASH_WEBHOOK_PORT: String(port),
        STASH_METRICS_PORT: String(await freePort()),
        STASH_TLS_CERT_FILE: certs.certFile,
        STASH_TLS_KEY_FILE: certs.keyFile,
        STASH_AGENT_IMAGE: AGENT_IMAGE,
        STASH_TEMPLATE_WASM: templateWasm(),
        ...opts.env,
      },
    },
  );
  const state: OperatorState = { pid, port, caFile: certs.caFile };
  writePidFile(join(cp.dir, 'operator.json'), state);
  const ca = readFileSync(certs.caFile);
  const end = Date.now() + 60_000;
  while (!(await operatorReady(port, ca))) {
    if (!alive(state.pid) || Date.now() > end) {
      const tail = readFileSync(join(cp.dir, 'logs', 'operator.log'), 'utf8')
        .split('\n')
        .slice(-20)
        .join('\n');
      throw new Error(`operator did not become ready; last log lines:\n${tail}`);
    }
    await sleep(150);
  }
  // The ClusterRoles the operator binds for agents (docs/api.md §11); the local pod runner itself hands agents an admin kubeconfig.
  await applyFile(kube, join(REPO_ROOT, 'manifests', 'webhook', 'agent-rbac.yaml'));
  for (const cfg of renderWebhookConfigurations({ caPem: certs.caPem, url: { port } }))
    await kube.apply(cfg as KubeObject);
  kube.close();
  log(`operator ready: admission on https://127.0.0.1:${port}, webhooks registered`);
  return state;
}
