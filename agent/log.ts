// The agent's logger: pino's line format (level number, time, pid, hostname, name, bindings, fields, msg)
// and the same censored keys (shared/log-redact.ts), without loading pino. Every restore init-container
// and Job is a fresh process, and pino with its transport machinery was ~30 modules of start-up on that
// path. Only what the agent and the modules it uses call is provided: level methods and child().
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { REDACT_PATHS } from '../shared/log-redact.ts';

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const CENSOR = '[redacted]';
const PATHS = REDACT_PATHS.map((p) => p.split('.'));

type Fields = Record<string, unknown>;
type Sink = (line: string) => void;

/** A copy of `obj` with every value at one of `paths` censored ('*' matches any key at its level). */
function redactFields(obj: Fields, paths: string[][] = PATHS): Fields {
  const out: Fields = {};
  for (const [k, v] of Object.entries(obj)) {
    const here = paths.filter((p) => p[0] === k || p[0] === '*');
    if (here.some((p) => p.length === 1)) out[k] = CENSOR;
    else if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Error) && here.length > 0) {
      out[k] = redactFields(v as Fields, here.map((p) => p.slice(1)));
    } else out[k] = v;
  }
  return out;
}

function serializeError(e: Error): Fields {
  const out: Fields = { type: e.constructor?.name ?? 'Error', message: e.message, stack: e.stack };
  for (const [k, v] of Object.entries(e)) if (!(k in out)) out[k] = v;
  return out;
}

function stringify(o: Fields): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(o, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Error) return serializeError(v);
    if (v !== null && typeof v === 'object') {
      if (seen.has(v)) return '[Circular]';
      seen.add(v);
    }
    return v;
  });
}

export interface AgentLogOptions {
  level?: string;
  name?: string;
  /** Where lines go (default stdout, which is synchronous for files and pipes on Linux, as pino's default). */
  sink?: Sink;
}

class AgentLogger {
  readonly level: string;
  readonly #min: number;
  readonly #base: Fields;
  readonly #sink: Sink;

  constructor(level: string, base: Fields, sink: Sink) {
    this.level = level;
    this.#min = LEVELS[level] ?? LEVELS.info!;
    this.#base = base;
    this.#sink = sink;
  }

  #write(level: number, a: unknown, b: unknown): void {
    if (level < this.#min) return;
    let fields: Fields = {};
    let msg: unknown = b;
    if (typeof a === 'string') msg = a;
    else if (a instanceof Error) {
      fields = { err: a };
      msg ??= a.message;
    } else if (a !== null && typeof a === 'object') fields = a as Fields;
    const line = redactFields({ level, time: Date.now(), ...this.#base, ...fields });
    if (msg !== undefined) line.msg = String(msg);
    this.#sink(`${stringify(line)}\n`);
  }

  trace(a: unknown, b?: unknown): void {
    this.#write(10, a, b);
  }

  debug(a: unknown, b?: unknown): void {
    this.#write(20, a, b);
  }

  info(a: unknown, b?: unknown): void {
    this.#write(30, a, b);
  }

  warn(a: unknown, b?: unknown): void {
    this.#write(40, a, b);
  }

  error(a: unknown, b?: unknown): void {
    this.#write(50, a, b);
  }

  fatal(a: unknown, b?: unknown): void {
    this.#write(60, a, b);
  }

  child(bindings: Fields): AgentLogger {
    return new AgentLogger(this.level, { ...this.#base, ...bindings }, this.#sink);
  }
}

/**
 * Typed as pino's Logger because the shared modules (restic wrapper, Lease, informer) take one; they and
 * the agent only call the level methods and child(), which this implements.
 */
export function createAgentLogger(o: AgentLogOptions = {}): Logger {
  const level = o.level && o.level in LEVELS ? o.level : 'info';
  const base: Fields = { pid: process.pid, hostname: hostname(), ...(o.name ? { name: o.name } : {}) };
  const sink = o.sink ?? ((line: string) => void process.stdout.write(line));
  return new AgentLogger(level, base, sink) as unknown as Logger;
}
