// The admission app served over real HTTPS on a loopback port, with a fresh CA and serving pair in a temp dir;
// everything is removed when the test ends.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { generateCerts, type GeneratedCerts } from '../../certs/certs.ts';
import { buildApp, type AppDeps } from '../../webhook/app.ts';

export async function servedOverHttps(
  t: Test,
  deps: Partial<AppDeps> = {},
): Promise<{ app: ReturnType<typeof buildApp>; port: number; certs: GeneratedCerts; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'stash-https-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const certs = await generateCerts({ dir });
  const app = buildApp({
    invokers: { backupInvokersFor: () => [], restoreInvokersFor: () => [], repository: () => undefined },
    inject: { image: 'a:1', pushgatewayUrl: '', useKubeapiserverFqdnForAks: false },
    tls: { certFile: certs.certFile, keyFile: certs.keyFile },
    ...deps,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  return { app, port: (app.server.address() as { port: number }).port, certs, dir };
}
