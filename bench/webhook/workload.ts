// The bench's traffic: Deployment reviews as the apiserver sends them, in the mix a busy cluster sees: mostly
// workloads nobody backs up, some CREATEs that get the sidecar, some UPDATEs of already-injected Deployments.
import fastJsonPatch from 'fast-json-patch';
import { mutateWorkload } from '../../webhook/admission/mutate.ts';
import type { InjectOptions } from '../../webhook/admission/inject.ts';
import type { BackupInvoker, InvokerIndex, Obj, Repository, RestoreInvoker } from '../../webhook/admission/types.ts';
import { backupBatch, deployment, repository, review } from '../../test/fixtures/reviews/fixtures.ts';

export const INJECT: InjectOptions = { image: 'stash-ts/agent:bench', pushgatewayUrl: 'http://stash-ts-operator.stash-system.svc:56789', useKubeapiserverFqdnForAks: false };

export function benchIndex(): InvokerIndex {
  const invokers = [backupBatch()] as unknown as BackupInvoker[];
  const repo = repository() as unknown as Repository;
  return {
    backupInvokersFor: (w) => (w.name === 'wordpress' ? invokers : []),
    restoreInvokersFor: () => [] as RestoreInvoker[],
    repository: (ns, name) => (ns === 'demo' && name === 'gcs-repo' ? repo : undefined),
  };
}

/** Review bodies, in request order, with what the answer must contain. */
export function benchReviews(): Array<{ body: string; patched: boolean }> {
  const created = deployment();
  const r = mutateWorkload(created, { backup: benchIndex().backupInvokersFor({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'wordpress', namespace: 'demo' }), restore: [], repository: () => repository() as unknown as Repository }, INJECT);
  if ('skip' in r) throw new Error(`bench fixture not injected: ${r.skip}`);
  const injected = fastJsonPatch.applyPatch(structuredClone(created), fastJsonPatch.compare(created, r.mutated), false, false).newDocument as Obj;
  const out: Array<{ body: string; patched: boolean }> = [];
  for (let i = 0; i < 10; i++) {
    const uid = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    if (i === 0) out.push({ body: JSON.stringify(review(uid, deployment())), patched: true });
    else if (i < 3) out.push({ body: JSON.stringify(review(uid, injected, { operation: 'UPDATE', oldObject: injected })), patched: false });
    else out.push({ body: JSON.stringify(review(uid, deployment(`web-${i}`), { operation: i % 2 ? 'CREATE' : 'UPDATE', oldObject: i % 2 ? undefined : deployment(`web-${i}`) })), patched: false });
  }
  return out;
}
