// The informer must outlive a kube-apiserver restart: this file runs its own private control plane
// (restarting the shared one would disturb every other test file) and restarts the apiserver mid-watch.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kube, type KubeObject } from '../../shared/kube/client.ts';
import { Informer } from '../../shared/kube/informer.ts';
import { restartApiServer } from '../world/controlplane.ts';
import { privateControlPlane } from '../world/harness.ts';
import { until } from '../support/until.ts';

const cp = privateControlPlane(t, 'informer');

t.test('informer sees events after kube-apiserver restarts mid-watch', async (t) => {
  const state = await cp.start({ withControllerManager: false, installCrds: false });
  const kube = Kube.load(state.kubeconfig);
  t.teardown(() => kube.close());
  const ns = 'informer-restart';
  await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });

  const seen: string[] = [];
  const inf = new Informer<KubeObject & { data?: Record<string, string> }>(kube, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    namespace: ns,
    backoffInitialMs: 100,
    backoffMaxMs: 1000,
  });
  inf.on('add', (o) => {
    seen.push(`add:${o.metadata?.name}`);
  });
  inf.on('update', (o) => {
    seen.push(`update:${o.metadata?.name}:${o.data?.v}`);
  });
  inf.on('delete', (o) => {
    seen.push(`delete:${o.metadata?.name}`);
  });
  inf.start();
  t.teardown(() => inf.stop());
  await inf.waitForSync();

  const cm = (name: string, v: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: ns },
    data: { v },
  });
  await kube.create(cm('before', '1'));
  await until('add before restart', () => seen.includes('add:before'));
  const listsBefore = inf.lists;

  await restartApiServer(cp.dir);

  await kube.create(cm('after', '1'));
  await kube.patch('v1', 'ConfigMap', ns, 'before', { data: { v: '2' } });
  await kube.delete('v1', 'ConfigMap', ns, 'after');
  await until(
    'events after restart',
    () => seen.includes('add:after') && seen.includes('update:before:2') && seen.includes('delete:after'),
  );
  t.ok(inf.lists > listsBefore, 'the informer relisted after losing its watch');
  t.equal(inf.get(ns, 'before')?.data?.v, '2', 'cache holds the latest object');
  t.equal(inf.get(ns, 'after'), undefined, 'cache dropped the deleted object');
});

t.test('informer relists on its interval and repairs its cache', async (t) => {
  const state = await cp.start({ withControllerManager: false, installCrds: false });
  const kube = Kube.load(state.kubeconfig);
  t.teardown(() => kube.close());
  const inf = new Informer<KubeObject>(kube, { apiVersion: 'v1', kind: 'Namespace', relistMs: 500 });
  inf.start();
  t.teardown(() => inf.stop());
  await inf.waitForSync();
  const first = inf.lists;
  await sleep(1800);
  t.ok(inf.lists >= first + 2, `relisted periodically (${inf.lists - first} times in 1.8s)`);
  t.ok(inf.get(undefined, 'default'), 'cache still has namespace default');
});

t.test('a transform decides what the cache keeps, for listed and watched objects alike', async (t) => {
  const state = await cp.start({ withControllerManager: false, installCrds: false });
  const kube = Kube.load(state.kubeconfig);
  t.teardown(() => kube.close());
  const ns = 'informer-transform';
  await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  type CM = KubeObject & { data?: Record<string, string> };
  const cm = (name: string, keep: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: ns, labels: { l: 'x' } },
    data: { keep, big: 'b'.repeat(10_000) },
  });
  await kube.create(cm('listed', '1'));

  const handed: CM[] = [];
  const inf = new Informer<CM>(kube, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    namespace: ns,
    transform: (o) => ({
      apiVersion: o.apiVersion,
      kind: o.kind,
      metadata: {
        name: o.metadata?.name,
        namespace: o.metadata?.namespace,
        resourceVersion: o.metadata?.resourceVersion,
      },
      data: { keep: o.data?.keep ?? '' },
    }),
  });
  const record = (o: CM) => {
    handed.push(o);
  };
  inf.on('add', record).on('update', record).on('delete', record);
  inf.start();
  t.teardown(() => inf.stop());
  await inf.waitForSync();
  await kube.create(cm('watched', '2'));
  await kube.patch('v1', 'ConfigMap', ns, 'listed', { data: { keep: '3' } });
  await until(
    'the watched add and the update',
    () => inf.get(ns, 'watched') !== undefined && inf.get(ns, 'listed')?.data?.keep === '3',
  );
  await kube.delete('v1', 'ConfigMap', ns, 'watched');
  await until('the delete', () => inf.get(ns, 'watched') === undefined);

  for (const name of ['listed']) {
    const o = inf.get(ns, name)!;
    t.same(o.data, { keep: '3' }, `${name}: only the kept field is cached`);
    t.equal(o.metadata?.labels, undefined, `${name}: labels were not kept`);
    t.equal(o.kind, 'ConfigMap', `${name}: list items get their kind before the transform sees them`);
  }
  t.ok(handed.length >= 4, `handlers saw the add (list), add (watch), update and delete (${handed.length} events)`);
  t.ok(
    handed.every((o) => o.data?.big === undefined && o.metadata?.labels === undefined),
    'handlers get the transformed objects only',
  );
  t.ok(
    handed.every((o) => !!o.metadata?.resourceVersion),
    'resourceVersion survives, so relists can diff',
  );
});
