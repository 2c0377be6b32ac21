import t from 'tap';
import { Heartbeat } from './heartbeat.ts';
import { Kube, type RequestOptions } from '../shared/kube/client.ts';
import { KubeError } from '../shared/errors.ts';
import { HEARTBEAT, heartbeatLeaseName } from '../shared/api/heartbeat.ts';

// An apiserver stand-in that keeps Leases in a map and answers patch/create the way the real one does.
class LeaseStore extends Kube {
  leases = new Map<string, { metadata: Record<string, unknown>; spec: Record<string, unknown> }>();
  calls: string[] = [];
  failNext = 0;
  constructor() {
    super({ server: 'http://127.0.0.1:1', source: { kind: 'in-cluster' } });
  }
  override withRetry(): Kube {
    return this;
  }
  override async request<T = unknown>(o: RequestOptions): Promise<T> {
    const method = o.method ?? 'GET';
    this.calls.push(method);
    if (this.failNext > 0) {
      this.failNext--;
      throw new KubeError(`${method} ${o.path}: connect ECONNREFUSED`, undefined);
    }
    const name = o.path.split('/').at(-1) ?? '';
    const body = o.body as { metadata?: { name?: string }; spec: Record<string, unknown> };
    if (method === 'PATCH') {
      const cur = this.leases.get(name);
      if (!cur) throw new KubeError('not found', 404);
      cur.spec = { ...cur.spec, ...body.spec };
      return cur as T;
    }
    if (method === 'POST') {
      const key = body.metadata?.name ?? '';
      if (this.leases.has(key)) throw new KubeError('already exists', 409);
      this.leases.set(key, structuredClone(body) as never);
      return body as T;
    }
    throw new Error(`unexpected ${method} ${o.path}`);
  }
}

// Time that moves only when the renewer sleeps: each sleep advances the clock by what it asked for.
function fakeTime(start = Date.parse('2026-12-01T10:00:00Z')) {
  let now = start;
  const sleeps: number[] = [];
  return {
    now: () => new Date(now),
    sleeps,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
      await new Promise((r) => setImmediate(r));
    },
  };
}

const session = {
  apiVersion: 'stash.appscode.com/v1beta1',
  kind: 'BackupSession',
  metadata: { name: 'app-1700000000', namespace: 'demo', uid: 'u-1' },
};

t.test('creates the Lease of the contract, then renews it every interval with the advancing time', async (t) => {
  const kube = new LeaseStore();
  const time = fakeTime();
  const beat = new Heartbeat({
    kube,
    sessionKind: 'BackupSession',
    session,
    host: 'wp-0',
    holder: 'wp-abc',
    now: time.now,
    sleep: time.sleep,
  }).start();
  while (beat.renewals < 4) await new Promise((r) => setImmediate(r));
  beat.stop();
  await beat.stopped();
  const name = heartbeatLeaseName('BackupSession', 'app-1700000000', 'wp-0');
  t.equal(beat.leaseName, name);
  const lease = kube.leases.get(name) as unknown as {
    metadata: Record<string, unknown>;
    spec: Record<string, unknown>;
  };
  t.match(lease.metadata, {
    name,
    namespace: 'demo',
    labels: { [HEARTBEAT.label.session]: 'app-1700000000', [HEARTBEAT.label.sessionKind]: 'BackupSession' },
    annotations: { [HEARTBEAT.hostAnnotation]: 'wp-0' },
    ownerReferences: [
      { apiVersion: 'stash.appscode.com/v1beta1', kind: 'BackupSession', name: 'app-1700000000', uid: 'u-1' },
    ],
  });
  t.equal(lease.spec.holderIdentity, 'wp-abc');
  t.equal(lease.spec.acquireTime, '2026-12-01T10:00:00.000000Z');
  t.ok(
    time.sleeps.length >= 3 && time.sleeps.every((ms) => ms === HEARTBEAT.renewIntervalMs),
    'sleeps one renew interval each time',
  );
  const renewals = beat.renewals;
  t.equal(
    lease.spec.renewTime,
    new Date(Date.parse('2026-12-01T10:00:00Z') + (renewals - 1) * HEARTBEAT.renewIntervalMs)
      .toISOString()
      .replace('Z', '000Z'),
    'the last renewal carries the time it was made',
  );
  t.same(
    kube.calls.slice(0, 3),
    ['PATCH', 'POST', 'PATCH'],
    'first a patch finds nothing and the Lease is created; later ones are patches only',
  );
  const before = kube.calls.length;
  await time.sleep(HEARTBEAT.renewIntervalMs * 5);
  t.equal(kube.calls.length, before, 'nothing renewed after stop');
  t.ok(kube.leases.has(name), 'the Lease is left for garbage collection with the session');
});

t.test('a failed renewal is logged and the next interval renews; a deleted Lease is created again', async (t) => {
  const kube = new LeaseStore();
  const time = fakeTime();
  const warnings: string[] = [];
  const log = { warn: (_o: unknown, m: string) => warnings.push(m) } as never;
  kube.failNext = 1;
  const beat = new Heartbeat({
    kube,
    sessionKind: 'RestoreBatch',
    session: { ...session, kind: 'RestoreBatch' },
    host: 'db',
    holder: 'p',
    log,
    now: time.now,
    sleep: time.sleep,
  }).start();
  while (beat.renewals < 1) await new Promise((r) => setImmediate(r));
  t.same(warnings, ['heartbeat renewal failed; trying again next interval']);
  kube.leases.clear();
  const n = beat.renewals;
  while (beat.renewals < n + 2) await new Promise((r) => setImmediate(r));
  beat.stop();
  await beat.stopped();
  t.equal(kube.leases.size, 1, 'created again');
  const again = [...kube.leases.values()][0]?.metadata as { labels?: Record<string, string> } | undefined;
  t.equal(again?.labels?.[HEARTBEAT.label.sessionKind], 'RestoreBatch');
});

t.test('a Lease that appears between the patch and the create is renewed, not an error', async (t) => {
  const kube = new LeaseStore();
  const time = fakeTime();
  const beat = new Heartbeat({
    kube,
    sessionKind: 'BackupSession',
    session,
    host: 'h',
    holder: 'p',
    now: time.now,
    sleep: time.sleep,
  });
  const name = beat.leaseName;
  const realRequest = kube.request.bind(kube);
  let raced = false;
  kube.request = async <T>(o: RequestOptions): Promise<T> => {
    if (o.method === 'POST' && !raced) {
      raced = true;
      kube.leases.set(name, { metadata: { name }, spec: { holderIdentity: 'old' } });
    }
    return await realRequest<T>(o);
  };
  await beat.renew();
  t.equal(kube.leases.get(name)?.spec.holderIdentity, 'p');
});
