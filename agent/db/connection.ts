// Where a database member lives and how to log in: an AppBinding (appcatalog.appscode.com/v1alpha1) gives
// the address — `spec.clientConfig.url`, or `spec.clientConfig.service` inside the cluster — and names the
// Secret whose `username`/`password` keys hold the login (upstream Postgres addons also read
// `POSTGRES_USER`/`POSTGRES_PASSWORD`). Redis needs only `password` (a `username` selects an ACL user), MongoDB
// needs a login only when the server enforces one (the URL path is then the user's database), and an
// etcd Secret holds TLS client files (`ca.crt`, `tls.crt`, `tls.key`) and optionally a login. Errors name the
// missing field and never include a secret value.
import { ValidationError } from '../../shared/errors.ts';
import type { Engine } from './tasks.ts';

export interface AppBinding {
  metadata?: { name?: string; namespace?: string };
  spec?: {
    type?: string;
    version?: string;
    clientConfig?: {
      url?: string;
      service?: {
        name?: string;
        namespace?: string;
        port?: number | string;
        scheme?: string;
        path?: string;
        query?: string;
      };
      caBundle?: string;
      insecureSkipTLSVerify?: boolean;
    };
    secret?: { name?: string };
    parameters?: unknown;
  };
}

export interface DatabaseConnection {
  engine: Engine;
  host: string;
  port: number;
  user: string;
  password: string;
  /** Database named in the address (URL path or service path); the dump default ignores it. */
  database?: string;
  /** PostgreSQL `sslmode` from the URL query (e.g. disable, require). */
  sslMode?: string;
  /** URL scheme as given (etcd: http or https). */
  scheme?: string;
  /** TLS client material from the Secret (etcd), PEM text; written to private files, never passed in argv. */
  tls?: { ca?: string; cert?: string; key?: string };
}

/** Decoded Secret data (the caller decodes Kubernetes' base64); Buffers are read as UTF-8. */
export type SecretValues = Record<string, string | Buffer | undefined>;

const DEFAULT_PORT: Record<Engine, number> = { mysql: 3306, postgres: 5432, redis: 6379, mongodb: 27017, etcd: 2379 };

function engineOfScheme(scheme: string): Engine | undefined {
  const s = scheme.toLowerCase();
  if (s === 'mysql' || s === 'mariadb' || s === 'tcp+mysql') return 'mysql';
  if (s === 'postgres' || s === 'postgresql') return 'postgres';
  if (s === 'redis') return 'redis';
  if (s === 'mongodb') return 'mongodb';
  return undefined;
}

function engineOfType(type: string): Engine | undefined {
  const t = type.toLowerCase();
  if (/mysql|mariadb|percona/.test(t)) return 'mysql';
  if (/postgres/.test(t)) return 'postgres';
  if (/redis/.test(t)) return 'redis';
  if (/mongo/.test(t)) return 'mongodb';
  if (/etcd/.test(t)) return 'etcd';
  return undefined;
}

function text(v: string | Buffer | undefined): string | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.toString('utf8');
}

/**
 * The connection an AppBinding describes. `engine` (from the task name) wins when the binding does not say;
 * when both say and disagree it is an error, since a mysql task cannot dump a PostgreSQL server.
 */
export function connectionFromAppBinding(
  appBinding: AppBinding,
  secretData: SecretValues,
  opts: { engine?: Engine } = {},
): DatabaseConnection {
  const name = appBinding.metadata?.name ?? '?';
  const where = `AppBinding ${appBinding.metadata?.namespace ?? '?'}/${name}`;
  const cc = appBinding.spec?.clientConfig;
  if (!cc || (!cc.url && !cc.service))
    throw new ValidationError(
      'spec.clientConfig',
      `${where} has neither spec.clientConfig.url nor spec.clientConfig.service`,
    );

  let host: string;
  let port: number | undefined;
  let database: string | undefined;
  let sslMode: string | undefined;
  let schemeEngine: Engine | undefined;
  let scheme: string | undefined;
  if (cc.url) {
    let u: URL;
    const raw = /^[a-z][a-z0-9+.-]*:\/\//i.test(cc.url) ? cc.url : `tcp://${cc.url}`;
    try {
      u = new URL(raw);
    } catch {
      // the URL is not echoed: a malformed one may still carry a password
      throw new ValidationError('spec.clientConfig.url', `${where}: spec.clientConfig.url is not a URL`);
    }
    if (u.username || u.password) {
      throw new ValidationError(
        'spec.clientConfig.url',
        `${where}: spec.clientConfig.url must not carry credentials; put them in the Secret spec.secret.name`,
      );
    }
    scheme = u.protocol.replace(/:$/, '').toLowerCase();
    schemeEngine = engineOfScheme(scheme);
    host = u.hostname.replace(/^\[|\]$/g, '');
    if (!host) throw new ValidationError('spec.clientConfig.url', `${where}: spec.clientConfig.url has no host`);
    port = u.port ? Number(u.port) : undefined;
    database = decodeURIComponent(u.pathname.replace(/^\/+|\/+$/g, '')) || undefined;
    sslMode = u.searchParams.get('sslmode') ?? undefined;
  } else {
    const svc = cc.service!;
    if (!svc.name)
      throw new ValidationError(
        'spec.clientConfig.service.name',
        `${where}: spec.clientConfig.service.name is required`,
      );
    const ns = svc.namespace ?? appBinding.metadata?.namespace;
    if (!ns)
      throw new ValidationError('metadata.namespace', `${where}: the namespace of service ${svc.name} is unknown`);
    host = `${svc.name}.${ns}.svc`;
    if (svc.port === undefined || svc.port === '')
      throw new ValidationError(
        'spec.clientConfig.service.port',
        `${where}: spec.clientConfig.service.port is required`,
      );
    port = Number(svc.port);
    scheme = svc.scheme?.toLowerCase();
    schemeEngine = svc.scheme ? engineOfScheme(svc.scheme) : undefined;
    database = svc.path ? svc.path.replace(/^\/+|\/+$/g, '') || undefined : undefined;
    if (svc.query) sslMode = new URLSearchParams(svc.query).get('sslmode') ?? undefined;
  }
  if (host.startsWith('-'))
    throw new ValidationError('spec.clientConfig', `${where}: host ${JSON.stringify(host)} is not a host name`);

  const bindingEngine = schemeEngine ?? (appBinding.spec?.type ? engineOfType(appBinding.spec.type) : undefined);
  if (opts.engine && bindingEngine && opts.engine !== bindingEngine) {
    throw new ValidationError(
      'spec.type',
      `${where} points at a ${bindingEngine} database, but the task is for ${opts.engine}`,
    );
  }
  const engine = opts.engine ?? bindingEngine;
  if (!engine)
    throw new ValidationError(
      'spec.type',
      `${where}: cannot tell the database engine from spec.type, the URL scheme or the task name`,
    );
  // Server TLS from the binding is not built: refused, so a TLS-only server is never dumped in plain text or the
  // field silently dropped. etcd takes its CA and client certificate from the Secret instead.
  if (cc.caBundle || cc.insecureSkipTLSVerify) {
    const field = cc.caBundle ? 'spec.clientConfig.caBundle' : 'spec.clientConfig.insecureSkipTLSVerify';
    throw new ValidationError(
      field,
      `${where}: ${field} is not supported for ${engine} members` +
        (engine === 'etcd' ? '; put the CA in the Secret as ca.crt' : '; TLS to the database server is not built yet'),
    );
  }
  port ??= DEFAULT_PORT[engine];
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new ValidationError('spec.clientConfig', `${where}: port ${String(port)} is not a TCP port`);

  const secretName = appBinding.spec?.secret?.name;
  if (!secretName)
    throw new ValidationError(
      'spec.secret.name',
      `${where}: spec.secret.name is required (the Secret with username and password)`,
    );
  const pick = (keys: string[]) => {
    for (const k of keys) {
      const v = text(secretData[k]);
      if (v !== undefined && v !== '') return v;
    }
    return undefined;
  };
  if (engine === 'mongodb') {
    // A server without access control (mongod's default) needs no login; a username needs its password.
    // The URL's path names the database the user is defined in (mongodb:// URIs do the same); default admin.
    const user = pick(['username']) ?? '';
    const password = pick(['password']) ?? '';
    if (user && !password)
      throw new ValidationError(
        `secret ${secretName}`,
        `Secret ${secretName} (from ${where}) has a username but no password key`,
      );
    const conn: DatabaseConnection = { engine, host, port, user, password };
    if (database !== undefined) conn.database = database;
    return conn;
  }
  if (engine === 'redis' || engine === 'etcd') {
    // Both work without a login (an etcd behind client certificates, a Redis without requirepass).
    const conn: DatabaseConnection = {
      engine,
      host,
      port,
      user: pick(['username']) ?? '',
      password: pick(['password']) ?? '',
    };
    if (scheme) conn.scheme = scheme;
    if (engine === 'etcd') {
      const tls = { ca: pick(['ca.crt']), cert: pick(['tls.crt']), key: pick(['tls.key']) };
      if (!tls.cert !== !tls.key)
        throw new ValidationError(
          `secret ${secretName}`,
          `Secret ${secretName} (from ${where}) needs both tls.crt and tls.key for a client certificate`,
        );
      if (tls.ca || tls.cert) conn.tls = Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined));
    }
    return conn;
  }
  const userKeys = engine === 'postgres' ? ['username', 'POSTGRES_USER'] : ['username'];
  const passwordKeys = engine === 'postgres' ? ['password', 'POSTGRES_PASSWORD'] : ['password'];
  const user = pick(userKeys);
  if (user === undefined)
    throw new ValidationError(
      `secret ${secretName}`,
      `Secret ${secretName} (from ${where}) has no ${userKeys.join(' or ')} key`,
    );
  const password = pick(passwordKeys);
  if (password === undefined)
    throw new ValidationError(
      `secret ${secretName}`,
      `Secret ${secretName} (from ${where}) has no ${passwordKeys.join(' or ')} key`,
    );
  const conn: DatabaseConnection = { engine, host, port, user, password };
  if (database !== undefined) conn.database = database;
  if (sslMode !== undefined) conn.sslMode = sslMode;
  return conn;
}
