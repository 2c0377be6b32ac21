// Where each kind we touch lives in the REST API. A fixed table instead of discovery: the set is small,
// known at build time, and a wrong entry fails loudly in tests.
import { GROUP, KINDS } from '../api/constants.ts';

export interface ResourceInfo {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

const CORE: Array<[string, string, string, boolean]> = [
  ['v1', 'Namespace', 'namespaces', false],
  ['v1', 'Node', 'nodes', false],
  ['v1', 'Pod', 'pods', true],
  ['v1', 'Secret', 'secrets', true],
  ['v1', 'ConfigMap', 'configmaps', true],
  ['v1', 'Service', 'services', true],
  ['v1', 'ServiceAccount', 'serviceaccounts', true],
  ['v1', 'Event', 'events', true],
  ['v1', 'PersistentVolumeClaim', 'persistentvolumeclaims', true],
  ['v1', 'PersistentVolume', 'persistentvolumes', false],
  ['apps/v1', 'Deployment', 'deployments', true],
  ['apps/v1', 'StatefulSet', 'statefulsets', true],
  ['apps/v1', 'DaemonSet', 'daemonsets', true],
  ['apps/v1', 'ReplicaSet', 'replicasets', true],
  ['apps.openshift.io/v1', 'DeploymentConfig', 'deploymentconfigs', true],
  ['batch/v1', 'Job', 'jobs', true],
  ['batch/v1', 'CronJob', 'cronjobs', true],
  ['coordination.k8s.io/v1', 'Lease', 'leases', true],
  ['events.k8s.io/v1', 'Event', 'events', true],
  ['rbac.authorization.k8s.io/v1', 'Role', 'roles', true],
  ['rbac.authorization.k8s.io/v1', 'RoleBinding', 'rolebindings', true],
  ['rbac.authorization.k8s.io/v1', 'ClusterRole', 'clusterroles', false],
  ['rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', 'clusterrolebindings', false],
  ['apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'customresourcedefinitions', false],
  ['admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', 'mutatingwebhookconfigurations', false],
  ['admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', 'validatingwebhookconfigurations', false],
  ['appcatalog.appscode.com/v1alpha1', 'AppBinding', 'appbindings', true],
  ['repositories.stash.appscode.com/v1alpha1', 'Snapshot', 'snapshots', true],
];

const table = new Map<string, ResourceInfo>();
for (const [apiVersion, kind, plural, namespaced] of CORE)
  table.set(`${apiVersion}/${kind}`, { apiVersion, kind, plural, namespaced });
for (const k of Object.values(KINDS)) {
  const apiVersion = `${GROUP}/${k.version}`;
  const namespaced = !('scope' in k && k.scope === 'Cluster');
  table.set(`${apiVersion}/${k.kind}`, { apiVersion, kind: k.kind, plural: k.plural, namespaced });
}

export function resourceFor(apiVersion: string, kind: string): ResourceInfo {
  const info = table.get(`${apiVersion}/${kind}`);
  if (!info) throw new Error(`unknown resource ${apiVersion} ${kind}: add it to shared/kube/resources.ts`);
  return info;
}

/** REST path of a collection (name undefined) or of one object, optionally a subresource. */
export function resourcePath(info: ResourceInfo, namespace?: string, name?: string, subresource?: string): string {
  const base = info.apiVersion.includes('/') ? `/apis/${info.apiVersion}` : `/api/${info.apiVersion}`;
  let p = base;
  if (info.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${info.plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}
