// The one root logger. Secrets must never reach a log line, so every path that can carry a credential
// is redacted here, once, rather than trusted to each call site.
import { pino, type Logger, type LoggerOptions } from 'pino';

export const REDACT_PATHS = [
  'password', '*.password', 'token', '*.token', 'authorization', '*.authorization',
  'headers.authorization', 'req.headers.authorization', 'req.headers.cookie',
  'env', '*.env', 'secret', '*.secret', 'data', 'stringData', '*.data', '*.stringData',
  'RESTIC_PASSWORD', '*.RESTIC_PASSWORD', 'AWS_SECRET_ACCESS_KEY', '*.AWS_SECRET_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID', '*.AWS_ACCESS_KEY_ID', 'AZURE_ACCOUNT_KEY', '*.AZURE_ACCOUNT_KEY',
  'B2_ACCOUNT_KEY', '*.B2_ACCOUNT_KEY', 'GOOGLE_SERVICE_ACCOUNT_JSON_KEY', '*.GOOGLE_SERVICE_ACCOUNT_JSON_KEY',
  'REST_SERVER_PASSWORD', '*.REST_SERVER_PASSWORD', 'OS_PASSWORD', '*.OS_PASSWORD', 'ST_KEY', '*.ST_KEY',
  'keyData', '*.keyData', 'certData', '*.certData', 'privateKey', '*.privateKey',
];

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
