// Kubernetes manifests as a member (kubedump-backup-<v> / kubedump-restore-<v>, docs/decisions/0014-more-member-kinds.md):
// every listable resource of a namespace (or the objects a label selector picks), found through API discovery,
// written one YAML file per object as `<root>/resources/<Kind>/<name>.yaml` (upstream's kubedump tree) with
// the fields the server sets stripped, then backed up as a directory. Objects a controller owns
// (ownerReferences: ReplicaSets, Pods, …) and kinds the server makes on its own (Events, Endpoints, Leases)
// are left out, since re-creating them would fight their controllers. The restore re-creates the objects in
// dependency order — namespaces, CRDs, ServiceAccounts and RBAC, ConfigMaps and Secrets, PVCs, Services,
// workloads, the rest — creating each one or skipping it when it exists (or replacing it with `overwrite`).
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { KubeError } from '../shared/errors.ts';
import type { Kube, KubeObject } from '../shared/kube/client.ts';

export const KUBEDUMP_DIR = 'resources';

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
  verbs?: string[];
}

export interface DiscoveredResource {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

/** Kinds the cluster makes or keeps up by itself; a restore of them would only collide. */
const SKIPPED_KINDS = new Set([
  'Event',
  'Endpoints',
  'EndpointSlice',
  'Lease',
  'ControllerRevision',
  'PodMetrics',
  'Binding',
  'ComponentStatus',
  'LocalSubjectAccessReview',
  'SelfSubjectAccessReview',
  'TokenReview',
]);

/** Every resource that can be listed, at each group's preferred version. */
export async function discover(kube: Kube): Promise<DiscoveredResource[]> {
  const out: DiscoveredResource[] = [];
  const add = (apiVersion: string, list: { resources?: ApiResource[] }) => {
    for (const r of list.resources ?? []) {
      if (r.name.includes('/') || !r.verbs?.includes('list') || !r.verbs.includes('create')) continue;
      out.push({ apiVersion, kind: r.kind, plural: r.name, namespaced: r.namespaced });
    }
  };
  add('v1', await kube.request<{ resources?: ApiResource[] }>({ path: '/api/v1' }));
  const groups = await kube.request<{ groups?: Array<{ preferredVersion?: { groupVersion: string } }> }>({
    path: '/apis',
  });
  for (const g of groups.groups ?? []) {
    const gv = g.preferredVersion?.groupVersion;
    if (!gv) continue;
    add(gv, await kube.request<{ resources?: ApiResource[] }>({ path: `/apis/${gv}` }));
  }
  return out;
}

function collectionPath(r: DiscoveredResource, namespace?: string): string {
  const base = r.apiVersion.includes('/') ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`;
  return `${base}${r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ''}/${r.plural}`;
}

const SERVER_METADATA = [
  'uid',
  'resourceVersion',
  'creationTimestamp',
  'managedFields',
  'generation',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
];
const SERVER_ANNOTATIONS = [
  /^kubectl\.kubernetes\.io\/last-applied-configuration$/,
  /^deployment\.kubernetes\.io\//,
  /^pv\.kubernetes\.io\//,
  /^volume\.(beta\.)?kubernetes\.io\//,
];

/** The object as a user would write it: no status, no server-set metadata, no allocated addresses. */
export function sanitize(obj: KubeObject): KubeObject {
  const o = structuredClone(obj) as KubeObject & { status?: unknown; spec?: Record<string, unknown> };
  delete o.status;
  const md = (o.metadata ?? {}) as Record<string, unknown>;
  for (const f of SERVER_METADATA) delete md[f];
  const ann = md.annotations as Record<string, string> | undefined;
  if (ann) {
    for (const k of Object.keys(ann)) if (SERVER_ANNOTATIONS.some((re) => re.test(k))) delete ann[k];
    if (Object.keys(ann).length === 0) delete md.annotations;
  }
  if (o.kind === 'Service' && o.spec) {
    delete o.spec.clusterIP;
    delete o.spec.clusterIPs;
  }
  if (o.kind === 'PersistentVolumeClaim' && o.spec) delete o.spec.volumeName;
  return o;
}

/** Kept in a dump: not owned by a controller, not a kind the cluster keeps up itself. */
export function dumpable(obj: KubeObject): boolean {
  if (SKIPPED_KINDS.has(obj.kind ?? '')) return false;
  const md = obj.metadata as { ownerReferences?: unknown[]; name?: string } | undefined;
  if (md?.ownerReferences?.length) return false;
  // What every namespace gets by itself: the CA bundle, the default ServiceAccount and its legacy token Secrets.
  if (obj.kind === 'ConfigMap' && md?.name === 'kube-root-ca.crt') return false;
  if (obj.kind === 'ServiceAccount' && md?.name === 'default') return false;
  if (obj.kind === 'Secret' && (obj as { type?: string }).type === 'kubernetes.io/service-account-token') return false;
  return true;
}

function fileName(name: string): string {
  return `${name.replace(/[/\\]/g, '_')}.yaml`;
}

/** Writes the namespace's objects into `<dir>/resources/<Kind>/<name>.yaml`; returns how many. */
export async function dumpNamespace(
  kube: Kube,
  namespace: string,
  dir: string,
  o: { labelSelector?: string } = {},
): Promise<{ objects: number }> {
  let objects = 0;
  for (const r of await discover(kube)) {
    if (!r.namespaced || SKIPPED_KINDS.has(r.kind)) continue;
    let list: { items?: KubeObject[] };
    try {
      list = await kube.request({ path: collectionPath(r, namespace), query: { labelSelector: o.labelSelector } });
    } catch (err) {
      // A resource this identity may not list is left out, not a failed dump: RBAC decides the scope.
      if (err instanceof KubeError && (err.status === 403 || err.status === 404 || err.status === 405)) continue;
      throw err;
    }
    for (const item of list.items ?? []) {
      const obj = { ...item, apiVersion: r.apiVersion, kind: r.kind };
      if (!dumpable(obj)) continue;
      const kindDir = join(dir, KUBEDUMP_DIR, r.kind);
      await mkdir(kindDir, { recursive: true });
      await writeFile(join(kindDir, fileName(obj.metadata?.name ?? '')), YAML.stringify(sanitize(obj)), {
        mode: 0o600,
      });
      objects++;
    }
  }
  return { objects };
}

const ORDER = [
  'Namespace',
  'CustomResourceDefinition',
  'ServiceAccount',
  'ClusterRole',
  'Role',
  'ClusterRoleBinding',
  'RoleBinding',
  'ConfigMap',
  'Secret',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'Service',
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'ReplicaSet',
  'Job',
  'CronJob',
];

/** Dependency order of kinds; kinds not listed come last, alphabetically. */
export function restoreRank(kind: string): number {
  const i = ORDER.indexOf(kind);
  return i < 0 ? ORDER.length : i;
}

/** A (Cluster)RoleBinding moved to another namespace grants its subjects of the old namespace there too. */
function moveSubjects(obj: KubeObject, from: string | undefined, to: string | undefined): KubeObject {
  const subjects = (obj as { subjects?: Array<{ namespace?: string }> }).subjects;
  if (!subjects || !from || !to || from === to) return obj;
  return { ...obj, subjects: subjects.map((s) => (s.namespace === from ? { ...s, namespace: to } : s)) } as KubeObject;
}

export interface KubedumpRestoreResult {
  created: string[];
  skipped: string[];
  replaced: string[];
}

/**
 * Re-creates the objects of a dump tree. `namespace` moves namespaced objects into that namespace (a restore
 * into a fresh one); an object that exists is skipped, or replaced when `overwrite`.
 */
export async function restoreTree(
  kube: Kube,
  dir: string,
  o: { namespace?: string; overwrite?: boolean } = {},
): Promise<KubedumpRestoreResult> {
  const root = join(dir, KUBEDUMP_DIR);
  const objects: KubeObject[] = [];
  for (const kind of (await readdir(root)).sort()) {
    for (const f of (await readdir(join(root, kind))).sort())
      objects.push(YAML.parse(await readFile(join(root, kind, f), 'utf8')) as KubeObject);
  }
  objects.sort(
    (a, b) => restoreRank(a.kind ?? '') - restoreRank(b.kind ?? '') || (a.kind ?? '').localeCompare(b.kind ?? ''),
  );
  const resources = new Map((await discover(kube)).map((r) => [`${r.apiVersion}/${r.kind}`, r]));
  const result: KubedumpRestoreResult = { created: [], skipped: [], replaced: [] };
  if (o.namespace) {
    const body = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: o.namespace } };
    try {
      await kube.request({ method: 'POST', path: '/api/v1/namespaces', body });
      result.created.push(`Namespace/${o.namespace}`);
    } catch (err) {
      // 403: the identity may create objects inside a namespace only (stash-kubedump-restore bound by a
      // RoleBinding there, the usual case: the namespace is the restore's own). If it does not exist, the
      // first object's create says so.
      if (!(err instanceof KubeError && (err.status === 409 || err.status === 403))) throw err;
    }
  }
  for (const obj of objects) {
    const r = resources.get(`${obj.apiVersion}/${obj.kind}`);
    if (!r)
      throw new Error(`${obj.apiVersion} ${obj.kind} ${obj.metadata?.name}: the cluster does not serve this kind`);
    const from = obj.metadata?.namespace;
    const ns = r.namespaced ? (o.namespace ?? from) : undefined;
    const body = moveSubjects({ ...obj, metadata: { ...obj.metadata, ...(ns ? { namespace: ns } : {}) } }, from, ns);
    const id = `${obj.kind}/${ns ? `${ns}/` : ''}${obj.metadata?.name}`;
    try {
      await kube.request({ method: 'POST', path: collectionPath(r, ns), body });
      result.created.push(id);
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 409))
        throw new Error(`restore of ${id} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      if (!o.overwrite) {
        result.skipped.push(id);
        continue;
      }
      const path = `${collectionPath(r, ns)}/${encodeURIComponent(obj.metadata?.name ?? '')}`;
      const current = await kube.request<KubeObject>({ path });
      await kube.request({
        method: 'PUT',
        path,
        body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } },
      });
      result.replaced.push(id);
    }
  }
  return result;
}
