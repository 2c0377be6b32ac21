// The one root logger. Secrets must never reach a log line, so every path that can carry a credential
// is redacted here, once, rather than trusted to each call site.
import { pino, type Logger, type LoggerOptions } from 'pino';

// The paths live in their own module: the agent builds its own pino instance (agent/log.ts) with them.
import { REDACT_PATHS } from './log-redact.ts';

export interface LogOptions {
  level?: string;
  name?: string;
  /** Where lines go; tests pass a stream to read them back. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: opts.name ? { name: opts.name } : undefined,
  };
  return opts.destination ? pino(options, opts.destination as pino.DestinationStream) : pino(options);
}

export type { Logger };
