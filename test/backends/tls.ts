// A throw-away CA and a server certificate for 127.0.0.1, made with the openssl CLI, so tests can
// exercise the CA_CERT_DATA -> --cacert path against a real TLS server.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TlsFiles {
  caPem: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

export async function makeTlsFiles(dir: string): Promise<TlsFiles> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const certFile = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  const opts = { timeout: 30_000 };
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey,
    '-out', caFile, '-days', '2', '-subj', '/CN=stash-ts test CA'], opts);
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile,
    '-out', csr, '-subj', '/CN=127.0.0.1'], opts);
  await writeFile(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile,
    '-days', '2', '-extfile', ext], opts);
  return { caPem: await readFile(caFile, 'utf8'), caFile, certFile, keyFile };
}
