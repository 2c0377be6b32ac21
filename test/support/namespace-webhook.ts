// The admission app in-process against the real kube-apiserver, scoped to one test namespace: served over HTTPS
// on a loopback port (test/support/webhook-https.ts), its webhook configurations rendered from
// manifests/webhook/webhook-configurations.yaml under names of the namespace and a namespaceSelector for it only
// (parallel files never see each other's webhooks), invokers from the operator's own informer index. Not
// imported by product code.
import type { Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { renderWebhookConfigurations } from '../../certs/webhook-config.ts';
import type { Kube, KubeObject } from '../../shared/kube/client.ts';
import { createLogger } from '../../shared/log.ts';
import { InformerInvokerIndex } from '../../webhook/invoker-index.ts';
import { servedOverHttps } from './webhook-https.ts';

export const TEST_AGENT_IMAGE = 'stash-ts/agent:integration';

export async function namespaceWebhook(t: Test, kube: Kube, ns: string): Promise<InformerInvokerIndex> {
  const index = new InformerInvokerIndex(kube, createLogger({ level: 'silent', name: 'index' })).start();
  t.teardown(() => index.stop());
  await index.waitForSync();
  const { port, certs } = await servedOverHttps(t, {
    invokers: index,
    inject: { image: TEST_AGENT_IMAGE, pushgatewayUrl: 'http://127.0.0.1:56789', useKubeapiserverFqdnForAks: false },
  });
  const name = `stash-ts-it-${ns}`;
  const configs = renderWebhookConfigurations({
    caPem: certs.caPem,
    url: { port },
    name,
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
  });
  t.teardown(async () => {
    await kube.delete('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, name);
    await kube.delete('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, name);
  });
  for (const c of configs) await kube.create(c as unknown as KubeObject);
  return index;
}

/** Waits until the apiserver calls the mutating webhook: `probe` (a dry-run create) returns true once it did. */
export async function mutatingWebhookActive(probe: () => Promise<boolean>, ms = 60_000): Promise<number> {
  const deadline = Date.now() + ms;
  for (let probes = 1; ; probes++) {
    if (await probe()) return probes;
    if (Date.now() > deadline) throw new Error(`mutating webhook not active after ${probes} probes`);
    await sleep(200);
  }
}
