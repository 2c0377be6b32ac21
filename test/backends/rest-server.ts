// restic's REST server for tests, on a free loopback port, serving a fresh temporary directory.
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restServerBin } from './bins.ts';
import { freePort, httpOk, startServer, type ServerProcess } from './proc.ts';
import { generateCerts, type GeneratedCerts } from '../../certs/certs.ts';

export interface RestServerOptions {
  /** Require basic auth with these credentials (an htpasswd file is written); default: --no-auth. */
  auth?: { username: string; password: string };
  /** Serve HTTPS with a fresh self-signed CA; its PEM is returned as `caCert`. */
  tls?: boolean;
  /** Repository sub-path in the URL (rest-server serves several repositories). */
  repoPath?: string;
  password?: string;
}

export interface RestServer {
  /** Base URL without credentials, e.g. http://127.0.0.1:1234/ */
  baseUrl: string;
  /** The Repository `spec.backend` block a test would write. */
  backend: { rest: { url: string } };
  /** The backend Secret's data. */
  secret: Record<string, string>;
  dataDir: string;
  caCert?: string;
  server: ServerProcess;
  stop(): Promise<void>;
}

export async function startRestServer(opts: RestServerOptions = {}): Promise<RestServer> {
  const bin = restServerBin();
  if (!bin) throw new Error('rest-server not found: run hack/build-bins.sh rest-server');
  const root = await mkdtemp(join(tmpdir(), 'stash-ts-rest-'));
  const dataDir = join(root, 'data');
  await mkdir(dataDir);
  const port = await freePort();
  const args = ['--path', dataDir, '--listen', `127.0.0.1:${port}`];
  if (opts.auth) {
    // rest-server accepts the legacy {SHA} htpasswd form, which needs no bcrypt implementation here.
    const digest = createHash('sha1').update(opts.auth.password).digest('base64');
    const htpasswd = join(root, 'htpasswd');
    await writeFile(htpasswd, `${opts.auth.username}:{SHA}${digest}\n`, { mode: 0o600 });
    args.push('--htpasswd-file', htpasswd);
  } else {
    args.push('--no-auth');
  }
  let tls: GeneratedCerts | undefined;
  if (opts.tls) {
    // The same CA + serving-certificate maker the webhook uses; its SANs cover 127.0.0.1.
    tls = await generateCerts({ dir: join(root, 'tls'), days: 2 });
    args.push('--tls', '--tls-cert', tls.certFile, '--tls-key', tls.keyFile);
  }
  const scheme = tls ? 'https' : 'http';
  const baseUrl = `${scheme}://127.0.0.1:${port}/`;
  const server = await startServer(bin, args, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root },
    // Any HTTP answer (401 with auth, 404 for the root) means it listens; TLS probes skip verification.
    ready: () => (tls ? tlsAnswers(port) : httpOk(baseUrl)),
  });
  const url = baseUrl + (opts.repoPath ? `${opts.repoPath.replace(/^\/+|\/+$/g, '')}/` : '');
  const secret: Record<string, string> = { RESTIC_PASSWORD: opts.password ?? 'rest-test-password' };
  if (opts.auth) {
    secret.REST_SERVER_USERNAME = opts.auth.username;
    secret.REST_SERVER_PASSWORD = opts.auth.password;
  }
  if (tls) secret.CA_CERT_DATA = tls.caPem;
  return {
    baseUrl,
    backend: { rest: { url } },
    secret,
    dataDir,
    caCert: tls?.caPem,
    server,
    async stop() {
      await server.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

async function tlsAnswers(port: number): Promise<boolean> {
  const { request } = await import('node:https');
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/', method: 'GET', rejectUnauthorized: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(true);
      },
    );
    req.once('error', () => resolve(false));
    req.once('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}
