// A Secret's values as text, for the agent and for processes that open a Repository from outside a pod.
import type { KubeObject } from './client.ts';

export interface SecretObject extends KubeObject {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** A Secret's values, decoded (`stringData` as an unapplied manifest or a fake may carry it wins). */
export function secretValues(secret: SecretObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  for (const [k, v] of Object.entries(secret.stringData ?? {})) out[k] = v;
  return out;
}
