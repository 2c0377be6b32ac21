// A throwaway etcd for tests (our built binary): TLS on the client port with client-certificate
// authentication (the PKI of test/world/pki.ts), plain HTTP between peers on loopback. Data is read and
// written through etcd's JSON gateway (/v3/kv/*) with the admin client certificate: binary-safe (base64).
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

import { binary } from '../world/bins.ts';
import { issueCert, type Pki } from '../world/pki.ts';
import { freePort, startServer, type ServerProcess } from './proc.ts';

export interface EtcdServer {
  port: number;
  dataDir: string;
  server: ServerProcess;
  put(key: Buffer | string, value: Buffer | string): Promise<void>;
  /** Every key and value, as `hex(key)=sha(value)` lines, sorted. */
  all(): Promise<Array<[string, string]>>;
  stop(): Promise<void>;
}

function gateway(pki: Pki, port: number, path: string, body: unknown): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        ca: readFileSync(pki.caCert),
        cert: readFileSync(pki.adminCert),
        key: readFileSync(pki.adminKey),
        headers: { 'content-type': 'application/json' },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 500) >= 300) reject(new Error(`etcd ${path}: ${res.statusCode} ${text}`));
          else resolve(JSON.parse(text) as Record<string, unknown>);
        });
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const b64 = (v: Buffer | string) => Buffer.from(v).toString('base64');

export async function startEtcd(
  pki: Pki,
  o: { dataDir: string; name?: string; initialCluster?: string; peerPort?: number; clientPort?: number },
): Promise<EtcdServer> {
  const port = o.clientPort ?? (await freePort());
  const peer = o.peerPort ?? (await freePort());
  const name = o.name ?? 'default';
  // etcd's own JSON gateway dials the client port with the serving certificate: it must be a client cert too.
  const serving = issueCert(
    pki,
    'etcd-server',
    '/CN=etcd',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n',
  );
  const server = await startServer(
    binary('etcd'),
    [
      `--name=${name}`,
      `--data-dir=${o.dataDir}`,
      `--listen-client-urls=https://127.0.0.1:${port}`,
      `--advertise-client-urls=https://127.0.0.1:${port}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=${o.initialCluster ?? `${name}=http://127.0.0.1:${peer}`}`,
      `--cert-file=${serving.cert}`,
      `--key-file=${serving.key}`,
      `--trusted-ca-file=${pki.caCert}`,
      '--client-cert-auth',
      '--log-level=error',
    ],
    {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      ready: () => gateway(pki, port, '/v3/maintenance/status', {}).then(() => true),
      readyTimeoutMs: 30_000,
    },
  );
  return {
    port,
    dataDir: o.dataDir,
    server,
    async put(key, value) {
      await gateway(pki, port, '/v3/kv/put', { key: b64(key), value: b64(value) });
    },
    async all() {
      const r = (await gateway(pki, port, '/v3/kv/range', { key: b64('\0'), range_end: b64('\0') })) as {
        kvs?: Array<{ key: string; value?: string }>;
      };
      return (r.kvs ?? []).map((kv): [string, string] => [kv.key, kv.value ?? '']).sort();
    },
    stop: () => server.stop(),
  };
}
