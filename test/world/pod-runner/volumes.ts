// Maps pod volumes to directories on this machine: emptyDir, Secret, ConfigMap and downwardAPI per pod
// under the world's directory, a PersistentVolumeClaim per claim (so data outlives pods, as a PV would),
// hostPath at the same path.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Kube, KubeObject } from '../../../shared/kube/client.ts';
import { fieldValue } from './env.ts';
import type { Container, Pod, Volume } from './types.ts';

export interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

export function pvcDir(worldDir: string, namespace: string, claim: string): string {
  return join(worldDir, 'pvcs', namespace, claim);
}

export function podDir(worldDir: string, pod: Pod): string {
  return join(worldDir, 'pods', pod.metadata?.uid ?? 'unknown');
}

function writeItems(dir: string, data: Record<string, string>, items?: Array<{ key: string; path: string }>): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const entries = items?.length
    ? items.filter((i) => i.key in data).map((i) => [i.path, data[i.key]!] as const)
    : Object.entries(data);
  for (const [path, value] of entries) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), value, { mode: 0o644 });
  }
}

/** Creates every volume's directory; returns the directory of each volume by name. */
export async function materializeVolumes(kube: Kube, worldDir: string, pod: Pod): Promise<Map<string, string>> {
  const ns = pod.metadata?.namespace ?? 'default';
  const out = new Map<string, string>();
  for (const v of pod.spec?.volumes ?? []) out.set(v.name, await materialize(kube, worldDir, pod, ns, v));
  return out;
}

async function materialize(kube: Kube, worldDir: string, pod: Pod, ns: string, v: Volume): Promise<string> {
  const own = join(podDir(worldDir, pod), 'volumes', v.name);
  if (v.emptyDir) {
    mkdirSync(own, { recursive: true });
    return own;
  }
  if (v.persistentVolumeClaim) {
    const dir = pvcDir(worldDir, ns, v.persistentVolumeClaim.claimName);
    mkdirSync(dir, { recursive: true });
    return dir;
  }
  if (v.hostPath) {
    mkdirSync(v.hostPath.path, { recursive: true });
    return v.hostPath.path;
  }
  if (v.secret || v.configMap) {
    const isSecret = !!v.secret;
    const name = v.secret?.secretName ?? v.configMap!.name;
    const obj = await kube.getOrNull<KubeObject & { data?: Record<string, string> }>(
      'v1',
      isSecret ? 'Secret' : 'ConfigMap',
      ns,
      name,
    );
    if (!obj && !(v.secret?.optional ?? v.configMap?.optional))
      throw new Error(`volume ${v.name}: ${isSecret ? 'secret' : 'configmap'} "${name}" not found`);
    const raw = obj?.data ?? {};
    const data = isSecret
      ? Object.fromEntries(Object.entries(raw).map(([k, val]) => [k, Buffer.from(val, 'base64').toString('utf8')]))
      : raw;
    writeItems(own, data, v.secret?.items ?? v.configMap?.items);
    return own;
  }
  if (v.downwardAPI) {
    const data: Record<string, string> = {};
    for (const item of v.downwardAPI.items ?? [])
      if (item.fieldRef) data[item.path] = fieldValue(pod, item.fieldRef.fieldPath);
    writeItems(own, data);
    return own;
  }
  const kind = Object.keys(v).find((k) => k !== 'name') ?? 'unknown';
  throw new Error(`volume ${v.name}: ${kind} volumes are not supported by the local pod runner`);
}

export function mountsFor(c: Container, volumes: Map<string, string>): Mount[] {
  return (c.volumeMounts ?? []).map((m) => {
    const dir = volumes.get(m.name);
    if (!dir) throw new Error(`container ${c.name}: volumeMount ${m.name} has no volume`);
    const source = m.subPath ? join(dir, m.subPath) : dir;
    mkdirSync(source, { recursive: true });
    return { source, target: m.mountPath, readOnly: !!m.readOnly };
  });
}
