// The bench's traffic: workload reviews as the apiserver sends them, in the mix a busy cluster sees. Most are of
// workloads nobody backs up (Deployments and StatefulSets, CREATEs and UPDATEs carrying oldObject); the rest are
// targets of a BackupBatch (CREATEs that get the sidecar, UPDATEs of already-injected workloads) and of a
// RestoreBatch (CREATEs that get the restore init-container). Stored objects carry what stored objects carry
// (resourceVersion, managedFields, status), so an UPDATE is the size the apiserver sends.
import fastJsonPatch from 'fast-json-patch';
import { mutateWorkload } from '../../webhook/admission/mutate.ts';
import type { InjectOptions } from '../../webhook/admission/inject.ts';
import type {
  BackupInvoker,
  InvokerIndex,
  Obj,
  Repository,
  RestoreInvoker,
  WorkloadRef,
} from '../../webhook/admission/types.ts';
import { targetRefsOf } from '../../webhook/invoker-index.ts';
import { sameTarget } from '../../shared/api/target.ts';
import type { Invoker } from '../../shared/api/types.ts';
import {
  backupBatch,
  deployment,
  repository,
  restoreBatch,
  review,
  statefulSet,
} from '../../test/fixtures/reviews/fixtures.ts';

export const INJECT: InjectOptions = {
  image: 'stash-ts/agent:bench',
  pushgatewayUrl: 'http://stash-ts-operator.stash-system.svc:56789',
  useKubeapiserverFqdnForAks: false,
};

/** A RestoreBatch whose one member restores into Deployment `name`. */
function restoreInto(name: string): Obj {
  const rb = restoreBatch(`${name}-restore`, 'demo', 'Running');
  const member = ((rb.spec as Obj).members as Obj[])[0]!;
  ((member.target as Obj).ref as Obj).name = name;
  return rb;
}

const BACKUPS = [backupBatch()];
const RESTORES = [restoreInto('shop')];

const names = (inv: Obj, w: WorkloadRef) => targetRefsOf(inv as Invoker).some((r) => sameTarget(r, w));

/** Answers like the informer index: the invokers whose refs name the workload. */
export function benchIndex(): InvokerIndex {
  const repo = repository() as unknown as Repository;
  return {
    backupInvokersFor: (w) => BACKUPS.filter((b) => names(b, w)) as unknown as BackupInvoker[],
    restoreInvokersFor: (w) => RESTORES.filter((r) => names(r, w)) as unknown as RestoreInvoker[],
    repository: (ns, name) => (ns === 'demo' && name === 'gcs-repo' ? repo : undefined),
  };
}

/** The object as the apiserver stores it: resourceVersion, managedFields and status added. */
function stored(w: Obj, i: number): Obj {
  const copy = structuredClone(w);
  const meta = copy.metadata as Obj;
  meta.resourceVersion = String(100_000 + i);
  meta.generation = 3;
  meta.uid = `5f0c${String(i).padStart(4, '0')}-0000-4000-8000-000000000000`;
  meta.managedFields = [
    {
      manager: 'kubectl-client-side-apply',
      operation: 'Update',
      apiVersion: 'apps/v1',
      time: '2026-11-30T10:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
        'f:spec': {
          'f:replicas': {},
          'f:selector': {},
          'f:template': {
            'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
            'f:spec': {
              'f:containers': {
                'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:name': {}, 'f:ports': {}, 'f:volumeMounts': {} },
              },
              'f:volumes': {},
            },
          },
        },
      },
    },
  ];
  copy.status = {
    observedGeneration: 3,
    replicas: 1,
    readyReplicas: 1,
    availableReplicas: 1,
    updatedReplicas: 1,
    conditions: [
      {
        type: 'Available',
        status: 'True',
        reason: 'MinimumReplicasAvailable',
        lastUpdateTime: '2026-11-30T10:00:05Z',
        lastTransitionTime: '2026-11-30T10:00:05Z',
      },
    ],
  };
  return copy;
}

function injected(w: Obj): Obj {
  const idx = benchIndex();
  const meta = w.metadata as Obj;
  const ref: WorkloadRef = {
    apiVersion: 'apps/v1',
    kind: String(w.kind),
    name: String(meta.name),
    namespace: String(meta.namespace),
  };
  const r = mutateWorkload(
    w,
    { backup: idx.backupInvokersFor(ref), restore: idx.restoreInvokersFor(ref), repository: idx.repository },
    INJECT,
  );
  if ('skip' in r) throw new Error(`bench fixture ${ref.kind}/${ref.name} not injected: ${r.skip}`);
  return fastJsonPatch.applyPatch(structuredClone(w), fastJsonPatch.compare(w, r.mutated), false, false)
    .newDocument as Obj;
}

function newImage(w: Obj): Obj {
  const copy = structuredClone(w);
  const app = (((copy.spec as Obj).template as Obj).spec as { containers: Obj[] }).containers[0]!;
  app.image = `${String(app.image)}-next`;
  return copy;
}

export interface BenchReview {
  body: string;
  /** Whether the answer carries a patch. */
  patched: boolean;
  what: string;
}

/** Review bodies, in request order, with what the answer must contain. */
export function benchReviews(): BenchReview[] {
  const mix: Array<{ what: string; object: Obj; update: boolean; patched: boolean }> = [];
  const add = (what: string, object: Obj, update: boolean, patched: boolean) =>
    mix.push({ what, object, update, patched });
  add('backup target Deployment CREATE', deployment(), false, true);
  add('backup target Deployment UPDATE (injected)', stored(injected(deployment()), 1), true, false);
  add('backup target StatefulSet CREATE', statefulSet(), false, true);
  add('backup target StatefulSet UPDATE (injected)', stored(injected(statefulSet()), 2), true, false);
  add('restore target Deployment CREATE', deployment('shop'), false, true);
  add('restore target Deployment UPDATE (injected)', stored(injected(deployment('shop')), 3), true, false);
  for (let i = 0; i < 6; i++) add('untargeted Deployment CREATE', deployment(`web-${i}`), false, false);
  for (let i = 0; i < 4; i++)
    add('untargeted Deployment UPDATE', stored(deployment(`api-${i}`, 'shop'), 10 + i), true, false);
  for (let i = 0; i < 2; i++) add('untargeted StatefulSet CREATE', statefulSet(`redis-${i}`), false, false);
  for (let i = 0; i < 2; i++)
    add('untargeted StatefulSet UPDATE', stored(statefulSet(`kafka-${i}`), 20 + i), true, false);
  return mix.map((m, i) => {
    const uid = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    // An UPDATE changes the application's image; oldObject is the object as stored before.
    const body = m.update
      ? review(uid, newImage(m.object), { operation: 'UPDATE', oldObject: m.object })
      : review(uid, m.object);
    return { body: JSON.stringify(body), patched: m.patched, what: m.what };
  });
}
