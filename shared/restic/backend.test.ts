// Repository string, env and flags for every backend (docs/api.md §3); secrets only in env, never in
// argv, logs or the object's JSON/inspect views.
import t from 'tap';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { ConfigError, ValidationError } from '../errors.ts';
import { resolveRepository, type BackendSpec, type SecretData } from './backend.ts';
import { Restic } from './command.ts';
import { makeRedactor } from './redact.ts';

const scratch = await mkdtemp(join(tmpdir(), 'stash-ts-backend-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));
const PW = 'Pa$$word with space';

async function resolve(spec: BackendSpec, secret: SecretData, connections?: number) {
  return resolveRepository(spec, { RESTIC_PASSWORD: PW, ...secret }, { scratchDir: join(scratch, 'x'), connections });
}

function assertNoSecretsOutsideEnv(t: Tap, repo: Awaited<ReturnType<typeof resolve>>, secrets: string[]) {
  const restic = new Restic({ repo, cache: { dir: '/cache' } });
  const argv = restic.argv(['backup', '--host', 'h', '--', '/data']).join(' ');
  const views = [argv, JSON.stringify(repo), inspect(repo), repo.display];
  for (const s of secrets)
    for (const v of views) t.notOk(v.includes(s), `secret ${s.slice(0, 3)}… not in ${v.slice(0, 30)}`);
}
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

t.test('local', async (t) => {
  const r = await resolve({ local: { mountPath: '/safe/repo', hostPath: { path: '/x' } } }, {});
  t.equal(r.repository, '/safe/repo');
  t.same(r.env, { RESTIC_PASSWORD: PW, RESTIC_REPOSITORY: '/safe/repo' }, 'password verbatim, repository in env');
  t.same(r.globalArgs, []);
  t.same(r.access, { kind: 'local', path: '/safe/repo' });
  await t.rejects(resolve({ local: { mountPath: '/stash/repo' } }, {}), ConfigError, '/stash is reserved');
  await t.rejects(resolve({ local: { mountPath: 'relative' } }, {}), ConfigError, 'absolute only');
  assertNoSecretsOutsideEnv(t, r, [PW]);
});

t.test('s3', async (t) => {
  const secret = {
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'very/secret+key',
    CA_CERT_DATA: '-----BEGIN CERTIFICATE-----\nX\n',
  };
  const r = await resolve(
    {
      s3: {
        endpoint: 'http://127.0.0.1:9000/',
        bucket: 'b',
        prefix: '/team/app/',
        region: 'eu-west-1',
        insecureTLS: true,
      },
    },
    secret,
  );
  t.equal(r.repository, 's3:http://127.0.0.1:9000/b/team/app');
  t.same(r.env, {
    RESTIC_PASSWORD: PW,
    RESTIC_REPOSITORY: 's3:http://127.0.0.1:9000/b/team/app',
    AWS_DEFAULT_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'very/secret+key',
  });
  const ca = join(scratch, 'x', 'ca.crt');
  t.same(r.globalArgs, ['--cacert', ca, '--insecure-tls'], 'CA_CERT_DATA → file → --cacert; insecureTLS');
  t.equal(await readFile(ca, 'utf8'), secret.CA_CERT_DATA, 'CA written');
  t.equal((await stat(ca)).mode & 0o777, 0o600, 'private file');
  t.equal(
    (await resolve({ s3: { endpoint: 's3.amazonaws.com', bucket: 'b' } }, {})).repository,
    's3:s3.amazonaws.com/b',
    'no scheme, no prefix',
  );
  const noKeys = await resolve({ s3: { endpoint: 's3.amazonaws.com', bucket: 'b' } }, {});
  t.notOk('AWS_ACCESS_KEY_ID' in noKeys.env, 'keys exported only when present (IRSA)');
  await t.rejects(
    resolve({ s3: { endpoint: 'e', bucket: 'b' } }, { AWS_ACCESS_KEY_ID: 'only-one' }),
    ConfigError,
    'half a key pair',
  );
  await t.rejects(
    resolve({ s3: { endpoint: '', bucket: '' } }, {}),
    /endpoint is required[\s\S]*bucket is required/,
    'every problem listed',
  );
  assertNoSecretsOutsideEnv(t, r, [PW, 'very/secret+key']);
});

t.test('gcs', async (t) => {
  const r = await resolve(
    { gcs: { bucket: 'g', prefix: 'p/q', maxConnections: 8 } },
    { GOOGLE_PROJECT_ID: 'proj', GOOGLE_SERVICE_ACCOUNT_JSON_KEY: '{"private_key":"k"}' },
  );
  t.equal(r.repository, 'gs:g:/p/q');
  t.same(r.globalArgs, ['--option', 'gs.connections=8']);
  t.equal(r.env.GOOGLE_PROJECT_ID, 'proj');
  t.equal(
    await readFile(r.env.GOOGLE_APPLICATION_CREDENTIALS!, 'utf8'),
    '{"private_key":"k"}',
    'JSON key → file → GOOGLE_APPLICATION_CREDENTIALS',
  );
  t.notOk('GOOGLE_SERVICE_ACCOUNT_JSON_KEY' in r.env, 'the key itself is not exported');
  t.equal((await resolve({ gcs: { bucket: 'g' } }, {})).repository, 'gs:g:/', 'no prefix');
  t.same(r.access, { kind: 'unsupported', backend: 'gcs' });
});

t.test('azure, swift, b2', async (t) => {
  const a = await resolve(
    { azure: { container: 'c', prefix: 'p', maxConnections: 3 } },
    { AZURE_ACCOUNT_NAME: 'acct', AZURE_ACCOUNT_KEY: 'az-key-123' },
  );
  t.equal(a.repository, 'azure:c:/p');
  t.same(a.globalArgs, ['--option', 'azure.connections=3']);
  t.same([a.env.AZURE_ACCOUNT_NAME, a.env.AZURE_ACCOUNT_KEY], ['acct', 'az-key-123']);
  await t.rejects(resolve({ azure: { container: 'c' } }, {}), /AZURE_ACCOUNT_NAME/);
  assertNoSecretsOutsideEnv(t, a, ['az-key-123']);

  const s = await resolve(
    { swift: { container: 'c', prefix: 'p' } },
    { OS_AUTH_URL: 'http://ks', OS_PASSWORD: 'os-pass-1', UNRELATED: 'x' },
  );
  t.equal(s.repository, 'swift:c:/p');
  t.equal(s.env.OS_PASSWORD, 'os-pass-1');
  t.notOk('UNRELATED' in s.env, 'only known keys are exported');

  const b = await resolve(
    { b2: { bucket: 'bb', prefix: 'p', maxConnections: 4 } },
    { B2_ACCOUNT_ID: 'id', B2_ACCOUNT_KEY: 'b2-key-1' },
  );
  t.equal(b.repository, 'b2:bb:/p');
  t.same(b.globalArgs, ['--option', 'b2.connections=4']);
  await t.rejects(resolve({ b2: { bucket: 'bb' } }, { B2_ACCOUNT_ID: 'id' }), /B2_ACCOUNT_KEY is required/);
  await t.rejects(
    resolve({ b2: { bucket: 'bb', maxConnections: 0 } }, { B2_ACCOUNT_ID: 'i', B2_ACCOUNT_KEY: 'k' }),
    /positive integer/,
  );
});

t.test('rest: credentials percent-encoded into the URL, which only travels in env', async (t) => {
  const r = await resolve(
    { rest: { url: 'https://rest.example:8000/team/repo' } },
    { REST_SERVER_USERNAME: 'us@r', REST_SERVER_PASSWORD: 'p@ss:w/rd%' },
  );
  t.equal(
    r.repository,
    'rest:https://us%40r:p%40ss%3Aw%2Frd%25@rest.example:8000/team/repo/',
    'Go url.UserPassword encoding',
  );
  t.equal(r.display, 'rest:https://rest.example:8000/team/repo/', 'display has no credentials');
  t.equal(r.env.RESTIC_REPOSITORY, r.repository);
  t.equal(r.access.kind === 'rest' && r.access.password, 'p@ss:w/rd%', 'raw password kept for direct lock removal');
  assertNoSecretsOutsideEnv(t, r, ['p@ss:w/rd%', 'p%40ss%3Aw%2Frd%25', PW]);
  t.equal((await resolve({ rest: { url: 'http://h:1/' } }, {})).repository, 'rest:http://h:1/', 'no credentials');
  await t.rejects(resolve({ rest: { url: 'http://u:p@h/' } }, {}), /must not carry credentials/);
  await t.rejects(resolve({ rest: { url: 'ftp://h/' } }, {}), /http/);
  t.equal(
    r.redact('Head "https://us%40r:p%40ss%3Aw%2Frd%25@rest.example:8000/": refused p@ss:w/rd%'),
    'Head "https://us%40r:***@rest.example:8000/": refused ***',
    'redactor',
  );
});

t.test('spec errors', async (t) => {
  await t.rejects(resolve({}, {}), /exactly one of/, 'no provider');
  await t.rejects(
    resolve({ local: { mountPath: '/a' }, rest: { url: 'http://h/' } }, {}),
    /found local, rest/,
    'two providers',
  );
  await t.rejects(
    resolveRepository({ local: { mountPath: '/a' } }, {}, { scratchDir: scratch }),
    /RESTIC_PASSWORD is required/,
    'password required',
  );
  const bin = await resolveRepository(
    { local: { mountPath: '/a' } },
    { RESTIC_PASSWORD: Buffer.from('from-bytes') },
    { scratchDir: scratch },
  );
  t.equal(bin.env.RESTIC_PASSWORD, 'from-bytes', 'Secret bytes are read as UTF-8');
  t.same(
    (await resolve({ local: { mountPath: '/a' } }, {}, 6)).globalArgs,
    ['--option', 'local.connections=6'],
    'connections override',
  );
});

t.test('Restic env and argv', async (t) => {
  const repo = await resolve(
    { s3: { endpoint: 'http://127.0.0.1:1', bucket: 'b' } },
    { AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK-secret' },
  );
  process.env.RESTIC_HOST = 'leak';
  process.env.AWS_PROFILE = 'leak';
  t.teardown(() => {
    delete process.env.RESTIC_HOST;
    delete process.env.AWS_PROFILE;
  });
  const r = new Restic({
    repo,
    cache: { dir: '/c', cleanup: true },
    tmpDir: '/scratch/tmp',
    path: '/usr/bin:/bin',
    progressFps: 0.5,
    extraEnv: { GOMAXPROCS: '2' },
  });
  t.same(
    r.buildEnv(),
    {
      PATH: '/usr/bin:/bin',
      HOME: '/scratch/tmp',
      TMPDIR: '/scratch/tmp',
      RESTIC_PROGRESS_FPS: '0.5',
      GOMAXPROCS: '2',
      RESTIC_PASSWORD: PW,
      RESTIC_REPOSITORY: 's3:http://127.0.0.1:1/b',
      AWS_ACCESS_KEY_ID: 'AK',
      AWS_SECRET_ACCESS_KEY: 'SK-secret',
    },
    'built from scratch: no inherited RESTIC_HOST or AWS_PROFILE',
  );
  t.same(
    r.argv(['snapshots'], true),
    ['--json', '--no-lock', '--cache-dir', '/c', '--cleanup-cache', 'snapshots'],
    'globals first',
  );
  t.same(new Restic({ repo, cache: false }).argv(['check']), ['--json', '--no-cache', 'check'], '--no-cache');
  t.throws(
    () => new Restic({ repo, cache: false, extraEnv: { RESTIC_PASSWORD: 'x' } }),
    ValidationError,
    'reserved env',
  );
  t.throws(() => new Restic({ repo, cache: false, extraEnv: { HOME: '/' } }), ValidationError, 'reserved env');
});

t.test('redactor', async (t) => {
  const r = makeRedactor(['abc', 'longsecret', 'long']);
  t.equal(r('x longsecret y long abc'), 'x *** y *** abc', 'values ≥ 4 chars, longest first');
  t.equal(r('see http://bob:pw@host/ and ftp://a:b@c'), 'see http://bob:***@host/ and ftp://a:***@c', 'URL userinfo');
});
