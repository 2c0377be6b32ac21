// Wiping a repository through the direct client, against a stand-in S3 and REST server kept in memory: every
// file of the repository goes, config and keys first; nothing outside the prefix (or, without a prefix, outside
// restic's layout) is listed or deleted; a file appearing meanwhile fails the wipe. The integration tests
// (test/integration/repository-wipeout.test.ts) do the same against MinIO and restic's REST server.
import t from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deletionOrder, parseListObjectsV2, wipeProblem, wipeRepository, WipeError } from './backend-wipe.ts';
import { signV4 } from './s3sign.ts';

const id = (c: string) => c.repeat(64);
let objects = new Set<string>();
const deletes: string[] = [];
let onDelete: (key: string) => void = () => {};
let s3PageSize = 2;

function s3(req: IncomingMessage, res: ServerResponse, url: URL): void {
  const [, bucket, ...rest] = url.pathname.split('/');
  if (bucket !== 'b') return void res.writeHead(404).end();
  if (req.method === 'GET' && rest.length === 0) {
    const prefix = url.searchParams.get('prefix') ?? '';
    const start = Number(url.searchParams.get('continuation-token') ?? '0');
    const all = [...objects].filter((k) => k.startsWith(prefix)).sort();
    const page = all.slice(start, start + s3PageSize);
    const more = start + s3PageSize < all.length;
    res.writeHead(200, { 'content-type': 'application/xml' });
    return void res.end(
      `<?xml version="1.0"?><ListBucketResult><Name>b</Name>${page
        .map((k) => `<Contents><Key>${k.replace(/&/g, '&amp;')}</Key><Size>1</Size></Contents>`)
        .join(
          '',
        )}<IsTruncated>${more}</IsTruncated>${more ? `<NextContinuationToken>${start + s3PageSize}</NextContinuationToken>` : ''}</ListBucketResult>`,
    );
  }
  const key = rest.map(decodeURIComponent).join('/');
  if (req.method === 'DELETE') {
    deletes.push(key);
    objects.delete(key);
    onDelete(key);
    return void res.writeHead(204).end();
  }
  res.writeHead(405).end();
}

function rest(req: IncomingMessage, res: ServerResponse, url: URL): void {
  const path = url.pathname.replace(/^\/repo\//, '');
  if (path === 'config') {
    if (req.method === 'HEAD') return void res.writeHead(objects.has('config') ? 200 : 404).end();
    if (req.method === 'DELETE') {
      deletes.push('config');
      objects.delete('config');
      return void res.writeHead(200).end();
    }
  }
  const m = /^(data|keys|locks|snapshots|index)\/([0-9a-f]{64})?$/.exec(path);
  if (!m) return void res.writeHead(404).end();
  if (req.method === 'GET' && !m[2]) {
    t.equal(req.headers.accept, 'application/vnd.x.restic.rest.v2', 'v2 listing asked');
    const names = [...objects].filter((k) => k.startsWith(`${m[1]}/`)).map((k) => k.split('/').pop()!);
    res.writeHead(200, { 'content-type': 'application/vnd.x.restic.rest.v2' });
    return void res.end(JSON.stringify(names.map((name) => ({ name, size: 1 }))));
  }
  if (req.method === 'DELETE' && m[2]) {
    deletes.push(path);
    objects.delete(path);
    onDelete(path);
    return void res.writeHead(200).end();
  }
  res.writeHead(405).end();
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname.startsWith('/repo/')) rest(req, res, url);
  else s3(req, res, url);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;
t.teardown(() => server.close());

const s3Access = {
  kind: 's3' as const,
  endpoint: `http://127.0.0.1:${port}`,
  bucket: 'b',
  prefix: 'team/app',
  region: 'us-east-1',
  accessKeyId: 'AKID',
  secretAccessKey: 'sk',
  sessionToken: undefined,
  caPem: undefined,
  insecureTLS: false,
};
const restAccess = {
  kind: 'rest' as const,
  url: `http://127.0.0.1:${port}/repo/`,
  username: 'u',
  password: 'p',
  caPem: undefined,
  insecureTLS: false,
};
const layout = (root: string) =>
  [
    'config',
    `keys/${id('a')}`,
    `data/ab/${id('b')}`,
    `index/${id('c')}`,
    `snapshots/${id('d')}`,
    `locks/${id('e')}`,
  ].map((k) => (root ? `${root}/${k}` : k));

t.beforeEach(() => {
  deletes.length = 0;
  onDelete = () => {};
});

t.test('S3 with a prefix: every object under prefix/ goes, a sibling prefix stays', async (t) => {
  objects = new Set([...layout('team/app'), 'team/app/extra.txt', ...layout('team/app2'), 'team/appendix']);
  const r = await wipeRepository(s3Access);
  t.equal(r.deleted, 7, 'six restic files and one more object under the prefix');
  t.same(
    [...objects].sort(),
    [...layout('team/app2'), 'team/appendix'].sort(),
    'team/app2/ and team/appendix untouched',
  );
  t.same(deletes.slice(0, 2), ['team/app/config', `team/app/keys/${id('a')}`], 'config and keys first');
});

t.test('S3 without a prefix: only restic layout, never the whole bucket', async (t) => {
  objects = new Set([...layout(''), 'configuration.yaml', 'other/file', 'datastore/x']);
  const r = await wipeRepository({ ...s3Access, prefix: '' });
  t.equal(r.deleted, 6);
  t.same([...objects].sort(), ['configuration.yaml', 'datastore/x', 'other/file']);
});

t.test('REST: every file type and the config', async (t) => {
  objects = new Set(layout('').map((k) => (k.startsWith('data/') ? `data/${id('b')}` : k)));
  const r = await wipeRepository(restAccess);
  t.equal(r.deleted, 6);
  t.equal(objects.size, 0, 'nothing left');
  t.equal(deletes[0], 'config', 'config first');
  t.equal(deletes[1], `keys/${id('a')}`, 'then keys');
  t.equal(deletes.at(-1), `data/${id('b')}`, 'data last');
});

t.test('a file written during the wipe fails it (the caller retries)', async (t) => {
  objects = new Set(layout('team/app'));
  onDelete = (k) => {
    if (k.endsWith('/config')) objects.add(`team/app/snapshots/${id('f')}`);
  };
  s3PageSize = 1000;
  const err = await wipeRepository(s3Access).catch((e: unknown) => e);
  t.ok(err instanceof WipeError);
  t.match((err as Error).message, /appeared while deleting/);
  onDelete = () => {};
  t.equal((await wipeRepository(s3Access)).deleted, 1, 'the retry deletes the newcomer');
});

t.test('what cannot be wiped from outside a pod', async (t) => {
  t.match(wipeProblem({ kind: 'local', path: '/x' }), /only from a pod/);
  t.match(wipeProblem({ kind: 'unsupported', backend: 'gcs' }), /gcs/);
  t.match(wipeProblem({ ...s3Access, accessKeyId: undefined }), /AWS_ACCESS_KEY_ID/);
  t.equal(wipeProblem(s3Access), undefined);
  await t.rejects(wipeRepository({ kind: 'local', path: '/x' }), WipeError);
});

t.test('listing parser: entities, pagination', async (t) => {
  const p = parseListObjectsV2(
    '<ListBucketResult><Contents><Key>a&amp;b</Key></Contents><IsTruncated>true</IsTruncated><NextContinuationToken>t&amp;1</NextContinuationToken></ListBucketResult>',
  );
  t.same(p, { keys: ['a&b'], next: 't&1' });
  t.throws(() => parseListObjectsV2('<IsTruncated>true</IsTruncated>'), WipeError);
  t.same(deletionOrder(['data/x', 'config', 'other', 'keys/k', 'locks/l']), [
    ['config'],
    ['keys/k'],
    ['locks/l'],
    ['data/x'],
    ['other'],
  ]);
});

t.test('SigV4 with a query string: the GET Bucket example of the AWS documentation', async (t) => {
  const h = signV4({
    method: 'GET',
    url: new URL('https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J'),
    region: 'us-east-1',
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    now: new Date('2013-05-24T00:00:00Z'),
  });
  t.equal(
    h.authorization,
    'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7',
  );
});
