// The workload informers keep a slim copy of each workload (slimWorkload); the decisions the workload queue
// makes from its cache must come out the same on that copy as on the full object. The invoker loop's helpers
// that spare it reconciles and reads are table-tested here too.
import t from 'tap';
import { ANNOTATION, FINALIZER } from '../../shared/api/constants.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import {
  backupBatch,
  deployment,
  repository,
  restoreBatch,
  statefulSet,
} from '../../test/fixtures/reviews/fixtures.ts';
import { mutateWorkload } from '../admission/mutate.ts';
import type { InjectOptions } from '../admission/inject.ts';
import type { BackupInvoker, Obj, Repository, RestoreInvoker } from '../admission/types.ts';
import { referencedBy, sameOrOurFinalizerAdded } from './invoker.ts';
import { hasAgentContainer, injectedFor, injectedInvoker, slimWorkload } from './workload.ts';

const OPTS: InjectOptions = { image: 'stash-ts/agent:0.1.0', pushgatewayUrl: '', useKubeapiserverFqdnForAks: false };

function injected(w: Obj, backup: Obj[], restore: Obj[] = []): KubeObject {
  const r = mutateWorkload(
    w,
    {
      backup: backup as unknown as BackupInvoker[],
      restore: restore as unknown as RestoreInvoker[],
      repository: (ns, name) =>
        name === 'gcs-repo' ? (repository('gcs-repo', ns) as unknown as Repository) : undefined,
    },
    OPTS,
  );
  if (!('mutated' in r)) throw new Error(`unexpected skip: ${r.skip}`);
  return r.mutated as KubeObject;
}

/** As the apiserver would store it: status, managedFields-free metadata with labels and other annotations. */
function stored(w: KubeObject): KubeObject {
  const o = structuredClone(w);
  o.metadata = {
    ...o.metadata,
    resourceVersion: '4711',
    generation: 3,
    labels: { app: 'x' },
    annotations: {
      ...(o.metadata?.annotations ?? {}),
      'deployment.kubernetes.io/revision': '2',
      'team/notes': 'n'.repeat(4096),
    },
  };
  o.status = {
    replicas: 1,
    readyReplicas: 1,
    conditions: [{ type: 'Available', status: 'True', message: 'm'.repeat(512) }],
  };
  return o;
}

t.test('slimWorkload keeps what the workload queue reads and drops the rest', async (t) => {
  const bb = backupBatch();
  const rb = restoreBatch();
  const cases: Array<[string, KubeObject]> = [
    ['plain Deployment', stored(deployment() as KubeObject)],
    ['Deployment with the sidecar', stored(injected(deployment(), [bb]))],
    ['StatefulSet with sidecar and init-container', stored(injected(statefulSet(), [bb], [rb]))],
  ];
  for (const [name, full] of cases) {
    const slim = slimWorkload(structuredClone(full));
    t.same(
      {
        name: slim.metadata?.name,
        namespace: slim.metadata?.namespace,
        uid: slim.metadata?.uid,
        rv: slim.metadata?.resourceVersion,
        gen: slim.metadata?.generation,
        kind: slim.kind,
      },
      {
        name: full.metadata?.name,
        namespace: full.metadata?.namespace,
        uid: full.metadata?.uid,
        rv: full.metadata?.resourceVersion,
        gen: full.metadata?.generation,
        kind: full.kind,
      },
      `${name}: identity, resourceVersion and generation kept`,
    );
    for (const role of ['backup', 'restore'] as const) {
      t.equal(
        hasAgentContainer(slim, role),
        hasAgentContainer(full, role),
        `${name}: hasAgentContainer(${role}) unchanged`,
      );
      t.same(injectedInvoker(slim, role), injectedInvoker(full, role), `${name}: injectedInvoker(${role}) unchanged`);
    }
    t.equal(
      injectedFor(slim, 'backup', bb as KubeObject),
      injectedFor(full, 'backup', bb as KubeObject),
      `${name}: injectedFor unchanged`,
    );
    const ours = Object.keys(full.metadata?.annotations ?? {}).filter((k) => k.startsWith('stash.appscode.com/'));
    t.same(Object.keys(slim.metadata?.annotations ?? {}).sort(), ours.sort(), `${name}: exactly our annotations kept`);
    t.equal(slim.status, undefined, `${name}: status dropped`);
    t.equal(slim.metadata?.labels, undefined, `${name}: labels dropped`);
    const tmpl = (slim.spec as { template: { spec: { containers: Obj[]; volumes?: unknown } } }).template.spec;
    t.ok(
      tmpl.containers.every((c) => Object.keys(c).join() === 'name'),
      `${name}: containers reduced to their names`,
    );
    t.equal(tmpl.volumes, undefined, `${name}: volumes dropped`);
    t.ok(
      JSON.stringify(slim).length * 4 < JSON.stringify(full).length,
      `${name}: the slim copy is a small fraction (${JSON.stringify(slim).length} of ${JSON.stringify(full).length} bytes)`,
    );
  }
  const withSidecar = slimWorkload(stored(injected(deployment(), [bb])));
  t.ok(
    withSidecar.metadata?.annotations?.[ANNOTATION.lastAppliedBackupInvoker],
    'the last-applied invoker survives (it names who injected)',
  );
  const deleting = slimWorkload({
    ...deployment(),
    metadata: { name: 'w', namespace: 'n', deletionTimestamp: '2026-11-24T00:00:00Z' },
  } as KubeObject);
  t.equal(deleting.metadata?.deletionTimestamp, '2026-11-24T00:00:00Z', 'a deletion in progress is kept');
});

t.test('an invoker update that only adds our finalizer needs no second reconcile', async (t) => {
  const rows: Array<[string, string[] | undefined, string[] | undefined, boolean]> = [
    ['none before or after', undefined, undefined, true],
    ['unchanged', ['a', FINALIZER], ['a', FINALIZER], true],
    ['ours added', undefined, [FINALIZER], true],
    ['ours added after another', ['a'], ['a', FINALIZER], true],
    ['ours removed by someone', [FINALIZER], [], false],
    ['another added', [FINALIZER], [FINALIZER, 'b'], false],
    ['another replaced', ['a'], ['b'], false],
    ['ours added while another went', ['a'], [FINALIZER, 'b'], false],
  ];
  for (const [name, before, after, want] of rows) t.equal(sameOrOurFinalizerAdded(before, after), want, name);
});

t.test('referencedBy reads the cached Repository for this invoker', async (t) => {
  const inv = {
    apiVersion: 'stash.appscode.com/v1beta1',
    kind: 'BackupBatch',
    metadata: { name: 'b1', namespace: 'ns' },
  };
  const repo = (refs: Obj[]) =>
    ({ metadata: { name: 'r', namespace: 'ns' }, status: { references: refs } }) as KubeObject;
  t.equal(referencedBy(undefined, inv), false, 'no cached Repository: write');
  t.equal(referencedBy({ metadata: { name: 'r' } }, inv), false, 'no status yet');
  t.equal(referencedBy(repo([{ kind: 'BackupBatch', namespace: 'ns', name: 'b1' }]), inv), true, 'listed');
  t.equal(
    referencedBy(repo([{ kind: 'BackupConfiguration', namespace: 'ns', name: 'b1' }]), inv),
    false,
    'another kind of the same name',
  );
  t.equal(
    referencedBy(repo([{ kind: 'BackupBatch', namespace: 'other', name: 'b1' }]), inv),
    false,
    'same name in another namespace',
  );
});
