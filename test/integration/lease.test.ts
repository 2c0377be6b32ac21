import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { LeaseLock, runLeaderElection } from '../../shared/kube/lease.ts';
import { useCluster } from '../world/harness.ts';

t.test('one holder at a time; release hands over at once; a silent holder expires', async (t) => {
  const { kube, namespace } = await useCluster(t);
  const opts = {
    namespace,
    name: 'lock-deployment-web-backup',
    leaseDurationMs: 2000,
    renewDeadlineMs: 1500,
    retryPeriodMs: 200,
  };
  const a = new LeaseLock(kube, { ...opts, identity: 'pod-a' });
  const b = new LeaseLock(kube, { ...opts, identity: 'pod-b' });

  t.ok(await a.tryAcquireOrRenew(), 'a takes the free lease');
  t.notOk(await b.tryAcquireOrRenew(), 'b cannot take a held lease');
  t.ok(await a.tryAcquireOrRenew(), 'a renews');

  await a.release();
  const t0 = Date.now();
  await b.acquire();
  t.ok(Date.now() - t0 < 1000, 'after release b acquires without waiting for expiry');

  // b stops renewing (as if its pod died): a gets it only after the lease duration has passed.
  const t1 = Date.now();
  await a.acquire();
  const waited = Date.now() - t1;
  t.ok(waited >= 1500, `a waited for expiry (${waited} ms)`);
});

t.test('runLeaderElection: the second candidate leads when the first stops', async (t) => {
  const { kube, namespace } = await useCluster(t);
  const opts = { namespace, name: 'operator-leader', leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 200 };
  const events: string[] = [];
  const stopA = new AbortController();
  const stopB = new AbortController();
  const runA = runLeaderElection(
    new LeaseLock(kube, { ...opts, identity: 'a' }),
    {
      onStartedLeading: () => {
        events.push('a');
      },
    },
    stopA.signal,
  );
  await sleep(500);
  const runB = runLeaderElection(
    new LeaseLock(kube, { ...opts, identity: 'b' }),
    {
      onStartedLeading: () => {
        events.push('b');
      },
    },
    stopB.signal,
  );
  await sleep(1000);
  t.same(events, ['a'], 'only a leads while it runs');
  stopA.abort();
  await runA;
  const end = Date.now() + 5000;
  while (!events.includes('b') && Date.now() < end) await sleep(50);
  t.same(events, ['a', 'b'], 'b took over after a stopped');
  stopB.abort();
  await runB;
});
