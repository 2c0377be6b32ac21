// A real S3 server for tests: MinIO (built by hack/build-bins.sh minio) on a free loopback port with a
// fresh data directory. Credentials are random per start and handed back as the backend Secret data.
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { minioBin } from './bins.ts';
import { freePort, httpOk, startServer, type ServerProcess } from './proc.ts';

export interface S3ServerOptions {
  bucket?: string;
  prefix?: string;
  password?: string;
}

export interface S3Server {
  endpoint: string;
  /** The Repository `spec.backend` block a test would write. */
  backend: { s3: { endpoint: string; bucket: string; prefix?: string; region?: string } };
  /** The backend Secret's data. */
  secret: Record<string, string>;
  accessKey: string;
  secretKey: string;
  dataDir: string;
  server: ServerProcess;
  stop(): Promise<void>;
}

export async function startS3Server(opts: S3ServerOptions = {}): Promise<S3Server> {
  const bin = minioBin();
  if (!bin) throw new Error('minio not found: run hack/build-bins.sh minio');
  const root = await mkdtemp(join(tmpdir(), 'stash-ts-s3-'));
  const dataDir = join(root, 'data');
  await mkdir(dataDir);
  const port = await freePort();
  const consolePort = await freePort();
  const accessKey = `test${randomBytes(6).toString('hex')}`;
  const secretKey = randomBytes(18).toString('base64url');
  const endpoint = `http://127.0.0.1:${port}`;
  const server = await startServer(
    bin,
    ['server', '--quiet', '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, dataDir],
    {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: root,
        MINIO_ROOT_USER: accessKey,
        MINIO_ROOT_PASSWORD: secretKey,
        // loopback only: no update checks, no call-home, no web console
        MINIO_UPDATE: 'off',
        MINIO_CALLHOME_ENABLE: 'off',
        MINIO_BROWSER: 'off',
      },
      ready: () => httpOk(`${endpoint}/minio/health/live`),
      readyTimeoutMs: 60_000,
    },
  );
  const bucket = opts.bucket ?? 'stash-test';
  const s3: S3Server['backend']['s3'] = { endpoint, bucket, region: 'us-east-1' };
  if (opts.prefix) s3.prefix = opts.prefix;
  return {
    endpoint,
    backend: { s3 },
    secret: {
      RESTIC_PASSWORD: opts.password ?? 's3-test-password',
      AWS_ACCESS_KEY_ID: accessKey,
      AWS_SECRET_ACCESS_KEY: secretKey,
    },
    accessKey,
    secretKey,
    dataDir,
    server,
    async stop() {
      await server.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
