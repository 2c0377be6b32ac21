// The sidecar's resync (issue #14.1): every RESYNC interval it looks again at each session still Running in which
// its host has not finished, even when nothing about the session changed (same resourceVersion, so neither a watch
// event nor a relist would report it), and stops once its host has reported. The apiserver is a stand-in that
// serves one BackupSession and its BackupBatch; the interval is driven by node's mock timers.
import t from 'tap';
import { mock } from 'node:test';
import { Kube, type RequestOptions, type WatchEvent } from '../shared/kube/client.ts';
import { createLogger } from '../shared/log.ts';
import type { AgentContext } from './common.ts';
import { RESYNC_MS, Sidecar } from './sidecar.ts';

const NS = 'shop';
const ref = (kind: string, name: string) => ({ apiVersion: 'apps/v1', kind, name, namespace: NS });

function session(stats?: Array<{ hostname: string; phase: string }>) {
  return {
    apiVersion: 'stash.appscode.com/v1beta1',
    kind: 'BackupSession',
    // One resourceVersion throughout: the cached copy never changes, whatever the stored one says.
    metadata: { name: 'app-1', namespace: NS, resourceVersion: '7', uid: 'u1' },
    spec: { invoker: { apiGroup: 'stash.appscode.com', kind: 'BackupBatch', name: 'app' } },
    status: {
      phase: 'Running',
      targets: [
        { ref: ref('Deployment', 'web'), totalHosts: 1, phase: 'Running' },
        { ref: ref('StatefulSet', 'db'), totalHosts: 1, ...(stats ? { stats } : {}) },
      ],
    },
  };
}

const batch = {
  apiVersion: 'stash.appscode.com/v1beta1',
  kind: 'BackupBatch',
  metadata: { name: 'app', namespace: NS },
  spec: {
    executionOrder: 'Sequential',
    repository: { name: 'repo' },
    members: [{ target: { ref: ref('Deployment', 'web') } }, { target: { ref: ref('StatefulSet', 'db') } }],
  },
};

class Apiserver extends Kube {
  stored = session();
  sessionReads = 0;
  constructor() {
    super({ server: 'http://127.0.0.1:1', source: { kind: 'in-cluster' } });
  }
  override withRetry(): Kube {
    return this;
  }
  override async request<T = unknown>(o: RequestOptions): Promise<T> {
    if ((o.method ?? 'GET') !== 'GET') throw new Error(`unexpected ${o.method} ${o.path}`);
    if (o.path.endsWith('/backupsessions')) return { items: [session()], metadata: { resourceVersion: '7' } } as T;
    if (o.path.endsWith('/backupsessions/app-1')) {
      this.sessionReads++;
      return structuredClone(this.stored) as T;
    }
    if (o.path.endsWith('/backupbatches/app')) return structuredClone(batch) as T;
    throw new Error(`unexpected GET ${o.path}`);
  }
  // A watch that never brings an event (the session does not change) and ends when stopped.
  override async *watch<T>(_path: string, _q: unknown, signal?: AbortSignal): AsyncGenerator<WatchEvent<T>> {
    const events: Array<WatchEvent<T>> = [];
    await new Promise<void>((resolve) => {
      if (signal?.aborted) resolve();
      else signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    yield* events;
  }
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

t.test(
  'every resync re-considers a Running session its host has not finished, whatever its resourceVersion',
  async (t) => {
    mock.timers.enable({ apis: ['setInterval'] });
    t.teardown(() => mock.timers.reset());
    const kube = new Apiserver();
    const ctx = {
      kube,
      log: createLogger({ level: 'silent', name: 'sidecar-test' }),
      namespace: NS,
      podName: 'db-0',
      nodeName: 'node',
      podOrdinal: '0',
      invokerKind: 'BackupBatch',
      invokerName: 'app',
      targetKind: 'StatefulSet',
      targetName: 'db',
      targetNamespace: NS,
      hostOverride: undefined,
      enableCache: false,
      maxConnections: 0,
      resticBinary: 'restic',
      tmpDir: '/tmp',
      isolateHostname: false,
      lockWaitMs: 1_000,
      backendTimeoutMs: 1_000,
    } satisfies AgentContext;
    const stop = new AbortController();
    const sidecar = new Sidecar(
      ctx,
      async () => {
        throw new Error('no backup may start: member 1 is still running');
      },
      'db-0',
      batch as never,
    );
    const running = sidecar.run(stop.signal);
    t.teardown(async () => {
      stop.abort();
      await running;
    });
    await t.resolves(
      (async () => {
        while (kube.sessionReads < 1) await settle();
      })(),
    );
    t.equal(kube.sessionReads, 1, 'the session is looked at once when it appears (waiting for member 0 to finish)');

    mock.timers.tick(RESYNC_MS - 1);
    await settle();
    t.equal(kube.sessionReads, 1, 'nothing changed and the interval has not passed: not looked at again');
    mock.timers.tick(1);
    await settle();
    t.equal(kube.sessionReads, 2, 'the resync looks at it again although its resourceVersion is the same');
    mock.timers.tick(RESYNC_MS);
    await settle();
    t.equal(kube.sessionReads, 3, 'and again at the next resync, while its host has not finished');

    // The stored session now says this host has reported; the cached copy (same resourceVersion) does not.
    kube.stored = session([{ hostname: 'db-0', phase: 'Succeeded' }]);
    mock.timers.tick(RESYNC_MS);
    await settle();
    t.equal(kube.sessionReads, 4, 'the resync reads it once more and learns the host has finished');
    mock.timers.tick(RESYNC_MS * 3);
    await settle();
    t.equal(kube.sessionReads, 4, 'a session its host has finished is not looked at again');
  },
);
