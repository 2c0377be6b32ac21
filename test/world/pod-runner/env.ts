// Resolves a container's environment the way the kubelet does: literal values with $(VAR) expansion,
// the downward API, Secret and ConfigMap keys, and envFrom.
import type { Kube, KubeObject } from '../../../shared/kube/client.ts';
import type { Container, Pod } from './types.ts';

type DataObject = KubeObject & { data?: Record<string, string> };

export const POD_IP = '127.0.0.1';

/** Value of a downward-API field path such as `metadata.name` or `metadata.labels['app']`. */
export function fieldValue(pod: Pod, path: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (pod.metadata?.[m[1] as 'labels' | 'annotations'] as Record<string, string> | undefined)?.[m[2]!] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP':
    case 'status.hostIP':
      return POD_IP;
    default:
      return '';
  }
}

/** Expands $(NAME) references against already-defined variables; $$ escapes, unknown names stay as written. */
export function expand(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return name !== undefined && name in vars ? vars[name]! : whole;
  });
}

async function dataOf(
  kube: Kube,
  kind: 'Secret' | 'ConfigMap',
  ns: string,
  name: string,
): Promise<Record<string, string> | null> {
  const obj = await kube.getOrNull<DataObject>('v1', kind, ns, name);
  if (!obj) return null;
  const data = obj.data ?? {};
  return kind === 'Secret'
    ? Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]))
    : data;
}

export async function resolveEnv(kube: Kube, pod: Pod, c: Container): Promise<Record<string, string>> {
  const ns = pod.metadata?.namespace ?? 'default';
  const vars: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const ref = from.secretRef ?? from.configMapRef;
    if (!ref) continue;
    const data = await dataOf(kube, from.secretRef ? 'Secret' : 'ConfigMap', ns, ref.name);
    if (!data && !ref.optional)
      throw new Error(`envFrom: ${from.secretRef ? 'secret' : 'configmap'} "${ref.name}" not found`);
    for (const [k, v] of Object.entries(data ?? {})) vars[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of c.env ?? []) {
    const vf = e.valueFrom;
    if (!vf) vars[e.name] = expand(e.value ?? '', vars);
    else if (vf.fieldRef) vars[e.name] = fieldValue(pod, vf.fieldRef.fieldPath);
    else if (vf.secretKeyRef || vf.configMapKeyRef) {
      const ref = (vf.secretKeyRef ?? vf.configMapKeyRef)!;
      const data = await dataOf(kube, vf.secretKeyRef ? 'Secret' : 'ConfigMap', ns, ref.name);
      const v = data?.[ref.key];
      if (v === undefined && !ref.optional)
        throw new Error(`env ${e.name}: key "${ref.key}" of "${ref.name}" not found`);
      if (v !== undefined) vars[e.name] = v;
    } else vars[e.name] = '';
  }
  return vars;
}
