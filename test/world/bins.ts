// Where the Go-built binaries live: a cache outside the repository, one directory per component and
// version (hack/build-bins.sh fills it; hack/versions.env names the versions).
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function versions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(REPO_ROOT, 'hack', 'versions.env'), 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(\S+)/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export function cacheRoot(): string {
  return process.env.STASH_TS_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'stash-ts');
}

const COMPONENT: Record<string, [dir: string, versionKey: string]> = {
  'kube-apiserver': ['k8s', 'K8S_VERSION'],
  'kube-controller-manager': ['k8s', 'K8S_VERSION'],
  kubectl: ['k8s', 'K8S_VERSION'],
  etcd: ['etcd', 'ETCD_VERSION'],
  restic: ['restic', 'RESTIC_VERSION'],
  'rest-server': ['rest-server', 'REST_SERVER_VERSION'],
  minio: ['minio', 'MINIO_VERSION'],
};

/** Absolute path of a cached binary; throws with the command that builds it when it is missing. */
export function binary(name: keyof typeof COMPONENT | string): string {
  const c = COMPONENT[name];
  if (!c) throw new Error(`unknown binary ${name}`);
  const [dir, key] = c;
  const path = join(cacheRoot(), 'bins', `${dir}-${versions()[key]}`, name);
  if (!existsSync(path)) throw new Error(`${name} is not built yet (${path}); run: hack/build-bins.sh ${dir}`);
  return path;
}
