// Test support for the operator's integration tests (test/integration/operator*.test.ts): an in-process
// operator scoped to one namespace, fixtures, and the agent's part played by the test (host stats written into
// status exactly as docs/api.md §15 describes). Not imported by production code.
import { apiVersionOf } from '../../shared/api/index.ts';
import { HEARTBEAT, heartbeatLeaseName, type HeartbeatSessionKind } from '../../shared/api/heartbeat.ts';
import type { BackupSessionStatus, RestoreBatchStatus, TargetRef } from '../../shared/api/index.ts';
import { operatorConfig } from '../../shared/config.ts';
import type { Kube, KubeObject } from '../../shared/kube/client.ts';
import { Informer } from '../../shared/kube/informer.ts';
import { createLogger } from '../../shared/log.ts';
import { mergeBackupSessionStatus, mergeRestoreBatchStatus } from '../../shared/status/index.ts';
import { InformerInvokerIndex } from '../../webhook/invoker-index.ts';
import { StashMetrics } from '../../webhook/metrics.ts';
import type { Tuning } from '../../webhook/controllers/deps.ts';
import { startControllers } from '../../webhook/controllers/index.ts';
import { until } from './until.ts';
import { templateWasm } from '../backends/bins.ts';

export { until };

interface Teardown {
  teardown(fn: () => unknown): void;
}

export const AGENT_IMAGE = 'stash-ts/agent:test';

export async function startOperator(
  t: Teardown,
  kube: Kube,
  namespace: string,
  tuning: Partial<Tuning> = {},
): Promise<{ metrics: StashMetrics; index: InformerInvokerIndex }> {
  const log = createLogger({ level: process.env.STASH_TEST_LOG ?? 'silent', name: 'operator-test' });
  // Global hooks render in this process, on the engine hack/build-bins.sh built.
  process.env.STASH_TEMPLATE_WASM = templateWasm();
  const config = operatorConfig({
    STASH_AGENT_IMAGE: AGENT_IMAGE,
    POD_NAME: 'stash-operator-test',
    STASH_NAMESPACE: namespace,
    STASH_LEADER_ELECTION: 'false',
  });
  const index = new InformerInvokerIndex(kube, log).start();
  await index.waitForSync();
  const ac = new AbortController();
  const metrics = new StashMetrics();
  await startControllers({ kube, log, config, index, namespace, metrics, tuning }, ac.signal);
  t.teardown(async () => {
    ac.abort();
    await index.stop();
  });
  return { metrics, index };
}

/** Watches objects of one kind in the namespace and resolves when a predicate on one of them holds. */
export class Watcher<T extends KubeObject> {
  readonly inf: Informer<T>;
  readonly #ns: string;
  #waiters: Array<{ name: string; pred: (o: T) => boolean; resolve: (o: T) => void }> = [];

  constructor(kube: Kube, apiVersion: string, kind: string, namespace: string) {
    this.inf = new Informer<T>(kube, { apiVersion, kind, namespace });
    this.#ns = namespace;
    const check = (o: T): void => {
      for (const w of [...this.#waiters]) {
        if (w.name === o.metadata?.name && w.pred(o)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(o);
        }
      }
    };
    this.inf.on('add', check);
    this.inf.on('update', check);
  }

  async start(t: Teardown): Promise<this> {
    this.inf.start();
    t.teardown(() => this.inf.stop());
    await this.inf.waitForSync();
    return this;
  }

  async until(name: string, what: string, pred: (o: T) => boolean, ms = 30_000): Promise<T> {
    const now = this.inf.get(this.#ns, name);
    if (now && pred(now)) return now;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        new Promise<T>((resolve) => this.#waiters.push({ name, pred, resolve })),
        new Promise<T>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `timed out waiting for ${what} on ${name}: ${JSON.stringify(this.inf.list().find((o) => o.metadata?.name === name)?.['status'] ?? null)}`,
                ),
              ),
            ms,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

export async function createRepository(kube: Kube, namespace: string, name = 'repo'): Promise<void> {
  await kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `${name}-secret`, namespace },
    stringData: { RESTIC_PASSWORD: 'not-a-real-password' },
  });
  await kube.create({
    apiVersion: apiVersionOf('Repository'),
    kind: 'Repository',
    metadata: { name, namespace },
    spec: {
      backend: {
        storageSecretName: `${name}-secret`,
        local: { mountPath: '/safe/data', hostPath: { path: '/tmp/stash-ts-operator-test' } },
      },
    },
  });
}

export async function createDeployment(kube: Kube, namespace: string, name: string, replicas = 1): Promise<void> {
  await kube.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
      },
    },
  });
}

export function deploymentRef(namespace: string, name: string): TargetRef {
  return { apiVersion: 'apps/v1', kind: 'Deployment', name, namespace };
}

export function backupBatch(
  namespace: string,
  name: string,
  members: string[],
  extra: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: apiVersionOf('BackupBatch'),
    kind: 'BackupBatch',
    metadata: { name, namespace },
    spec: {
      repository: { name: 'repo' },
      schedule: '*/30 * * * *',
      retentionPolicy: { name: 'keep-5', keepLast: 5, prune: true },
      members: members.map((m) => ({
        target: { alias: m, ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: m }, paths: ['/data'] },
      })),
      ...extra,
    },
  };
}

export function backupSession(namespace: string, name: string, invokerKind: string, invokerName: string): KubeObject {
  return {
    apiVersion: apiVersionOf('BackupSession'),
    kind: 'BackupSession',
    metadata: {
      name,
      namespace,
      labels: { 'stash.appscode.com/invoker-type': invokerKind, 'stash.appscode.com/invoker-name': invokerName },
    },
    spec: { invoker: { apiGroup: 'stash.appscode.com', kind: invokerKind, name: invokerName } },
  };
}

export type SessionObj = KubeObject & { status?: BackupSessionStatus };
export type RestoreBatchObj = KubeObject & { status?: RestoreBatchStatus };

/**
 * The sidecar agent's status write (docs/api.md §15 step 7): upsert this host's stats into its target, phases recomputed in
 * the same read-modify-write with conflict retry. The test plays the agent because none runs here (no kubelet).
 */
export async function agentReportsBackup(
  kube: Kube,
  namespace: string,
  session: string,
  ref: TargetRef,
  host: string,
  phase: 'Succeeded' | 'Failed',
  error?: string,
): Promise<void> {
  await kube.update<SessionObj>(
    apiVersionOf('BackupSession'),
    'BackupSession',
    namespace,
    session,
    (cur) => {
      cur.status = mergeBackupSessionStatus(
        cur.status,
        {
          targets: [{ ref, stats: [{ hostname: host, phase, duration: '1.25s', ...(error ? { error } : {}) }] }],
        },
        { namespace, creationTimestamp: cur.metadata?.creationTimestamp },
      );
      return cur;
    },
    { subresource: 'status' },
  );
}

/** The restore init-container's status write (docs/api.md §16.2 step 7), played by the test. */
export async function agentReportsRestore(
  kube: Kube,
  namespace: string,
  batch: string,
  ref: TargetRef,
  host: string,
  phase: 'Succeeded' | 'Failed',
): Promise<void> {
  await kube.update<RestoreBatchObj>(
    apiVersionOf('RestoreBatch'),
    'RestoreBatch',
    namespace,
    batch,
    (cur) => {
      cur.status = mergeRestoreBatchStatus(
        cur.status,
        { members: [{ ref, stats: [{ hostname: host, phase, duration: '2s' }] }] },
        { namespace, creationTimestamp: cur.metadata?.creationTimestamp },
      );
      return cur;
    },
    { subresource: 'status' },
  );
}

export function podTemplateContainers(
  o: KubeObject | null,
  key: 'containers' | 'initContainers' = 'containers',
): string[] {
  const spec = (o as { spec?: { template?: { spec?: Record<string, Array<{ name: string }> | undefined> } } } | null)
    ?.spec;
  return (spec?.template?.spec?.[key] ?? []).map((c) => c.name);
}

/**
 * One heartbeat renewal of a host, as a working agent writes it (shared/api/heartbeat.ts): the Lease named by
 * heartbeatLeaseName, labelled with the session, the host in an annotation, owned by the session. Played by the
 * test where no agent runs; `at` back-dates the renewal.
 */
export async function agentHeartbeat(
  kube: Kube,
  namespace: string,
  kind: HeartbeatSessionKind,
  session: KubeObject,
  host: string,
  at = new Date(),
): Promise<void> {
  const name = heartbeatLeaseName(kind, session.metadata?.name ?? '', host);
  const renewTime = at.toISOString().replace(/Z$/, '000Z');
  const body = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name,
      namespace,
      labels: { [HEARTBEAT.label.session]: session.metadata?.name ?? '', [HEARTBEAT.label.sessionKind]: kind },
      annotations: { [HEARTBEAT.hostAnnotation]: host },
      ownerReferences: [
        {
          apiVersion: session.apiVersion ?? '',
          kind,
          name: session.metadata?.name ?? '',
          uid: session.metadata?.uid ?? '',
        },
      ],
    },
    spec: { holderIdentity: host, leaseDurationSeconds: HEARTBEAT.livenessBoundMs / 1000, renewTime },
  };
  const cur = await kube.getOrNull<KubeObject>('coordination.k8s.io/v1', 'Lease', namespace, name);
  if (cur)
    await kube.replace({ ...body, metadata: { ...body.metadata, resourceVersion: cur.metadata?.resourceVersion } });
  else await kube.create(body);
}
