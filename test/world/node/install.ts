// Installs stash-ts into the real-kubelet world the way README.md tells a user to: `kubectl apply` of the
// manifests, the serving certificate from certs/ stored as the Secret the operator mounts, and the webhook
// configurations rendered by `certs/cli.ts render` (clientConfig.service: the apiserver reaches the operator
// through its Service, inside the world's namespace). Nothing here knows more about the product than a user does.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../bins.ts';
import { OPERATOR_NAMESPACE } from '../operator.ts';
import { buildImage } from '../images/build.ts';

const NODE = join(REPO_ROOT, 'node_modules', '.bin', 'node');
export const OPERATOR_DEPLOYMENT = 'stash-ts-operator';

export interface InstallTarget {
  dir: string;
  kubeconfig: string;
  kubectl: string;
}

function kubectl(t: InstallTarget, args: string[], input?: string): string {
  try {
    return execFileSync(t.kubectl, ['--kubeconfig', t.kubeconfig, ...args], {
      cwd: REPO_ROOT,
      input,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(' ')}: ${err.stderr?.trim() || err.message}`, { cause: e });
  }
}

/** Every file under manifests/ and the serving certificate: what the applies below install. */
function installInputs(certDir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else h.update(`${p}\0`).update(readFileSync(p));
    }
  };
  walk(join(REPO_ROOT, 'manifests'));
  if (existsSync(join(certDir, 'tls.crt'))) h.update(readFileSync(join(certDir, 'tls.crt')));
  return h.digest('hex').slice(0, 32);
}

const INSTALLED = 'stash-ts.test/installed-inputs';

export async function installProduct(t: InstallTarget, log: (m: string) => void = () => undefined): Promise<void> {
  const t0 = Date.now();
  const certDir = join(t.dir, 'webhook-certs');
  const image = await buildImage('operator');
  // Each story file installs again (the world may be new); what is already installed from the same inputs is
  // left alone, as a second `kubectl apply` would leave it — the record lives in the cluster, so a new world
  // always gets a full install.
  const inputs = `${installInputs(certDir)}-${image.id}`;
  const installed: string | undefined = (() => {
    try {
      return kubectl(t, [
        '-n',
        OPERATOR_NAMESPACE,
        'get',
        `deployment/${OPERATOR_DEPLOYMENT}`,
        '-o',
        `jsonpath={.metadata.annotations.stash-ts\\.test/installed-inputs}`,
      ]).trim();
    } catch {
      return undefined; // no operator Deployment yet: a first install
    }
  })();
  if (installed === inputs) {
    kubectl(t, ['-n', OPERATOR_NAMESPACE, 'rollout', 'status', `deployment/${OPERATOR_DEPLOYMENT}`, '--timeout=180s']);
    log(
      `stash-ts already installed from the same manifests and image; operator available in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
    );
    await waitWebhookServing(t);
    return;
  }
  // CRDs carry long schemas: server-side apply keeps them out of the last-applied annotation's size limit.
  kubectl(t, ['apply', '--server-side', '--force-conflicts', '-f', 'manifests/crds/']);
  kubectl(t, ['wait', '--for=condition=Established', '--timeout=60s', '-f', 'manifests/crds/']);
  kubectl(t, [
    'apply',
    '-f',
    'manifests/webhook/operator.yaml',
    '-f',
    'manifests/webhook/rbac.yaml',
    '-f',
    'manifests/webhook/agent-rbac.yaml',
  ]);
  // A second install into the same world keeps its CA (the running operator and webhooks already trust it).
  if (!existsSync(join(certDir, 'tls.key')))
    execFileSync(NODE, ['certs/cli.ts', 'generate', '--dir', certDir], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  const secret = kubectl(t, [
    '-n',
    OPERATOR_NAMESPACE,
    'create',
    'secret',
    'tls',
    'stash-ts-operator-tls',
    `--cert=${join(certDir, 'tls.crt')}`,
    `--key=${join(certDir, 'tls.key')}`,
    '--dry-run=client',
    '-o',
    'yaml',
  ]);
  kubectl(t, ['apply', '-f', '-'], secret);
  const webhooks = execFileSync(NODE, ['certs/cli.ts', 'render', '--dir', certDir], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  kubectl(t, ['apply', '-f', '-'], webhooks);
  log('manifests applied (CRDs, operator, RBAC, agent RBAC, TLS Secret, webhook configurations)');
  // The image keeps its tag when its content changes: roll the pods onto a rebuilt one, as a user would. A first
  // install's pods start on the image just imported, so only an existing Deployment is rolled.
  if (installed !== undefined) {
    const ann = 'stash-ts.test/operator-image-id';
    const current = kubectl(t, [
      '-n',
      OPERATOR_NAMESPACE,
      'get',
      `deployment/${OPERATOR_DEPLOYMENT}`,
      '-o',
      `jsonpath={.spec.template.metadata.annotations.stash-ts\\.test/operator-image-id}`,
    ]).trim();
    if (current !== image.id && !installed.endsWith(`-${image.id}`))
      kubectl(t, [
        '-n',
        OPERATOR_NAMESPACE,
        'patch',
        `deployment/${OPERATOR_DEPLOYMENT}`,
        '-p',
        JSON.stringify({ spec: { template: { metadata: { annotations: { [ann]: image.id } } } } }),
      ]);
  }
  kubectl(t, ['-n', OPERATOR_NAMESPACE, 'rollout', 'status', `deployment/${OPERATOR_DEPLOYMENT}`, '--timeout=180s']);
  log(`operator Deployment available (2 replicas) in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  await waitWebhookServing(t);
  kubectl(t, [
    '-n',
    OPERATOR_NAMESPACE,
    'annotate',
    '--overwrite',
    `deployment/${OPERATOR_DEPLOYMENT}`,
    `${INSTALLED}=${installInputs(certDir)}-${image.id}`,
  ]);
}

/**
 * Removes what installProduct applied, as a user would with `kubectl delete -f`, except the CRDs (and with them
 * every backup object) and the namespace (the operator's leader Lease and the kit's CA stay, so a later
 * installProduct gets the same certificate). Returns once the operator's pods are gone: nothing of this install
 * still reconciles or serves admission. For a world that must run the product installed another way (helm).
 */
export async function uninstallProduct(t: InstallTarget, log: (m: string) => void = () => undefined): Promise<void> {
  const t0 = Date.now();
  // Webhooks first: while they point at a Service going away, every admission of our kinds would fail.
  const files = ['webhook-configurations.yaml', 'agent-rbac.yaml', 'rbac.yaml', 'operator.yaml'];
  for (const f of files) {
    const text = readFileSync(join(REPO_ROOT, 'manifests', 'webhook', f), 'utf8');
    for (const doc of parseAllDocuments(text)) {
      const o = doc.toJS() as { kind?: string; metadata?: { name?: string; namespace?: string } } | null;
      if (!o?.kind || !o.metadata?.name || o.kind === 'Namespace') continue;
      const ns = o.metadata.namespace ? ['-n', o.metadata.namespace] : [];
      // Foreground: the Deployment goes only after its ReplicaSets (its pods are awaited below).
      const cascade = o.kind === 'Deployment' ? ['--cascade=foreground'] : [];
      kubectl(t, [
        'delete',
        ...ns,
        ...cascade,
        '--ignore-not-found',
        '--wait',
        '--timeout=180s',
        `${o.kind}/${o.metadata.name}`,
      ]);
    }
  }
  kubectl(t, ['-n', OPERATOR_NAMESPACE, 'delete', '--ignore-not-found', 'secret/stash-ts-operator-tls']);
  const end = Date.now() + 180_000;
  const pods = () =>
    kubectl(t, [
      '-n',
      OPERATOR_NAMESPACE,
      'get',
      'pods',
      '-l',
      'app.kubernetes.io/name=stash-ts-operator',
      '-o',
      'name',
    ]).trim();
  while (pods() !== '') {
    if (Date.now() > end) throw new Error(`operator pods still there 180s after the uninstall: ${pods()}`);
    await sleep(1000);
  }
  log(`kubectl-applied stash-ts removed (CRDs and namespace kept) in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
}

/**
 * The apiserver sees new webhook configurations through an informer, and the Service's endpoints only once the
 * pods are Ready: a dry-run of an invalid object is rejected by our validating webhook once the path works.
 */
export async function waitWebhookServing(t: InstallTarget): Promise<void> {
  const probe = JSON.stringify({
    apiVersion: 'stash.appscode.com/v1beta1',
    kind: 'BackupConfiguration',
    metadata: { name: 'webhook-probe', namespace: 'default' },
    spec: {
      schedule: 'not a schedule',
      repository: { name: 'probe' },
      target: { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'probe' } },
      retentionPolicy: { name: 'probe', keepLast: 1, prune: true },
    },
  });
  const end = Date.now() + 60_000;
  let last = '';
  while (Date.now() < end) {
    try {
      kubectl(t, ['create', '--dry-run=server', '-f', '-'], probe);
      last = 'dry-run accepted';
    } catch (e) {
      last = (e as Error).message;
      if (/admission webhook "validate\.stash\.appscode\.com" denied/.test(last)) return;
    }
    await sleep(500);
  }
  throw new Error(`the validating webhook is not reached through its Service: ${last}`);
}
