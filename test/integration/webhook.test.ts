// The admission webhook against the real kube-apiserver, which calls our server over TLS at https://127.0.0.1:PORT.
// This file starts the app itself with certificates from certs/, registers its own webhook configurations (named
// after and scoped to its namespace, so parallel files do not interfere) and fills an in-memory InvokerIndex from
// the API, refreshed before each step, standing in for the operator's informers.
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { parseAllDocuments, stringify } from 'yaml';
import { readFileSync } from 'node:fs';
import { apiVersionOf, type StashKind } from '../../shared/api/constants.ts';
import type { Kube, KubeObject } from '../../shared/kube/client.ts';
import { generateCerts } from '../../certs/certs.ts';
import { renderWebhookConfigurations } from '../../certs/webhook-config.ts';
import { buildApp } from '../../webhook/app.ts';
import type { BackupInvoker, InvokerIndex, Obj, Repository, RestoreInvoker } from '../../webhook/admission/types.ts';
import { loadYaml } from '../fixtures/reviews/fixtures.ts';
import { useCluster } from '../world/harness.ts';
import { templateWasm } from '../backends/bins.ts';

t.setTimeout(300_000);

const AGENT_IMAGE = 'stash-ts/agent:integration';

/** Lists our kinds in one namespace; refresh() before each step plays the informers' part. */
class ListedIndex implements InvokerIndex {
  private objects = new Map<StashKind, Obj[]>();
  private readonly kube: Kube;
  private readonly ns: string;
  constructor(kube: Kube, ns: string) {
    this.kube = kube;
    this.ns = ns;
  }
  async refresh(): Promise<void> {
    for (const kind of [
      'Repository',
      'BackupConfiguration',
      'BackupBatch',
      'RestoreSession',
      'RestoreBatch',
    ] as const) {
      const list = await this.listSoon(kind);
      this.objects.set(
        kind,
        list.items.map((o) => ({ ...o, apiVersion: apiVersionOf(kind), kind }) as Obj),
      );
    }
  }
  /**
   * A list, retried while the apiserver answers 429 "storage is (re)initializing": right after the test world
   * (re)applies the CRDs, a kind's storage can take a few seconds to come back on a loaded machine, as it does
   * for an informer's relist in the operator.
   */
  private async listSoon(kind: StashKind): Promise<{ items: KubeObject[] }> {
    const until = Date.now() + 30_000;
    for (;;) {
      try {
        return await this.kube.list<KubeObject>(apiVersionOf(kind), kind, this.ns);
      } catch (err) {
        if ((err as { status?: number }).status !== 429 || Date.now() > until) throw err;
        await sleep(250);
      }
    }
  }

  backupInvokersFor(): BackupInvoker[] {
    return [
      ...(this.objects.get('BackupConfiguration') ?? []),
      ...(this.objects.get('BackupBatch') ?? []),
    ] as unknown as BackupInvoker[];
  }
  restoreInvokersFor(): RestoreInvoker[] {
    return [
      ...(this.objects.get('RestoreSession') ?? []),
      ...(this.objects.get('RestoreBatch') ?? []),
    ] as unknown as RestoreInvoker[];
  }
  repository(namespace: string, name: string): Repository | undefined {
    if (namespace !== this.ns) return undefined;
    return (this.objects.get('Repository') ?? []).find((r) => (r.metadata as Obj).name === name) as
      Repository | undefined;
  }
}

function workload(kind: 'Deployment' | 'StatefulSet' | 'DaemonSet', name: string, ns: string): KubeObject {
  const template = {
    metadata: { labels: { app: name } },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'busybox:1.36',
          command: ['sleep', '3600'],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      ],
      volumes: [{ name: 'data', emptyDir: {} }],
    },
  };
  const spec: Obj = { selector: { matchLabels: { app: name } }, template };
  if (kind === 'Deployment') spec.replicas = 1;
  if (kind === 'StatefulSet')
    Object.assign(spec, { replicas: 2, serviceName: name, updateStrategy: { type: 'OnDelete' } });
  return { apiVersion: 'apps/v1', kind, metadata: { name, namespace: ns }, spec } as KubeObject;
}

function member(kind: string, name: string, alias: string): Obj {
  return {
    target: {
      alias,
      ref: { apiVersion: 'apps/v1', kind, name },
      volumeMounts: [{ name: 'data', mountPath: '/data' }],
      paths: ['/data'],
    },
  };
}

type Container = {
  name: string;
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string }>;
  securityContext?: Obj;
};
type PodSpec = {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Array<{ name: string; [k: string]: unknown }>;
};
const podSpec = (o: KubeObject): PodSpec => ((o as Obj).spec as { template: { spec: PodSpec } }).template.spec;
const sidecar = (o: KubeObject): Container | undefined => podSpec(o).containers.find((c) => c.name === 'stash');

t.test('admission webhook against the real kube-apiserver', async (t) => {
  // The app runs in this process: hook templates are checked by the engine hack/build-bins.sh built.
  process.env.STASH_TEMPLATE_WASM = templateWasm();
  const { kube, namespace: ns, kubectl, kubeconfigPath } = await useCluster(t);
  const dir = await mkdtemp(join(tmpdir(), 'stash-webhook-it-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const certs = await generateCerts({ dir });
  const index = new ListedIndex(kube, ns);
  const app = buildApp({
    invokers: index,
    inject: { image: AGENT_IMAGE, pushgatewayUrl: 'http://127.0.0.1:56789', useKubeapiserverFqdnForAks: false },
    tls: { certFile: certs.certFile, keyFile: certs.keyFile },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  let serving = true;
  t.teardown(async () => {
    if (serving) await app.close();
  });
  const port = (app.server.address() as { port: number }).port;

  const configName = `stash-ts-it-${ns}`;
  const configs = renderWebhookConfigurations({
    caPem: certs.caPem,
    url: { port },
    name: configName,
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
  });
  t.teardown(async () => {
    await kube.delete('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, configName);
    await kube.delete('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, configName);
  });
  for (const c of configs) await kube.create(c as unknown as KubeObject);

  // Repository (local backend) + one BackupBatch naming a Deployment, a StatefulSet and a DaemonSet.
  await kube.create({
    apiVersion: apiVersionOf('Repository'),
    kind: 'Repository',
    metadata: { name: 'local-repo', namespace: ns },
    spec: {
      backend: {
        local: { mountPath: '/safe/repo', hostPath: { path: '/tmp/stash-ts-it-repo' } },
        storageSecretName: 'local-secret',
      },
    },
  } as KubeObject);
  await kube.create({
    apiVersion: apiVersionOf('BackupBatch'),
    kind: 'BackupBatch',
    metadata: { name: 'app-backup', namespace: ns },
    spec: {
      repository: { name: 'local-repo' },
      schedule: '*/5 * * * *',
      members: [
        member('Deployment', 'wp', 'wp'),
        member('StatefulSet', 'db', 'db'),
        member('DaemonSet', 'logs', 'logs'),
      ],
      retentionPolicy: { name: 'keep-last-3', keepLast: 3, prune: true },
    },
  } as KubeObject);
  await index.refresh();

  // The apiserver picks webhook configurations up through an informer: probe with dry-run creates until both act.
  const until = Date.now() + 60_000;
  let probes = 0;
  for (;;) {
    probes++;
    const probe = await kube.create(workload('Deployment', 'wp', ns), { dryRun: true });
    const rejected = await kube
      .create(
        {
          apiVersion: apiVersionOf('Repository'),
          kind: 'Repository',
          metadata: { name: 'probe', namespace: ns },
          spec: { backend: { local: { mountPath: '/stash/x', emptyDir: {} } } },
        } as KubeObject,
        { dryRun: true },
      )
      .then(
        () => false,
        (err: Error) => /spec\.backend\.local\.mountPath/.test(err.message),
      );
    if (sidecar(probe) && rejected) break;
    if (Date.now() > until) throw new Error(`webhooks not active after ${probes} probes`);
    await sleep(200);
  }
  t.pass(`webhooks active after ${probes} probe(s)`);

  await t.test('Deployment gets the sidecar with the right args, env and mounts', async (t) => {
    const stored = await kube.create(workload('Deployment', 'wp', ns));
    const s = sidecar(stored);
    t.ok(s, 'stash container stored');
    t.same(s!.args, [
      'run-backup',
      '--invoker-name=app-backup',
      '--invoker-kind=BackupBatch',
      '--target-name=wp',
      `--target-namespace=${ns}`,
      '--target-kind=Deployment',
      '--enable-cache=true',
      '--max-connections=0',
      '--metrics-enabled=true',
      '--pushgateway-url=http://127.0.0.1:56789',
      '--use-kubeapiserver-fqdn-for-aks=false',
    ]);
    t.same(
      s!.env!.map((e) => e.name),
      ['NODE_NAME', 'POD_NAME', 'POD_NAMESPACE'],
    );
    t.same(s!.volumeMounts, [
      { name: 'stash-tmp-dir', mountPath: '/stash-tmp' },
      { name: 'data', mountPath: '/data' },
      { name: s!.volumeMounts![2]!.name, mountPath: '/safe/repo' },
    ]);
    t.match(s!.volumeMounts![2]!.name, /^stash-local-local-repo-/);
    const vols = podSpec(stored).volumes!.map((v) => v.name);
    t.ok(
      vols.includes('stash-tmp-dir') && vols.includes(s!.volumeMounts![2]!.name),
      'helper and local-backend volumes',
    );
    t.equal((stored.metadata!.annotations ?? {})['stash.appscode.com/last-applied-backup-invoker-kind'], 'BackupBatch');
    t.ok(
      ((stored as Obj).spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata
        .annotations['stash.appscode.com/last-applied-backup-invoker-hash'],
    );

    // Idempotent against what the apiserver stored: an unrelated update keeps the template as it is.
    const touched = await kube.patch<KubeObject>('apps/v1', 'Deployment', ns, 'wp', {
      metadata: { labels: { touched: '1' } },
    });
    t.same(podSpec(touched), podSpec(stored), 'second admission changes nothing');
    t.equal(
      touched.metadata!.generation,
      stored.metadata!.generation,
      'no new generation: the template did not change',
    );
  });

  await t.test('StatefulSet and DaemonSet likewise', async (t) => {
    const sts = await kube.create(workload('StatefulSet', 'db', ns));
    t.match(sidecar(sts)?.args, [
      'run-backup',
      '--invoker-name=app-backup',
      '--invoker-kind=BackupBatch',
      '--target-name=db',
      `--target-namespace=${ns}`,
      '--target-kind=StatefulSet',
    ]);
    t.equal(
      ((sts as Obj).spec as { updateStrategy: { type: string } }).updateStrategy.type,
      'RollingUpdate',
      'forced to roll',
    );
    const ds = await kube.create(workload('DaemonSet', 'logs', ns));
    t.match(sidecar(ds)?.args, [
      'run-backup',
      String,
      String,
      '--target-name=logs',
      `--target-namespace=${ns}`,
      '--target-kind=DaemonSet',
    ]);
    const other = await kube.create(workload('Deployment', 'not-a-member', ns));
    t.notOk(sidecar(other), 'a workload no invoker names is left alone');
  });

  await t.test('an updated BackupBatch reaches the workload on its next update', async (t) => {
    await kube.update<KubeObject>(apiVersionOf('BackupBatch'), 'BackupBatch', ns, 'app-backup', (bb) => {
      const m = ((bb as Obj).spec as { members: Obj[] }).members[0]!;
      m.tempDir = { disableCaching: true, sizeLimit: '512Mi' };
      m.runtimeSettings = { container: { env: [{ name: 'GOMAXPROCS', value: '1' }], nice: { adjustment: 10 } } };
      return bb;
    });
    await index.refresh();
    const updated = await kube.patch<KubeObject>('apps/v1', 'Deployment', ns, 'wp', {
      metadata: { labels: { touched: '2' } },
    });
    const s = sidecar(updated)!;
    t.ok(s.args!.includes('--enable-cache=false'));
    t.same(
      s.env!.map((e) => e.name),
      ['NODE_NAME', 'POD_NAME', 'POD_NAMESPACE', 'GOMAXPROCS', 'NICE_ADJUSTMENT'],
    );
    t.same(
      podSpec(updated).volumes!.find((v) => v.name === 'stash-tmp-dir'),
      { name: 'stash-tmp-dir', emptyDir: { sizeLimit: '512Mi' } },
    );
  });

  await t.test('RestoreBatch puts stash-init first', async (t) => {
    await kube.create({
      apiVersion: apiVersionOf('RestoreBatch'),
      kind: 'RestoreBatch',
      metadata: { name: 'app-restore', namespace: ns },
      spec: {
        repository: { name: 'local-repo' },
        members: [
          {
            target: {
              alias: 'wp',
              ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wp' },
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
              rules: [{ paths: ['/data'] }],
            },
          },
        ],
      },
    } as KubeObject);
    await index.refresh();
    await kube.update<KubeObject>('apps/v1', 'Deployment', ns, 'wp', (d) => {
      podSpec(d).initContainers = [{ name: 'setup', image: 'busybox:1.36', command: ['true'] } as Container];
      return d;
    });
    const stored = await kube.get<KubeObject>('apps/v1', 'Deployment', ns, 'wp');
    const init = podSpec(stored).initContainers!;
    t.same(
      init.map((c) => c.name),
      ['stash-init', 'setup'],
    );
    t.match(init[0]!.args, [
      'restore',
      '--invoker-kind=RestoreBatch',
      '--invoker-name=app-restore',
      '--target-name=wp',
    ]);
    t.match(init[0]!.securityContext, { runAsUser: 0, runAsGroup: 0 });
    t.ok(sidecar(stored), 'the backup sidecar stays');
  });

  await t.test('deleted invokers: the next update removes what they added', async (t) => {
    await kube.delete(apiVersionOf('BackupBatch'), 'BackupBatch', ns, 'app-backup');
    await index.refresh();
    const noBackup = await kube.patch<KubeObject>('apps/v1', 'Deployment', ns, 'wp', {
      metadata: { labels: { touched: '3' } },
    });
    t.notOk(sidecar(noBackup), 'sidecar removed');
    t.equal(podSpec(noBackup).initContainers![0]!.name, 'stash-init', 'restore init-container stays');
    t.notOk((noBackup.metadata!.annotations ?? {})['stash.appscode.com/last-applied-backup-invoker']);
    await kube.delete(apiVersionOf('RestoreBatch'), 'RestoreBatch', ns, 'app-restore');
    await index.refresh();
    const clean = await kube.patch<KubeObject>('apps/v1', 'Deployment', ns, 'wp', {
      metadata: { labels: { touched: '4' } },
    });
    t.same(
      podSpec(clean).initContainers!.map((c) => c.name),
      ['setup'],
    );
    t.same(
      podSpec(clean).volumes!.map((v) => v.name),
      ['data'],
      'helper volumes gone',
    );
    const ann = clean.metadata!.annotations ?? {};
    t.notOk(
      Object.keys(ann).some((k) => k.startsWith('stash.appscode.com/')),
      'our annotations gone',
    );
  });

  await t.test('validation: documented manifests pass, invalid ones are rejected naming the field', async (t) => {
    for (const doc of loadYaml('valid-batch.yaml')) {
      const obj = {
        ...doc,
        metadata: { ...(doc.metadata as Obj), name: `doc-${String((doc.metadata as Obj).name)}`, namespace: ns },
      } as KubeObject;
      await t.resolves(kube.create(obj, { dryRun: true }), `${String(doc.kind)} ${obj.metadata!.name}`);
    }
    for (const doc of loadYaml('invalid.yaml')) {
      const meta = doc.metadata as Obj;
      const expect = String((meta.annotations as Obj)['x-expect']);
      // Refs that name the fixtures' namespace explicitly must name this one.
      const obj = JSON.parse(
        JSON.stringify({ ...doc, metadata: { ...meta, namespace: ns } }).replaceAll(
          '"namespace":"demo"',
          `"namespace":"${ns}"`,
        ),
      ) as KubeObject;
      const err = await kube.create(obj, { dryRun: true }).then(
        () => undefined,
        (e: Error) => e,
      );
      t.ok(
        err && err.message.includes(expect),
        `${String(meta.name)} rejected naming ${expect}: ${err?.message ?? 'admitted'}`,
      );
    }
  });

  await t.test('operator manifests apply with server-side dry-run', async (t) => {
    const docs = ['operator.yaml', 'rbac.yaml', 'agent-rbac.yaml', 'webhook-configurations.yaml'].flatMap((f) =>
      parseAllDocuments(readFileSync(new URL(`../../manifests/webhook/${f}`, import.meta.url), 'utf8')).map(
        (d) => d.toJSON() as Obj,
      ),
    );
    // Namespaced objects go to this file's namespace: a dry-run Namespace does not exist for the objects after it.
    const text = docs
      .map((d) =>
        stringify(JSON.parse(JSON.stringify(d).replaceAll('"namespace":"stash-system"', `"namespace":"${ns}"`))),
      )
      .join('---\n');
    const file = join(dir, 'operator-manifests.yaml');
    await writeFile(file, text);
    const res = await execa(kubectl, ['--kubeconfig', kubeconfigPath, 'apply', '--dry-run=server', '-f', file], {
      reject: false,
    });
    t.equal(res.exitCode, 0, res.stderr);
    t.match(res.stdout, /clusterrole\.rbac\.authorization\.k8s\.io\/stash-ts-operator created \(server dry run\)/);
    t.match(
      res.stdout,
      /mutatingwebhookconfiguration\.admissionregistration\.k8s\.io\/stash-ts-operator created \(server dry run\)/,
    );
    t.match(res.stdout, /deployment\.apps\/stash-ts-operator created \(server dry run\)/);
  });

  await t.test('webhook server stopped: workloads still deploy, our kinds are refused', async (t) => {
    await kube.create({
      apiVersion: apiVersionOf('BackupConfiguration'),
      kind: 'BackupConfiguration',
      metadata: { name: 'late', namespace: ns },
      spec: {
        repository: { name: 'local-repo' },
        target: { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'late' }, paths: ['/data'] },
        retentionPolicy: { name: 'k', keepLast: 1, prune: true },
      },
    } as KubeObject);
    await index.refresh();
    await app.close();
    serving = false;
    const created = await kube.create(workload('Deployment', 'late', ns));
    t.ok(created.metadata!.uid, 'Deployment created (failurePolicy Ignore)');
    t.notOk(sidecar(created), 'no sidecar while the webhook is down');
    const refused = await kube
      .create({
        apiVersion: apiVersionOf('BackupBatch'),
        kind: 'BackupBatch',
        metadata: { name: 'refused', namespace: ns },
        spec: {
          repository: { name: 'local-repo' },
          members: [member('Deployment', 'late', 'late')],
          retentionPolicy: { name: 'k', keepLast: 1, prune: true },
        },
      } as KubeObject)
      .then(
        () => undefined,
        (e: Error) => e,
      );
    t.match(refused?.message, /failed calling webhook/, 'our kinds: failurePolicy Fail');
  });
});
