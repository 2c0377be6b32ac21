import t from 'tap';
import fastJsonPatch from 'fast-json-patch';
import { ANNOTATION } from '../../shared/api/constants.ts';
import {
  backupBatch,
  backupConfiguration,
  daemonSet,
  deployment,
  localRepository,
  repository,
  restoreBatch,
  statefulSet,
} from '../../test/fixtures/reviews/fixtures.ts';
import { mutateWorkload, migrateRestoreRules, UNTARGETED, type Invokers } from './mutate.ts';
import type { InjectOptions } from './inject.ts';
import type { BackupInvoker, Obj, Repository, RestoreInvoker } from './types.ts';

const OPTS: InjectOptions = {
  image: 'stash-ts/agent:0.1.0',
  pushgatewayUrl: 'http://stash-ts-operator.stash-system.svc:56789',
  useKubeapiserverFqdnForAks: true,
};

function invokers(backup: Obj[] = [], restore: Obj[] = [], repos: Obj[] = [repository()]): Invokers {
  return {
    backup: backup as unknown as BackupInvoker[],
    restore: restore as unknown as RestoreInvoker[],
    repository: (ns, name) =>
      repos.find((r) => (r.metadata as Obj).namespace === ns && (r.metadata as Obj).name === name) as
        Repository | undefined,
  };
}

function mutated(workload: Obj, inv: Invokers, opts = OPTS): Obj {
  const r = mutateWorkload(workload, inv, opts);
  if ('skip' in r) throw new Error(`unexpected skip: ${r.skip}`);
  return r.mutated;
}

type PodSpec = { containers: Obj[]; initContainers?: Obj[]; volumes?: Obj[] };
const pod = (w: Obj): PodSpec => ((w.spec as Obj).template as Obj).spec as PodSpec;
const tmplAnn = (w: Obj): Record<string, string> =>
  (((w.spec as Obj).template as Obj).metadata as Obj).annotations as Record<string, string>;
const ann = (w: Obj): Record<string, string> => (w.metadata as Obj).annotations as Record<string, string>;
const byName = (list: Obj[] | undefined, name: string): Obj | undefined => list?.find((c) => c.name === name);

t.test('sidecar injected into a Deployment per docs/api.md §13.2', async (t) => {
  const input = deployment();
  const before = structuredClone(input);
  const out = mutated(input, invokers([backupBatch()]));
  t.same(input, before, 'input is not modified');
  const sidecar = byName(pod(out).containers, 'stash')!;
  t.ok(sidecar, 'stash container added');
  t.equal(pod(out).containers.at(-1), sidecar, 'appended after the app containers');
  t.equal(sidecar.image, OPTS.image);
  t.same(sidecar.args, [
    'run-backup',
    '--invoker-name=wordpress-backup',
    '--invoker-kind=BackupBatch',
    '--target-name=wordpress',
    '--target-namespace=demo',
    '--target-kind=Deployment',
    '--enable-cache=false',
    '--max-connections=7',
    '--metrics-enabled=true',
    '--pushgateway-url=http://stash-ts-operator.stash-system.svc:56789',
    '--use-kubeapiserver-fqdn-for-aks=true',
  ]);
  t.same(sidecar.env, [
    { name: 'NODE_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } },
    { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
    { name: 'EXTRA', value: '1' },
    { name: 'NICE_ADJUSTMENT', value: '5' },
    { name: 'IONICE_CLASS', value: '2' },
    { name: 'IONICE_CLASS_DATA', value: '4' },
  ]);
  t.same(sidecar.volumeMounts, [
    { name: 'stash-tmp-dir', mountPath: '/stash-tmp' },
    { name: 'data', mountPath: '/var/www/html' },
  ]);
  t.same(byName(pod(out).volumes, 'stash-tmp-dir'), {
    name: 'stash-tmp-dir',
    emptyDir: { medium: 'Memory', sizeLimit: '1Gi' },
  });
  t.match(tmplAnn(out)[ANNOTATION.lastAppliedBackupInvokerHash], /^[0-9a-f]{16}$/);
  t.equal(ann(out)[ANNOTATION.lastAppliedBackupInvokerKind], 'BackupBatch');
  const last = JSON.parse(ann(out)[ANNOTATION.lastAppliedBackupInvoker]!);
  t.equal(last.kind, 'BackupBatch');
  t.equal(last.metadata.name, 'wordpress-backup');
  t.notOk(last.status, 'no status in the annotation');
  t.equal(ann(out)['deployment.kubernetes.io/revision'], '1', 'existing annotations kept');
});

t.test('admitting the already-mutated object changes nothing', async (t) => {
  for (const w of [deployment(), statefulSet(), daemonSet()]) {
    const inv = invokers([backupBatch()], [restoreBatch()]);
    const once = mutated(w, inv);
    const r = mutateWorkload(once, inv, OPTS);
    const again = 'skip' in r ? once : r.mutated;
    t.same(fastJsonPatch.compare(once, again), [], `${String(w.kind)}: empty patch on the second admission`);
  }
});

t.test('fields the apiserver defaults do not count as drift', async (t) => {
  const inv = invokers([backupBatch()]);
  const once = mutated(deployment(), inv);
  // What the apiserver stores: defaults added to probes, volumes and so on.
  const stored = structuredClone(once);
  const side = byName(pod(stored).containers, 'stash')!;
  (side as Obj).ports = [];
  const vol = byName(pod(stored).volumes, 'stash-tmp-dir')!;
  (vol.emptyDir as Obj).extra = 'defaulted';
  const r = mutateWorkload(stored, inv, OPTS);
  const again = 'skip' in r ? stored : r.mutated;
  t.same(fastJsonPatch.compare(stored, again), []);
});

t.test('a sidecar removed by an update is put back', async (t) => {
  const inv = invokers([backupBatch()]);
  const once = mutated(deployment(), inv);
  const stripped = structuredClone(once);
  pod(stripped).containers = pod(stripped).containers.filter((c) => c.name !== 'stash');
  const again = mutated(stripped, inv);
  t.ok(byName(pod(again).containers, 'stash'));
  t.same(again, once);
});

t.test('StatefulSet and DaemonSet get the sidecar and a rolling update strategy', async (t) => {
  const sts = mutated(statefulSet(), invokers([backupBatch()]));
  t.same((sts.spec as Obj).updateStrategy, { type: 'RollingUpdate' });
  t.match(byName(pod(sts).containers, 'stash')!.args, [
    'run-backup',
    '--invoker-name=wordpress-backup',
    '--invoker-kind=BackupBatch',
    '--target-name=mysql',
    '--target-namespace=demo',
    '--target-kind=StatefulSet',
  ]);
  t.same(byName(pod(sts).containers, 'stash')!.volumeMounts, [
    { name: 'stash-tmp-dir', mountPath: '/stash-tmp' },
    { name: 'data', mountPath: '/var/lib/mysql' },
  ]);
  t.same(
    byName(pod(sts).volumes, 'stash-tmp-dir'),
    { name: 'stash-tmp-dir', emptyDir: {} },
    'no tempDir: plain emptyDir',
  );
  t.match(byName(pod(sts).containers, 'stash')!.args, [
    'run-backup',
    String,
    String,
    String,
    String,
    String,
    '--enable-cache=true',
  ]);

  const ds = mutated(daemonSet(), invokers([backupBatch()]));
  t.same((ds.spec as Obj).updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 1 } });
  t.match(byName(pod(ds).containers, 'stash')!.args, [
    'run-backup',
    String,
    String,
    '--target-name=logs',
    '--target-namespace=demo',
    '--target-kind=DaemonSet',
  ]);
});

t.test('paused never changes the pod template', async (t) => {
  const running = mutated(deployment(), invokers([backupBatch()]));
  const paused = backupBatch('wordpress-backup', 'demo', { paused: true });
  const out = mutated(deployment(), invokers([paused]));
  t.same((out.spec as Obj).template, (running.spec as Obj).template);
  const again = mutateWorkload(running, invokers([paused]), OPTS);
  const after = 'skip' in again ? running : again.mutated;
  t.same(
    (after.spec as Obj).template,
    (running.spec as Obj).template,
    'pausing an existing invoker keeps the template',
  );
});

t.test('an invoker change updates the sidecar and its hash', async (t) => {
  const once = mutated(deployment(), invokers([backupBatch()]));
  const changed = backupBatch();
  ((changed.spec as Obj).members as Obj[])[0]!.tempDir = { disableCaching: false };
  const next = mutated(once, invokers([changed]));
  t.match(byName(pod(next).containers, 'stash')!.args, [
    'run-backup',
    String,
    String,
    String,
    String,
    String,
    '--enable-cache=true',
  ]);
  t.same(byName(pod(next).volumes, 'stash-tmp-dir'), { name: 'stash-tmp-dir', emptyDir: {} });
  t.not(tmplAnn(next)[ANNOTATION.lastAppliedBackupInvokerHash], tmplAnn(once)[ANNOTATION.lastAppliedBackupInvokerHash]);
  t.equal(pod(next).containers.filter((c) => c.name === 'stash').length, 1, 'replaced, not duplicated');
});

t.test('removal when no invoker targets the workload any more (docs/api.md §13.4)', async (t) => {
  const original = deployment();
  const once = mutated(original, invokers([backupBatch()]));
  const r = mutateWorkload(once, invokers([]), OPTS);
  if ('skip' in r) return t.fail(r.skip);
  t.notOk(byName(pod(r.mutated).containers, 'stash'));
  t.notOk(byName(pod(r.mutated).volumes, 'stash-tmp-dir'), 'helper volume removed');
  t.same(r.mutated, original, 'back to exactly the original object');
  t.same(r.actions, ['backup:removed']);

  const deleting = backupBatch();
  (deleting.metadata as Obj).deletionTimestamp = '2026-11-23T13:00:00Z';
  const r2 = mutateWorkload(once, invokers([deleting]), OPTS);
  t.ok(!('skip' in r2) && !byName(pod(r2.mutated).containers, 'stash'), 'an invoker being deleted no longer counts');

  const other = mutateWorkload(deployment(), invokers([]), OPTS);
  t.match(other, { skip: /no invoker/ }, 'untouched workloads are skipped');
});

t.test('job-model members and other drivers are not injected', async (t) => {
  const bc = backupConfiguration('bc', 'demo', {
    ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wordpress' },
  });
  (bc.spec as Obj).task = { name: 'custom-task' };
  t.match(mutateWorkload(deployment(), invokers([bc]), OPTS), { skip: String });
  const vs = backupConfiguration();
  (vs.spec as Obj).driver = 'VolumeSnapshotter';
  t.match(mutateWorkload(deployment(), invokers([vs]), OPTS), { skip: String });
  const elsewhere = backupConfiguration('bc2', 'demo', {
    ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wordpress', namespace: 'other' },
  });
  t.match(
    mutateWorkload(deployment(), invokers([elsewhere]), OPTS),
    { skip: String },
    'a ref to another namespace does not match',
  );
});

t.test('newest backup invoker wins', async (t) => {
  const older = backupConfiguration('older');
  (older.metadata as Obj).creationTimestamp = '2026-01-01T00:00:00Z';
  const newer = backupConfiguration('newer');
  (newer.metadata as Obj).creationTimestamp = '2026-06-01T00:00:00Z';
  const out = mutated(deployment(), invokers([older, newer]));
  t.match(byName(pod(out).containers, 'stash')!.args, [
    'run-backup',
    '--invoker-name=newer',
    '--invoker-kind=BackupConfiguration',
  ]);
});

t.test(
  "restore init-container goes first, with the member's securityContext as given (docs/api.md §13.3, §13.5)",
  async (t) => {
    const w = deployment();
    pod(w).initContainers = [{ name: 'setup', image: 'busybox' }];
    const rb = restoreBatch();
    const member = ((rb.spec as Obj).members as Obj[])[0]!;
    member.runtimeSettings = { container: { securityContext: { runAsGroup: 1000, readOnlyRootFilesystem: true } } };
    const out = mutated(w, invokers([backupBatch()], [rb]));
    const init = pod(out).initContainers!;
    t.equal(init[0]!.name, 'stash-init');
    t.equal(init[1]!.name, 'setup');
    t.same(init[0]!.args, [
      'restore',
      '--invoker-kind=RestoreBatch',
      '--invoker-name=wordpress-restore',
      '--target-name=wordpress',
      '--target-namespace=demo',
      '--target-kind=Deployment',
      '--enable-cache=true',
      '--max-connections=7',
      '--metrics-enabled=true',
      '--pushgateway-url=http://stash-ts-operator.stash-system.svc:56789',
      '--use-kubeapiserver-fqdn-for-aks=true',
    ]);
    t.same(
      init[0]!.securityContext,
      { runAsGroup: 1000, readOnlyRootFilesystem: true },
      'a given securityContext is used as it is',
    );
    t.ok(byName(pod(out).containers, 'stash'), 'backup sidecar too');
    t.equal(ann(out)[ANNOTATION.lastAppliedRestoreInvokerKind], 'RestoreBatch');
    t.ok(tmplAnn(out)[ANNOTATION.lastAppliedRestoreInvokerHash]);

    // stash-init somewhere else is moved to the front.
    const shuffled = structuredClone(out);
    pod(shuffled).initContainers = [init[1]!, init[0]!];
    const again = mutated(shuffled, invokers([backupBatch()], [rb]));
    t.same(
      pod(again).initContainers!.map((c) => c.name),
      ['stash-init', 'setup'],
    );

    // Restore invoker gone: the init container goes, the sidecar and the helper volume stay.
    const removed = mutated(out, invokers([backupBatch()], []));
    t.same(
      pod(removed).initContainers!.map((c) => c.name),
      ['setup'],
    );
    t.ok(byName(pod(removed).volumes, 'stash-tmp-dir'), 'tmp dir still used by the sidecar');
    t.notOk(ann(removed)[ANNOTATION.lastAppliedRestoreInvoker]);
  },
);

t.test(
  'restricted Pod Security by default; root only when the pod or the member asks (docs/api.md §13.5)',
  async (t) => {
    const restricted = {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    };
    const out = mutated(deployment(), invokers([backupBatch()], [restoreBatch()]));
    t.same(byName(pod(out).containers, 'stash')!.securityContext, restricted, 'sidecar');
    t.same(byName(pod(out).initContainers, 'stash-init')!.securityContext, restricted, 'init-container');
    t.notOk('runAsUser' in (byName(pod(out).initContainers, 'stash-init')!.securityContext as Obj), 'the pod user');

    const rootPod = deployment();
    (pod(rootPod) as Obj).securityContext = { runAsUser: 0, fsGroup: 0 };
    const asRoot = mutated(rootPod, invokers([backupBatch()], [restoreBatch()]));
    t.notOk(byName(pod(asRoot).initContainers, 'stash-init')!.securityContext, 'a root pod: the agent follows it');
    t.not(
      tmplAnn(asRoot)[ANNOTATION.lastAppliedRestoreInvokerHash],
      tmplAnn(out)[ANNOTATION.lastAppliedRestoreInvokerHash],
      'a different container, a different hash',
    );

    const rb = restoreBatch();
    ((rb.spec as Obj).members as Obj[])[0]!.runtimeSettings = {
      container: { securityContext: { runAsUser: 0, runAsGroup: 0 } },
    };
    const optIn = mutated(deployment(), invokers([], [rb]));
    t.same(byName(pod(optIn).initContainers, 'stash-init')!.securityContext, { runAsUser: 0, runAsGroup: 0 }, 'opt-in');
  },
);

t.test('a Running restore invoker beats a newer Failed one', async (t) => {
  const running = restoreBatch('running', 'demo', 'Running');
  (running.metadata as Obj).creationTimestamp = '2026-01-01T00:00:00Z';
  const failed = restoreBatch('failed', 'demo', 'Failed');
  const out = mutated(deployment(), invokers([], [failed, running]));
  t.match(pod(out).initContainers![0]!.args, ['restore', '--invoker-kind=RestoreBatch', '--invoker-name=running']);
});

t.test('local backend volume is added and mounted at mountPath/subPath', async (t) => {
  const bb = backupBatch();
  (bb.spec as Obj).repository = { name: 'local-repo' };
  const out = mutated(deployment(), invokers([bb], [], [localRepository()]));
  const side = byName(pod(out).containers, 'stash')!;
  const mounts = side.volumeMounts as Obj[];
  const local = mounts.find((m) => String(m.name).startsWith('stash-local-'))!;
  t.same({ ...local, name: 'x' }, { name: 'x', mountPath: '/safe/data', subPath: 'repo' });
  t.match(local.name, /^stash-local-local-repo-[0-9a-f]{8}$/);
  t.same(byName(pod(out).volumes, String(local.name)), {
    name: local.name,
    hostPath: { path: '/data/stash-test/repo' },
  });
  t.match(side.args, ['run-backup', String, String, String, String, String, String, '--max-connections=0']);
  const removed = mutated(out, invokers([], [], [localRepository()]));
  t.notOk(
    pod(removed).volumes?.some((v) => String(v.name).startsWith('stash-local')),
    'local volume removed with the sidecar',
  );
});

t.test('not a workload, no template, being deleted, no name: skipped', async (t) => {
  t.match(mutateWorkload(null, invokers(), OPTS), { skip: String });
  t.match(mutateWorkload({ kind: 'Pod', metadata: { name: 'x' } }, invokers(), OPTS), { skip: /not an injectable/ });
  t.match(mutateWorkload({ kind: 'Deployment', metadata: { name: 'x' }, spec: {} }, invokers(), OPTS), {
    skip: /pod template/,
  });
  const d = deployment();
  (d.metadata as Obj).deletionTimestamp = '2026-11-23T00:00:00Z';
  t.match(mutateWorkload(d, invokers([backupBatch()]), OPTS), { skip: /deleted/ });
  const unnamed = deployment();
  delete (unnamed.metadata as Obj).name;
  t.match(mutateWorkload(unnamed, invokers([backupBatch()]), OPTS), { skip: /no name/ });
});

t.test('deprecated RestoreSession spec.rules move into spec.target.rules', async (t) => {
  const rs = {
    kind: 'RestoreSession',
    spec: { target: { ref: { kind: 'Deployment', name: 'x' } }, rules: [{ paths: ['/a'] }] },
  };
  t.same(migrateRestoreRules(rs), {
    kind: 'RestoreSession',
    spec: { target: { ref: { kind: 'Deployment', name: 'x' }, rules: [{ paths: ['/a'] }] } },
  });
  t.equal(migrateRestoreRules({ spec: { target: {} } }), undefined);
});

t.test('the request namespace stands in for an object without one', async (t) => {
  const d = deployment();
  delete (d.metadata as Obj).namespace;
  t.match(mutateWorkload(d, invokers([backupBatch()]), OPTS), { skip: /no invoker/ });
  const out = mutateWorkload(d, invokers([backupBatch()]), OPTS, { namespace: 'demo' });
  t.ok(!('skip' in out) && byName(pod(out.mutated).containers, 'stash'));
});

t.test('untargeted workloads are left alone; every trace of ours on one is decided from the object', async (t) => {
  const none = invokers();
  for (const w of [deployment(), statefulSet(), daemonSet(), deployment('web', 'other')]) {
    t.same(mutateWorkload(w, none, OPTS), { skip: UNTARGETED }, `${w.kind} untouched`);
  }
  // Each trace of ours, on a workload nothing targets any more: the decision is not UNTARGETED.
  const injected = mutated(deployment(), invokers([backupBatch()]));
  const restored = mutated(deployment(), invokers([], [restoreBatch()]));
  const local = mutated(
    deployment(),
    invokers(
      [
        backupConfiguration('wp-bc', 'demo', {
          ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wordpress' },
          volumeMounts: [{ name: 'data', mountPath: '/var/www/html' }],
          paths: ['/var/www/html'],
        }),
      ],
      [],
      [localRepository()],
    ),
  );
  const traces: Array<[string, Obj]> = [
    ['sidecar', injected],
    ['init-container', restored],
    ['local backend', local],
  ];
  const onlyAnnotation = deployment();
  (onlyAnnotation.metadata as Obj).annotations = { [ANNOTATION.lastAppliedBackupInvoker]: 'x' };
  traces.push(['annotation only', onlyAnnotation]);
  const onlyVolume = deployment();
  pod(onlyVolume).volumes = [...(pod(onlyVolume).volumes ?? []), { name: 'stash-tmp-dir', emptyDir: {} }];
  traces.push(['helper volume only', onlyVolume]);
  for (const [name, w] of traces) {
    t.notSame(mutateWorkload(w, none, OPTS), { skip: UNTARGETED }, `${name}: decided from the object`);
  }
});
