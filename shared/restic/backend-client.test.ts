// The direct backend probe against a stand-in HTTP server: which answer means what, and which Secret key
// a refusal names. (The integration tests run the same probe against the real REST server and MinIO.)
import t from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeRepository, deleteObject } from './backend-client.ts';
import { BackendAccessDeniedError, BackendUnreachableError } from './errors.ts';

let answer: (req: IncomingMessage, res: ServerResponse) => void = (_q, res) => res.end();
const seen: IncomingMessage[] = [];
const server = createServer((req, res) => {
  seen.push(req);
  answer(req, res);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;
t.teardown(() => server.close());
const xml = (status: number, code: string) => (_q: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0"?><Error><Code>${code}</Code><Message>m</Message></Error>`);
};

const rest = {
  kind: 'rest' as const,
  url: `http://127.0.0.1:${port}/repo/`,
  username: 'u',
  password: 'rest-pw-value',
  caPem: undefined,
  insecureTLS: false,
};
const s3 = {
  kind: 's3' as const,
  endpoint: `http://127.0.0.1:${port}`,
  bucket: 'b',
  prefix: 'team/app',
  region: 'us-east-1',
  accessKeyId: 'AKID',
  secretAccessKey: 's3-secret-value',
  sessionToken: undefined,
  caPem: undefined,
  insecureTLS: false,
};

t.test('REST: exists, missing, refused credentials', async (t) => {
  answer = (_q, res) => res.writeHead(200).end();
  t.same(await probeRepository(rest, 2000), { state: 'exists' });
  t.equal(
    seen.at(-1)?.headers.authorization,
    `Basic ${Buffer.from('u:rest-pw-value').toString('base64')}`,
    'basic auth sent',
  );
  t.equal(seen.at(-1)?.url, '/repo/config');
  answer = (_q, res) => res.writeHead(404).end();
  t.match(await probeRepository(rest, 2000), { state: 'missing' });
  answer = (_q, res) => res.writeHead(401).end();
  const err = await probeRepository(rest, 2000).catch((e: unknown) => e);
  t.ok(err instanceof BackendAccessDeniedError, 'a 401 is access denied, not unknown');
  t.same((err as BackendAccessDeniedError).secretKeys, ['REST_SERVER_USERNAME', 'REST_SERVER_PASSWORD']);
  t.notMatch((err as Error).message, /rest-pw-value/);
  answer = (_q, res) => res.writeHead(500).end();
  t.same(await probeRepository(rest, 2000), { state: 'unknown' }, 'other answers leave it to restic');
});

t.test('S3: the error code names the key at fault', async (t) => {
  answer = (_q, res) => res.writeHead(200).end('{"version":2}');
  t.same(await probeRepository(s3, 2000), { state: 'exists' });
  t.equal(seen.at(-1)?.url, '/b/team/app/config', 'path-style key under the prefix');
  t.match(seen.at(-1)?.headers.authorization, /^AWS4-HMAC-SHA256 Credential=AKID\//, 'signed');
  for (const [code, keys] of [
    ['InvalidAccessKeyId', ['AWS_ACCESS_KEY_ID']],
    ['SignatureDoesNotMatch', ['AWS_SECRET_ACCESS_KEY']],
    ['AccessDenied', ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']],
  ] as const) {
    answer = xml(403, code);
    const err = await probeRepository(s3, 2000).catch((e: unknown) => e);
    t.ok(err instanceof BackendAccessDeniedError, `${code}: access denied`);
    t.same((err as BackendAccessDeniedError).secretKeys, keys, `${code} names ${keys.join(', ')}`);
    t.notMatch((err as Error).message, /s3-secret-value/);
  }
  answer = xml(404, 'NoSuchBucket');
  t.match(await probeRepository(s3, 2000), { state: 'missing', what: /bucket b does not exist/ });
  answer = xml(404, 'NoSuchKey');
  t.match(await probeRepository(s3, 2000), { state: 'missing', what: /no repository/ });
  t.same(
    await probeRepository({ ...s3, accessKeyId: undefined, secretAccessKey: undefined }, 2000),
    { state: 'unknown' },
    'IAM credentials: restic decides',
  );
});

t.test('unreachable endpoints and the local backend', async (t) => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const dead = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const t0 = Date.now();
  const err = await probeRepository({ ...rest, url: `http://127.0.0.1:${dead}/repo/` }, 2000).catch((e: unknown) => e);
  t.ok(err instanceof BackendUnreachableError, 'refused: unreachable');
  t.match((err as Error).message, new RegExp(`cannot connect to 127\\.0\\.0\\.1:${dead}`), 'naming the endpoint');
  t.ok(Date.now() - t0 < 2000, 'at once');

  const dir = await mkdtemp(join(tmpdir(), 'stash-ts-probe-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.match(await probeRepository({ kind: 'local', path: dir }, 1000), { state: 'missing' });
  await writeFile(join(dir, 'config'), 'x');
  t.same(await probeRepository({ kind: 'local', path: dir }, 1000), { state: 'exists' });
  t.equal(await deleteObject({ kind: 'local', path: dir }, 'config', 1000), 204);
  t.equal(await deleteObject({ kind: 'local', path: dir }, 'config', 1000), 404, 'already gone');
});
