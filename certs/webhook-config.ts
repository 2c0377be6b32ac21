// Renders manifests/webhook/webhook-configurations.yaml with the CA filled in. For the local world (no kubelet,
// loopback only) every clientConfig.service is replaced by clientConfig.url https://127.0.0.1:PORT/<path>: the
// apiserver must never dial a Service IP there. Tests use the overrides to give each file its own configuration
// names and to scope the webhooks to their namespace, so parallel test files do not see each other's webhooks.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { StashError } from '../shared/errors.ts';
import { isRecord } from '../shared/is-record.ts';

export const WEBHOOK_MANIFEST = fileURLToPath(
  new URL('../manifests/webhook/webhook-configurations.yaml', import.meta.url),
);

type Obj = Record<string, unknown>;

export interface RenderOptions {
  /** PEM of the CA that signed the serving certificate. */
  caPem: string;
  /** Local world: serve at https://<host>:<port>/<path> instead of through the Service. */
  url?: { port: number; host?: string };
  /** Replaces metadata.name of both configurations. */
  name?: string;
  /** Replaces every webhook's namespaceSelector. */
  namespaceSelector?: Obj;
  /** Sets every webhook's objectSelector. */
  objectSelector?: Obj;
  /** Replaces every webhook's timeoutSeconds. */
  timeoutSeconds?: number;
  manifestPath?: string;
}

export function loadWebhookManifests(path = WEBHOOK_MANIFEST): Obj[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  return docs.map((d) => d.toJSON() as unknown).filter(isRecord);
}

/** The Mutating- and ValidatingWebhookConfiguration, ready to create. */
export function renderWebhookConfigurations(opts: RenderOptions): Obj[] {
  const caBundle = Buffer.from(opts.caPem).toString('base64');
  return loadWebhookManifests(opts.manifestPath).map((doc) => {
    const out = structuredClone(doc);
    if (opts.name) (out.metadata as Obj).name = opts.name;
    const hooks = Array.isArray(out.webhooks) ? (out.webhooks as Obj[]) : [];
    for (const hook of hooks) {
      const cc = isRecord(hook.clientConfig) ? hook.clientConfig : ((hook.clientConfig = {}) as Obj);
      cc.caBundle = caBundle;
      if (opts.url) {
        const service = isRecord(cc.service) ? cc.service : undefined;
        const path = typeof service?.path === 'string' ? service.path : '/';
        if (!service)
          throw new StashError(
            'WEBHOOK_RENDER',
            `webhook ${String(hook.name)} has no clientConfig.service to turn into a URL`,
          );
        delete cc.service;
        cc.url = `https://${opts.url.host ?? '127.0.0.1'}:${opts.url.port}/${path.replace(/^\/+/, '')}`;
      }
      if (opts.namespaceSelector) hook.namespaceSelector = structuredClone(opts.namespaceSelector);
      if (opts.objectSelector) hook.objectSelector = structuredClone(opts.objectSelector);
      if (opts.timeoutSeconds !== undefined) hook.timeoutSeconds = opts.timeoutSeconds;
    }
    return out;
  });
}
