// Certificates for the admission webhook, made with the system `openssl` (Node's crypto cannot issue X.509
// certificates, and one binary every machine has beats an npm crypto library). A CA signs a serving certificate
// whose SANs cover the Service DNS names and 127.0.0.1 (the local world's kube-apiserver dials
// https://127.0.0.1:PORT). Files are written next to each other and replaced by rename, so a watcher (webhook/tls.ts)
// never reads a torn file. Rotation is described in certs/README.md.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { StashError } from '../shared/errors.ts';

export const FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  cert: 'tls.crt',
  key: 'tls.key',
} as const;

export interface CaPaths {
  certFile: string;
  keyFile: string;
}

export interface ServingOptions {
  /** SAN DNS names; defaults to `serviceDnsNames(serviceName, namespace)` plus localhost. */
  dnsNames?: string[];
  /** SAN IPs; default 127.0.0.1. */
  ips?: string[];
  days?: number;
  commonName?: string;
}

export interface GeneratedCerts {
  dir: string;
  caFile: string;
  caKeyFile: string;
  certFile: string;
  keyFile: string;
  caPem: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execa('openssl', args, { cwd, stdin: 'ignore' });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new StashError('OPENSSL_FAILED', `openssl ${args[0]} failed: ${stderr.trim() || String(err)}`, {
      cause: err,
    });
  }
}

/** The names a Service answers to inside the cluster. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ];
}

async function placeAtomically(tmpFile: string, finalFile: string, mode: number): Promise<void> {
  await chmod(tmpFile, mode);
  await rename(tmpFile, finalFile);
}

async function workDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  // Same file system as `dir`, so the final rename is atomic.
  return mkdtemp(join(dir, '.tmp-'));
}

/** A new self-signed CA (EC P-256) in `dir` as ca.crt / ca.key. */
export async function generateCa(dirIn: string, opts: { days?: number; commonName?: string } = {}): Promise<CaPaths> {
  // openssl runs in a scratch directory, so every path handed to it is absolute.
  const dir = resolve(dirIn);
  const work = await workDir(dir);
  try {
    await openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        String(opts.days ?? 365),
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-subj',
        `/CN=${opts.commonName ?? 'stash-ts-webhook-ca'}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      work,
    );
    const paths = { certFile: join(dir, FILES.caCert), keyFile: join(dir, FILES.caKey) };
    await placeAtomically(join(work, 'ca.key'), paths.keyFile, 0o600);
    await placeAtomically(join(work, 'ca.crt'), paths.certFile, 0o644);
    return paths;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * A serving certificate signed by `ca`, written to `dir` as tls.crt / tls.key. Writing over an existing pair is a
 * rotation: the key is renamed into place first and the certificate last, so a reader sees the new pair complete
 * once tls.crt changes (and a reader catching the key alone fails its pair check and retries).
 */
export async function generateServingCert(
  dirIn: string,
  caIn: CaPaths,
  opts: ServingOptions = {},
): Promise<{ certFile: string; keyFile: string }> {
  const dir = resolve(dirIn);
  const ca = { certFile: resolve(caIn.certFile), keyFile: resolve(caIn.keyFile) };
  const dns = opts.dnsNames ?? ['localhost'];
  const ips = opts.ips ?? ['127.0.0.1'];
  const san = [...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)].join(',');
  const work = await workDir(dir);
  try {
    await writeFile(
      join(work, 'serving.ext'),
      [
        `subjectAltName=${san}`,
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        '',
      ].join('\n'),
    );
    await openssl(
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        'tls.key',
        '-out',
        'tls.csr',
        '-subj',
        `/CN=${opts.commonName ?? dns[0] ?? 'stash-ts-webhook'}`,
      ],
      work,
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        'tls.csr',
        '-CA',
        ca.certFile,
        '-CAkey',
        ca.keyFile,
        '-set_serial',
        `0x${randomBytes(16).toString('hex')}`,
        '-days',
        String(opts.days ?? 365),
        '-out',
        'tls.crt',
        '-extfile',
        'serving.ext',
      ],
      work,
    );
    const out = { certFile: join(dir, FILES.cert), keyFile: join(dir, FILES.key) };
    await placeAtomically(join(work, 'tls.key'), out.keyFile, 0o600);
    await placeAtomically(join(work, 'tls.crt'), out.certFile, 0o644);
    return out;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export interface GenerateOptions extends ServingOptions {
  dir: string;
  serviceName?: string;
  namespace?: string;
}

/** CA plus serving certificate for the operator Service and 127.0.0.1. */
export async function generateCerts(opts: GenerateOptions): Promise<GeneratedCerts> {
  const service = opts.serviceName ?? 'stash-ts-operator';
  const namespace = opts.namespace ?? 'stash-system';
  const ca = await generateCa(opts.dir, { days: opts.days });
  const dnsNames = opts.dnsNames ?? [...serviceDnsNames(service, namespace), 'localhost'];
  const serving = await generateServingCert(opts.dir, ca, { ...opts, dnsNames });
  return {
    dir: opts.dir,
    caFile: ca.certFile,
    caKeyFile: ca.keyFile,
    certFile: serving.certFile,
    keyFile: serving.keyFile,
    caPem: await readFile(ca.certFile, 'utf8'),
  };
}

/** SHA-256 fingerprint of a PEM certificate, as `openssl x509 -fingerprint` prints it (colon-separated hex). */
export async function fingerprint(certFile: string): Promise<string> {
  const { stdout } = await execa('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', certFile], {
    stdin: 'ignore',
  });
  return stdout.slice(stdout.indexOf('=') + 1).trim();
}
