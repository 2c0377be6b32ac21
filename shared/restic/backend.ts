// Repository `spec.backend` + the backend Secret's data → what restic needs: the repository string and
// credentials as ENVIRONMENT (never argv: argv is world-readable in /proc), plus the few non-secret
// global flags (--cacert, --insecure-tls, --option <backend>.connections=N). docs/api.md §3.
import { mkdir, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { inspect } from 'node:util';
import { ConfigError } from '../errors.ts';
import { makeRedactor, type Redactor } from './redact.ts';

export interface BackendSpec {
  storageSecretName?: string;
  local?: { mountPath: string; subPath?: string; [volumeSource: string]: unknown };
  s3?: { endpoint: string; bucket: string; prefix?: string; region?: string; insecureTLS?: boolean };
  gcs?: { bucket: string; prefix?: string; maxConnections?: number };
  azure?: { container: string; prefix?: string; maxConnections?: number };
  swift?: { container: string; prefix?: string };
  b2?: { bucket: string; prefix?: string; maxConnections?: number };
  rest?: { url: string };
}

export type BackendKind = 'local' | 's3' | 'gcs' | 'azure' | 'swift' | 'b2' | 'rest';
const KINDS: BackendKind[] = ['local', 's3', 'gcs', 'azure', 'swift', 'b2', 'rest'];

/** Decoded Secret data (Kubernetes gives base64; the caller decodes). Buffers are read as UTF-8. */
export type SecretData = Record<string, string | Uint8Array>;

/** What the lock remover needs to reach lock files directly (see locks.ts). Holds secrets: never log it. */
export type DirectAccess =
  | { kind: 'local'; path: string }
  | {
      kind: 'rest';
      url: string;
      username: string | undefined;
      password: string | undefined;
      caPem: string | undefined;
      insecureTLS: boolean;
    }
  | {
      kind: 's3';
      endpoint: string;
      bucket: string;
      prefix: string;
      region: string;
      accessKeyId: string | undefined;
      secretAccessKey: string | undefined;
      sessionToken: string | undefined;
      caPem: string | undefined;
      insecureTLS: boolean;
    }
  | { kind: 'unsupported'; backend: BackendKind };

export interface ResolveOptions {
  /** Private directory for files derived from the Secret (ca.crt, GCS key). Created 0700. */
  scratchDir: string;
  /** `--option <backend>.connections=N` for any backend; overrides maxConnections of the spec. */
  connections?: number;
}

// Keys exported as-is when present, per backend (docs/api.md §3 "Backend Secret keys").
const SWIFT_KEYS = [
  'ST_AUTH',
  'ST_USER',
  'ST_KEY',
  'OS_AUTH_URL',
  'OS_REGION_NAME',
  'OS_USERNAME',
  'OS_PASSWORD',
  'OS_TENANT_ID',
  'OS_TENANT_NAME',
  'OS_USER_DOMAIN_NAME',
  'OS_PROJECT_NAME',
  'OS_PROJECT_DOMAIN_NAME',
  'OS_APPLICATION_CREDENTIAL_ID',
  'OS_APPLICATION_CREDENTIAL_NAME',
  'OS_APPLICATION_CREDENTIAL_SECRET',
  'OS_STORAGE_URL',
  'OS_AUTH_TOKEN',
  'SWIFT_DEFAULT_CONTAINER_POLICY',
];

/** Secret keys whose values are credentials (everything we export except names/regions/ids is treated so). */
const NOT_SECRET = new Set([
  'GOOGLE_PROJECT_ID',
  'AZURE_ACCOUNT_NAME',
  'OS_AUTH_URL',
  'OS_REGION_NAME',
  'OS_USERNAME',
  'OS_TENANT_ID',
  'OS_TENANT_NAME',
  'OS_USER_DOMAIN_NAME',
  'OS_PROJECT_NAME',
  'OS_PROJECT_DOMAIN_NAME',
  'ST_AUTH',
  'ST_USER',
  'REST_SERVER_USERNAME',
  'SWIFT_DEFAULT_CONTAINER_POLICY',
  'OS_STORAGE_URL',
  'AWS_DEFAULT_REGION',
  'CA_CERT_DATA',
]);

/**
 * The resolved repository. `repository`, `env` and `access` carry credentials, so JSON and inspect
 * show only the safe view (kind, display location, flags): logging the object cannot leak a secret.
 */
export class ResolvedRepository {
  readonly kind: BackendKind;
  /** restic's repository string; for REST it embeds the credentials. Goes into RESTIC_REPOSITORY only. */
  readonly repository: string;
  /** The location without credentials, for logs and messages. */
  readonly display: string;
  /** RESTIC_REPOSITORY, RESTIC_PASSWORD and the provider credentials. */
  readonly env: Readonly<Record<string, string>>;
  /** Non-secret global flags. */
  readonly globalArgs: readonly string[];
  readonly access: DirectAccess;
  readonly redact: Redactor;
  /** Files written into the scratch dir. */
  readonly files: readonly string[];

  constructor(init: {
    kind: BackendKind;
    repository: string;
    display: string;
    env: Record<string, string>;
    globalArgs: string[];
    access: DirectAccess;
    secrets: string[];
    files: string[];
  }) {
    this.kind = init.kind;
    this.repository = init.repository;
    this.display = init.display;
    this.env = Object.freeze({ ...init.env });
    this.globalArgs = Object.freeze([...init.globalArgs]);
    this.access = init.access;
    this.redact = makeRedactor(init.secrets);
    this.files = Object.freeze([...init.files]);
  }

  toJSON(): { kind: BackendKind; repository: string; globalArgs: readonly string[] } {
    return { kind: this.kind, repository: this.display, globalArgs: this.globalArgs };
  }

  [inspect.custom](): string {
    return `ResolvedRepository(${this.kind} ${this.display})`;
  }
}

function text(v: string | Uint8Array | undefined): string | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : Buffer.from(v).toString('utf8');
}

function trimSlashes(s: string | undefined): string {
  return (s ?? '').replace(/^\/+|\/+$/g, '');
}

function validConnections(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n > 0;
}

/** The single provider block set in the spec, or a ConfigError. */
export function backendKindOf(spec: BackendSpec): BackendKind {
  const set = KINDS.filter((k) => spec[k] !== undefined && spec[k] !== null);
  if (set.length !== 1) {
    throw new ConfigError([
      `spec.backend must set exactly one of ${KINDS.join(', ')} (found ${set.length === 0 ? 'none' : set.join(', ')})`,
    ]);
  }
  return set[0] as BackendKind;
}

export async function resolveRepository(
  spec: BackendSpec,
  secretData: SecretData,
  opts: ResolveOptions,
): Promise<ResolvedRepository> {
  const kind = backendKindOf(spec);
  const sec = (k: string) => {
    const v = text(secretData[k]);
    return v === undefined || v === '' ? undefined : v;
  };
  const problems: string[] = [];
  const env: Record<string, string> = {};
  const globalArgs: string[] = [];
  const files: string[] = [];
  const exportIfPresent = (k: string) => {
    const v = sec(k);
    if (v !== undefined) env[k] = v;
  };

  const password = sec('RESTIC_PASSWORD');
  if (password === undefined) problems.push('backend Secret: RESTIC_PASSWORD is required');
  else env.RESTIC_PASSWORD = password;

  let repository = '';
  let display = '';
  let access: DirectAccess = { kind: 'unsupported', backend: kind };
  let connections: number | undefined;
  let connectionsKey: string = kind;
  const caPem = sec('CA_CERT_DATA');
  let insecureTLS = false;

  switch (kind) {
    case 'local': {
      const l = spec.local!;
      if (!l.mountPath || !isAbsolute(l.mountPath))
        problems.push('spec.backend.local.mountPath must be an absolute path');
      else if (l.mountPath === '/stash' || l.mountPath.startsWith('/stash/'))
        problems.push('spec.backend.local.mountPath must not be /stash or under it');
      repository = l.mountPath;
      display = repository;
      access = { kind: 'local', path: l.mountPath };
      break;
    }
    case 's3': {
      const s = spec.s3!;
      if (!s.endpoint) problems.push('spec.backend.s3.endpoint is required');
      if (!s.bucket) problems.push('spec.backend.s3.bucket is required');
      const endpoint = (s.endpoint ?? '').replace(/\/+$/, '');
      const prefix = trimSlashes(s.prefix);
      repository = `s3:${endpoint}/${s.bucket}${prefix ? `/${prefix}` : ''}`;
      display = repository;
      if (s.region) env.AWS_DEFAULT_REGION = s.region;
      const id = sec('AWS_ACCESS_KEY_ID');
      const key = sec('AWS_SECRET_ACCESS_KEY');
      // restic refuses half a key pair; absent both, it falls back to IAM/IRSA credentials.
      if ((id === undefined) !== (key === undefined))
        problems.push('backend Secret: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither');
      exportIfPresent('AWS_ACCESS_KEY_ID');
      exportIfPresent('AWS_SECRET_ACCESS_KEY');
      exportIfPresent('AWS_SESSION_TOKEN');
      insecureTLS = s.insecureTLS === true;
      const url = /^[a-z]+:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`;
      access = {
        kind: 's3',
        endpoint: url,
        bucket: s.bucket,
        prefix,
        region: s.region || 'us-east-1',
        accessKeyId: id,
        secretAccessKey: key,
        sessionToken: sec('AWS_SESSION_TOKEN'),
        caPem,
        insecureTLS,
      };
      break;
    }
    case 'gcs': {
      const g = spec.gcs!;
      if (!g.bucket) problems.push('spec.backend.gcs.bucket is required');
      repository = `gs:${g.bucket}:/${trimSlashes(g.prefix)}`;
      display = repository;
      exportIfPresent('GOOGLE_PROJECT_ID');
      const key = sec('GOOGLE_SERVICE_ACCOUNT_JSON_KEY');
      if (key !== undefined) {
        await mkdir(opts.scratchDir, { recursive: true, mode: 0o700 });
        const f = join(opts.scratchDir, 'gcs-service-account.json');
        await writeFile(f, key, { mode: 0o600 });
        files.push(f);
        env.GOOGLE_APPLICATION_CREDENTIALS = f;
      }
      connections = g.maxConnections;
      connectionsKey = 'gs';
      break;
    }
    case 'azure': {
      const a = spec.azure!;
      if (!a.container) problems.push('spec.backend.azure.container is required');
      repository = `azure:${a.container}:/${trimSlashes(a.prefix)}`;
      display = repository;
      if (sec('AZURE_ACCOUNT_NAME') === undefined) problems.push('backend Secret: AZURE_ACCOUNT_NAME is required');
      exportIfPresent('AZURE_ACCOUNT_NAME');
      exportIfPresent('AZURE_ACCOUNT_KEY');
      exportIfPresent('AZURE_ACCOUNT_SAS');
      connections = a.maxConnections;
      break;
    }
    case 'swift': {
      const w = spec.swift!;
      if (!w.container) problems.push('spec.backend.swift.container is required');
      repository = `swift:${w.container}:/${trimSlashes(w.prefix)}`;
      display = repository;
      for (const k of SWIFT_KEYS) exportIfPresent(k);
      break;
    }
    case 'b2': {
      const b = spec.b2!;
      if (!b.bucket) problems.push('spec.backend.b2.bucket is required');
      repository = `b2:${b.bucket}:/${trimSlashes(b.prefix)}`;
      display = repository;
      for (const k of ['B2_ACCOUNT_ID', 'B2_ACCOUNT_KEY']) {
        if (sec(k) === undefined) problems.push(`backend Secret: ${k} is required for b2`);
        exportIfPresent(k);
      }
      connections = b.maxConnections;
      break;
    }
    case 'rest': {
      const r = spec.rest!;
      let u: URL | undefined;
      try {
        u = new URL(r.url);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      } catch {
        problems.push('spec.backend.rest.url must be an http:// or https:// URL');
      }
      const user = sec('REST_SERVER_USERNAME');
      const pass = sec('REST_SERVER_PASSWORD');
      if (u) {
        if (u.username || u.password)
          problems.push(
            'spec.backend.rest.url must not carry credentials: put them in REST_SERVER_USERNAME/REST_SERVER_PASSWORD',
          );
        if (!u.pathname.endsWith('/')) u.pathname += '/';
        display = `rest:${u.toString()}`;
        // Percent-encode like Go's url.UserPassword (upstream): the WHATWG setters would leave a "%"
        // unescaped, which Go's parser then rejects as a bad escape.
        const userinfo =
          user !== undefined || pass !== undefined
            ? `${encodeURIComponent(user ?? '')}${pass !== undefined ? `:${encodeURIComponent(pass)}` : ''}@`
            : '';
        repository = `rest:${u.protocol}//${userinfo}${u.host}${u.pathname}${u.search}`;
        access = { kind: 'rest', url: u.toString(), username: user, password: pass, caPem, insecureTLS: false };
      }
      break;
    }
  }

  if (opts.connections !== undefined) connections = opts.connections;
  if (connections !== undefined) {
    if (!validConnections(connections))
      problems.push(`maxConnections must be a positive integer, got ${JSON.stringify(connections)}`);
    else globalArgs.push('--option', `${connectionsKey}.connections=${connections}`);
  }
  if (caPem !== undefined) {
    await mkdir(opts.scratchDir, { recursive: true, mode: 0o700 });
    const f = join(opts.scratchDir, 'ca.crt');
    await writeFile(f, caPem, { mode: 0o600 });
    files.push(f);
    globalArgs.push('--cacert', f);
  }
  if (insecureTLS) globalArgs.push('--insecure-tls');
  if (problems.length > 0) throw new ConfigError(problems);

  env.RESTIC_REPOSITORY = repository;
  const secrets = Object.entries(env)
    .filter(([k]) => !NOT_SECRET.has(k) && k !== 'RESTIC_REPOSITORY' && k !== 'GOOGLE_APPLICATION_CREDENTIALS')
    .map(([, v]) => v);
  const rp = sec('REST_SERVER_PASSWORD');
  if (rp !== undefined) secrets.push(rp);
  return new ResolvedRepository({ kind, repository, display, env, globalArgs, access, secrets, files });
}
