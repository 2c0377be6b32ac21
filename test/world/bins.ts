// Where the Go-built binaries of the local world live (hack/build-bins.sh fills the cache; the cache layout
// and pinned versions are read by test/backends/bins.ts, the one module that knows them).
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot, pinnedVersions } from '../backends/bins.ts';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const COMPONENT: Record<string, [dir: string, versionKey: string]> = {
  'kube-apiserver': ['k8s', 'K8S_VERSION'],
  'kube-controller-manager': ['k8s', 'K8S_VERSION'],
  kubectl: ['k8s', 'K8S_VERSION'],
  etcd: ['etcd', 'ETCD_VERSION'],
  etcdctl: ['etcd-tools', 'ETCD_VERSION'],
  etcdutl: ['etcd-tools', 'ETCD_VERSION'],
  restic: ['restic', 'RESTIC_VERSION'],
  'rest-server': ['rest-server', 'REST_SERVER_VERSION'],
  minio: ['minio', 'MINIO_VERSION'],
  promtool: ['promtool', 'PROMETHEUS_VERSION'],
  helm: ['helm', 'HELM_VERSION'],
};

/** Absolute path of a pinned, cached binary; throws with the command that builds it when it is missing. */
export function binary(name: string): string {
  const c = COMPONENT[name];
  if (!c) throw new Error(`unknown binary ${name}`);
  const [dir, key] = c;
  const path = join(cacheRoot(), 'bins', `${dir}-${pinnedVersions()[key]}`, name);
  if (!existsSync(path)) throw new Error(`${name} is not built yet (${path}); run: hack/build-bins.sh ${dir}`);
  return path;
}
