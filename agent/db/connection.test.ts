import t from 'tap';
import { connectionFromAppBinding, type AppBinding } from './connection.ts';

const secret = { username: 'root', password: 'Sup3r"secret#' };
const binding = (
  clientConfig: NonNullable<AppBinding['spec']>['clientConfig'],
  extra: Partial<NonNullable<AppBinding['spec']>> = {},
): AppBinding => ({
  metadata: { name: 'db', namespace: 'shop' },
  spec: { clientConfig, secret: { name: 'db-auth' }, ...extra },
});

t.test('address from clientConfig.url', async (t) => {
  t.same(connectionFromAppBinding(binding({ url: 'mysql://127.0.0.1:3307/' }), secret), {
    engine: 'mysql',
    host: '127.0.0.1',
    port: 3307,
    user: 'root',
    password: 'Sup3r"secret#',
  });
  t.same(connectionFromAppBinding(binding({ url: 'postgres://127.0.0.1:5433/postgres?sslmode=disable' }), secret), {
    engine: 'postgres',
    host: '127.0.0.1',
    port: 5433,
    user: 'root',
    password: 'Sup3r"secret#',
    database: 'postgres',
    sslMode: 'disable',
  });
  t.match(connectionFromAppBinding(binding({ url: 'postgresql://db.example:5432/app' }), secret), {
    engine: 'postgres',
    database: 'app',
  });
  t.match(connectionFromAppBinding(binding({ url: 'mariadb://[::1]/' }), secret), {
    engine: 'mysql',
    host: '::1',
    port: 3306,
  });
  t.match(connectionFromAppBinding(binding({ url: 'tcp://10.0.0.5:3306/' }, { type: 'kubedb.com/mariadb' }), secret), {
    engine: 'mysql',
    port: 3306,
  });
  t.match(connectionFromAppBinding(binding({ url: '10.0.0.5' }), secret, { engine: 'postgres' }), {
    engine: 'postgres',
    host: '10.0.0.5',
    port: 5432,
  });
});

t.test('address from clientConfig.service', async (t) => {
  t.same(connectionFromAppBinding(binding({ service: { name: 'mysql', port: 3306, scheme: 'mysql' } }), secret), {
    engine: 'mysql',
    host: 'mysql.shop.svc',
    port: 3306,
    user: 'root',
    password: 'Sup3r"secret#',
  });
  t.match(
    connectionFromAppBinding(
      binding({
        service: {
          name: 'pg',
          namespace: 'data',
          port: '5432',
          scheme: 'postgresql',
          path: '/app',
          query: 'sslmode=require',
        },
      }),
      secret,
    ),
    { engine: 'postgres', host: 'pg.data.svc', port: 5432, database: 'app', sslMode: 'require' },
  );
  t.match(
    connectionFromAppBinding(binding({ service: { name: 'pg', port: 5432 } }, { type: 'kubedb.com/postgres' }), secret),
    { engine: 'postgres' },
  );
});

t.test('upstream Postgres secret keys', async (t) => {
  t.match(
    connectionFromAppBinding(binding({ url: 'postgres://h:5432/' }), {
      POSTGRES_USER: 'postgres',
      POSTGRES_PASSWORD: Buffer.from('pw-from-buffer'),
    }),
    { user: 'postgres', password: 'pw-from-buffer' },
  );
  t.throws(
    () => connectionFromAppBinding(binding({ url: 'mysql://h/' }), { POSTGRES_USER: 'u', POSTGRES_PASSWORD: 'p' }),
    { message: /Secret db-auth .* has no username key/ },
  );
});

t.test('errors name the missing field and never a secret', async (t) => {
  const cases: Array<[AppBinding, Record<string, string>, RegExp, { engine?: 'mysql' | 'postgres' }?]> = [
    [
      { metadata: { name: 'db', namespace: 'shop' }, spec: { secret: { name: 's' } } },
      secret,
      /^spec\.clientConfig: AppBinding shop\/db has neither spec\.clientConfig\.url nor spec\.clientConfig\.service/,
    ],
    [binding({ service: { port: 3306 } }), secret, /^spec\.clientConfig\.service\.name: /],
    [binding({ service: { name: 'x', scheme: 'mysql' } }), secret, /^spec\.clientConfig\.service\.port: /],
    [binding({ url: 'mysql://h/' }, { secret: undefined }), secret, /^spec\.secret\.name: /],
    [binding({ url: 'mysql://h/' }), { username: 'u' }, /has no password key/],
    [binding({ url: 'postgres://h/' }), { username: 'u', password: '' }, /has no password or POSTGRES_PASSWORD key/],
    [binding({ url: 'http://h:80/' }), secret, /^spec\.type: .*cannot tell the database engine/],
    [
      binding({ url: 'mysql://h/' }),
      secret,
      /points at a mysql database, but the task is for postgres/,
      { engine: 'postgres' },
    ],
    [binding({ url: 'mysql://h:99999/' }), secret, /^spec\.clientConfig\.url: .*not a URL/],
    [binding({ url: 'mysql://-oProxy:3306/' }), secret, /is not a host name/],
  ];
  for (const [b, s, re, o] of cases)
    t.throws(() => connectionFromAppBinding(b, s, o), { code: 'VALIDATION_FAILED', message: re }, String(re));
  const leaky = binding({ url: 'mysql://root:Sup3rLeak@h:3306/' });
  const err = (() => {
    try {
      connectionFromAppBinding(leaky, secret);
    } catch (e) {
      return e as Error;
    }
  })();
  t.match(err?.message, /must not carry credentials/);
  t.notMatch(err?.message, /Sup3rLeak/, 'the URL password is not echoed');
});

t.test('Redis and etcd: the login is optional, etcd TLS files come from the Secret', async (t) => {
  const ab = (url: string, type: string) => ({
    metadata: { name: 'x', namespace: 'demo' },
    spec: { type, clientConfig: { url }, secret: { name: 'x-auth' } },
  });
  t.same(connectionFromAppBinding(ab('redis://cache:6380', 'kubedb.com/redis'), { password: 'pw' }), {
    engine: 'redis',
    host: 'cache',
    port: 6380,
    user: '',
    password: 'pw',
    scheme: 'redis',
  });
  t.match(connectionFromAppBinding(ab('cache.demo.svc', 'kubedb.com/redis'), {}), {
    engine: 'redis',
    port: 6379,
    password: '',
  });
  const etcd = connectionFromAppBinding(
    ab('https://etcd:2379', 'etcd'),
    { 'ca.crt': 'CA', 'tls.crt': 'C', 'tls.key': 'K' },
    { engine: 'etcd' },
  );
  t.same(etcd.tls, { ca: 'CA', cert: 'C', key: 'K' });
  t.equal(etcd.scheme, 'https');
  t.throws(() => connectionFromAppBinding(ab('https://etcd:2379', 'etcd'), { 'tls.crt': 'C' }, { engine: 'etcd' }), {
    message: /needs both tls\.crt and tls\.key/,
  });
});

t.test('MongoDB: mongodb:// or a *mongo* type, default port 27017, login optional but never half', async (t) => {
  const ab = (url: string, type?: string) => ({
    metadata: { name: 'store', namespace: 'demo' },
    spec: { ...(type ? { type } : {}), clientConfig: { url }, secret: { name: 'store-auth' } },
  });
  t.same(connectionFromAppBinding(ab('mongodb://store.demo.svc/admin'), { username: 'root', password: 'pw' }), {
    engine: 'mongodb',
    host: 'store.demo.svc',
    port: 27017,
    user: 'root',
    password: 'pw',
    database: 'admin',
  });
  t.match(connectionFromAppBinding(ab('store:27018', 'kubedb.com/mongodb'), {}), {
    engine: 'mongodb',
    port: 27018,
    user: '',
    password: '',
  });
  t.throws(() => connectionFromAppBinding(ab('mongodb://store', undefined), { username: 'root' }), {
    message: /store-auth .*has a username but no password key/,
  });
  t.throws(
    () => connectionFromAppBinding(ab('mongodb://store'), { username: 'u', password: 'p' }, { engine: 'postgres' }),
    { message: /points at a mongodb database, but the task is for postgres/ },
  );
});

t.test('server TLS fields of the binding are refused, naming the field, not ignored', async (t) => {
  t.throws(() => connectionFromAppBinding(binding({ url: 'mysql://127.0.0.1:3306/', caBundle: 'LS0t' }), secret), {
    field: 'spec.clientConfig.caBundle',
    message: /caBundle is not supported for mysql members/,
  });
  t.throws(
    () => connectionFromAppBinding(binding({ url: 'mongodb://127.0.0.1/', insecureSkipTLSVerify: true }), secret),
    {
      field: 'spec.clientConfig.insecureSkipTLSVerify',
      message: /insecureSkipTLSVerify is not supported for mongodb members/,
    },
  );
  t.throws(
    () => connectionFromAppBinding(binding({ url: 'https://127.0.0.1:2379', caBundle: 'LS0t' }, { type: 'etcd' }), {}),
    { message: /put the CA in the Secret as ca\.crt/ },
  );
  t.match(
    connectionFromAppBinding(binding({ url: 'mysql://127.0.0.1:3306/', insecureSkipTLSVerify: false }), secret),
    { engine: 'mysql' },
    'insecureSkipTLSVerify: false asks for nothing',
  );
});
