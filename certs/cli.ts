// Command line for certs/: `generate` a CA and serving pair, `rotate` the serving pair under the existing CA,
// `render` the webhook configurations (local world: --port gives clientConfig.url on 127.0.0.1).
//   node certs/cli.ts generate --dir DIR [--service NAME] [--namespace NS] [--days N]
//   node certs/cli.ts rotate   --dir DIR [--service NAME] [--namespace NS] [--days N]
//   node certs/cli.ts render   --dir DIR [--port PORT]
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { FILES, generateCerts, generateServingCert, serviceDnsNames } from './certs.ts';
import { renderWebhookConfigurations } from './webhook-config.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    dir: { type: 'string' },
    service: { type: 'string', default: 'stash-ts-operator' },
    namespace: { type: 'string', default: 'stash-system' },
    days: { type: 'string', default: '365' },
    port: { type: 'string' },
  },
});

const command = positionals[0];
const dir = values.dir;
if (!dir || !['generate', 'rotate', 'render'].includes(command ?? '')) {
  process.stderr.write(
    'usage: node certs/cli.ts generate|rotate|render --dir DIR [--service NAME] [--namespace NS] [--days N] [--port PORT]\n',
  );
  process.exit(2);
}
const days = Number(values.days);
const dnsNames = [...serviceDnsNames(values.service, values.namespace), 'localhost'];

if (command === 'generate') {
  const c = await generateCerts({ dir, serviceName: values.service, namespace: values.namespace, days });
  process.stdout.write(`${JSON.stringify({ caFile: c.caFile, certFile: c.certFile, keyFile: c.keyFile })}\n`);
} else if (command === 'rotate') {
  const out = await generateServingCert(
    dir,
    { certFile: join(dir, FILES.caCert), keyFile: join(dir, FILES.caKey) },
    { dnsNames, days },
  );
  process.stdout.write(`${JSON.stringify(out)}\n`);
} else {
  const caPem = await readFile(join(dir, FILES.caCert), 'utf8');
  const docs = renderWebhookConfigurations({ caPem, ...(values.port ? { url: { port: Number(values.port) } } : {}) });
  process.stdout.write(docs.map((d) => stringify(d)).join('---\n'));
}
