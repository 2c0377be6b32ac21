// How to reach the apiserver, read from a kubeconfig file or the pod's service account.
//
// Why our own reader and client (client.ts) instead of @kubernetes/client-node: importing client-node,
// through any entry point (dist/config.js included), raises a Node process's resident memory by about
// 80 MiB (measured: max RSS 43 → 128 MB) and costs up to 1.5 s of start-up. The agent runs as a sidecar
// in EVERY backed-up pod and as every restore init-container, so each of them would pay it; the few
// requests the agent makes (get/list/watch/patch, status subresource, Leases, Events) need ~300 lines.
// client-node is still loaded on demand for what only it does: exec into another container (hooks.ts).
//
// Supported credentials: client certificate and key, bearer token (inline or tokenFile), the
// service-account token (re-read on every request), CA data or file, insecure-skip-tls-verify. Exec
// credential plugins, auth-provider entries (gcp, azure, oidc) and basic auth are rejected with an error
// naming the user entry instead of being ignored, which would otherwise surface later as a puzzling 401.
// Agents and the operator run in-cluster; tools get a certificate or token kubeconfig.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { homedir } from 'node:os';
import { createRequire } from 'node:module';
import { ConfigError } from '../errors.ts';

export interface Connection {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  /** Re-read on every request: projected service-account tokens rotate. */
  tokenFile?: string;
  insecureSkipTlsVerify?: boolean;
  /** Where it came from, so a library that needs its own loader (client-node's Exec) can load the same. */
  source: { kind: 'file'; path: string } | { kind: 'in-cluster' };
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface Named<T> {
  name: string;
  [k: string]: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}
interface RawCluster {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
}
interface RawUser {
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  token?: string;
  tokenFile?: string;
  exec?: unknown;
  'auth-provider'?: { name?: string };
  username?: string;
  password?: string;
}
interface RawContext {
  cluster?: string;
  user?: string;
}
interface RawConfig {
  'current-context'?: string;
  clusters?: Array<Named<RawCluster>>;
  users?: Array<Named<RawUser>>;
  contexts?: Array<Named<RawContext>>;
}

function fileOrData(base: string, file: string | undefined, data: string | undefined): Buffer | undefined {
  if (data) return Buffer.from(data, 'base64');
  if (file) return readFileSync(isAbsolute(file) ? file : join(base, file));
  return undefined;
}

/** JSON is valid YAML and parses for free; the YAML parser is loaded only for a YAML file. */
function parseConfig(text: string): RawConfig {
  try {
    return JSON.parse(text) as RawConfig;
  } catch {
    const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
    return parse(text) as RawConfig;
  }
}

export function loadKubeconfigFile(path: string): Connection {
  const raw = parseConfig(readFileSync(path, 'utf8'));
  const base = dirname(path);
  const ctxName = raw['current-context'];
  const ctx = raw.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new ConfigError([`kubeconfig ${path}: current-context "${ctxName ?? ''}" not found`]);
  const cluster = raw.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  const user = raw.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (!cluster?.server) throw new ConfigError([`kubeconfig ${path}: cluster "${ctx.cluster ?? ''}" has no server`]);
  const who = `kubeconfig ${path}: user "${ctx.user ?? ''}"`;
  if (user.exec)
    throw new ConfigError([
      `${who} uses an exec credential plugin, which is not supported; use a certificate or token`,
    ]);
  if (user['auth-provider']) {
    throw new ConfigError([
      `${who} uses auth-provider "${user['auth-provider'].name ?? ''}", which is not supported; use a certificate or token`,
    ]);
  }
  if (user.username !== undefined || user.password !== undefined) {
    throw new ConfigError([
      `${who} uses basic auth (username/password), which is not supported; use a certificate or token`,
    ]);
  }
  return {
    server: cluster.server,
    ca: fileOrData(base, cluster['certificate-authority'], cluster['certificate-authority-data']),
    cert: fileOrData(base, user['client-certificate'], user['client-certificate-data']),
    key: fileOrData(base, user['client-key'], user['client-key-data']),
    token: user.token,
    tokenFile: user.tokenFile,
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    source: { kind: 'file', path },
  };
}

export function loadInCluster(env: Record<string, string | undefined> = process.env): Connection {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new ConfigError(['not in a cluster (KUBERNETES_SERVICE_HOST unset) and no kubeconfig given']);
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(join(SA_DIR, 'ca.crt')),
    tokenFile: join(SA_DIR, 'token'),
    source: { kind: 'in-cluster' },
  };
}

/** An explicit path, else $KUBECONFIG, else in-cluster, else ~/.kube/config. */
export function loadConnection(path?: string, env: Record<string, string | undefined> = process.env): Connection {
  if (path) return loadKubeconfigFile(path);
  if (env.KUBECONFIG) return loadKubeconfigFile(env.KUBECONFIG.split(':')[0]!);
  if (env.KUBERNETES_SERVICE_HOST) return loadInCluster(env);
  return loadKubeconfigFile(join(env.HOME ?? homedir(), '.kube', 'config'));
}
