// Configuration is read once, at start, from the environment (the only reader of process.env), checked
// whole, and handed down frozen. Every problem is reported together in one ConfigError.
import { hostname } from 'node:os';
import { ConfigError } from './errors.ts';
import { parseGoDuration } from './status/duration.ts';

export const DEFAULT_AGENT_IMAGE = 'stash-ts/agent:0.1.0';

export interface OperatorConfig {
  readonly kubeconfig: string | undefined;
  readonly namespace: string;
  readonly identity: string;
  readonly host: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  readonly agentImage: string;
  readonly logLevel: string;
  readonly leaderElection: boolean;
  readonly leaseName: string;
  /** STASH_HOST_LIVENESS_TIMEOUT: how long a session host may go without a heartbeat; undefined = the contract's default. */
  readonly hostLivenessMs: number | undefined;
}

type Env = Record<string, string | undefined>;

function port(env: Env, key: string, fallback: number, problems: string[]): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) problems.push(`${key} must be a port number (0-65535), got "${raw}"`);
  return n;
}

function bool(env: Env, key: string, fallback: boolean, problems: string[]): boolean {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  problems.push(`${key} must be true or false, got "${raw}"`);
  return fallback;
}

/** A Go duration ("90s", "2m") or a whole number of milliseconds; must be positive. */
function duration(env: Env, key: string, problems: string[]): number | undefined {
  const raw = env[key];
  if (raw === undefined || raw === '') return undefined;
  const ms = /^\d+$/.test(raw) ? Number(raw) : parseGoDuration(raw);
  if (ms === undefined || !(ms > 0)) {
    problems.push(`${key} must be a positive Go duration (e.g. 90s, 2m) or milliseconds, got "${raw}"`);
    return undefined;
  }
  return ms;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export function operatorConfig(env: Env = process.env): OperatorConfig {
  const problems: string[] = [];
  const logLevel = env.STASH_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel))
    problems.push(`STASH_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  const cfg: OperatorConfig = {
    kubeconfig: env.STASH_KUBECONFIG || env.KUBECONFIG || undefined,
    namespace: env.STASH_NAMESPACE || env.POD_NAMESPACE || 'stash-system',
    identity: env.POD_NAME || `${hostname()}-${process.pid}`,
    host: env.STASH_WEBHOOK_HOST || '0.0.0.0',
    port: port(env, 'STASH_WEBHOOK_PORT', 8443, problems),
    metricsPort: port(env, 'STASH_METRICS_PORT', 8080, problems),
    tlsCertFile: env.STASH_TLS_CERT_FILE || '/var/serving-cert/tls.crt',
    tlsKeyFile: env.STASH_TLS_KEY_FILE || '/var/serving-cert/tls.key',
    agentImage: env.STASH_AGENT_IMAGE || DEFAULT_AGENT_IMAGE,
    logLevel,
    leaderElection: bool(env, 'STASH_LEADER_ELECTION', true, problems),
    leaseName: env.STASH_LEASE_NAME || 'stash-operator',
    hostLivenessMs: duration(env, 'STASH_HOST_LIVENESS_TIMEOUT', problems),
  };
  if (problems.length) throw new ConfigError(problems);
  return Object.freeze(cfg);
}

export interface AgentEnv {
  readonly kubeconfig: string | undefined;
  readonly podName: string;
  readonly nodeName: string;
  readonly namespace: string | undefined;
  readonly podOrdinal: string | undefined;
  readonly logLevel: string;
  readonly niceAdjustment: number | undefined;
  readonly ioniceClass: number | undefined;
  readonly ioniceClassData: number | undefined;
  readonly resticBinary: string;
}

function optInt(env: Env, key: string, problems: string[]): number | undefined {
  const raw = env[key];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) problems.push(`${key} must be an integer, got "${raw}"`);
  return n;
}

/** What an agent container learns from its environment (downward API and runtime settings, docs/api.md §11). */
export function agentEnv(env: Env = process.env): AgentEnv {
  const problems: string[] = [];
  const cfg: AgentEnv = {
    kubeconfig: env.KUBECONFIG || undefined,
    podName: env.POD_NAME || hostname(),
    nodeName: env.NODE_NAME || hostname(),
    namespace: env.POD_NAMESPACE || undefined,
    podOrdinal: env.POD_ORDINAL || undefined,
    logLevel: env.STASH_LOG_LEVEL || 'info',
    niceAdjustment: optInt(env, 'NICE_ADJUSTMENT', problems),
    ioniceClass: optInt(env, 'IONICE_CLASS', problems),
    ioniceClassData: optInt(env, 'IONICE_CLASS_DATA', problems),
    resticBinary: env.STASH_RESTIC_BINARY || 'restic',
  };
  if (problems.length) throw new ConfigError(problems);
  return Object.freeze(cfg);
}
