// The agent's logger: pino, with the project's redaction paths (shared/log-redact.ts), so no credential
// reaches a log line whatever a call site passes. Lines go synchronously to stdout (pino's sync
// destination), so a failing agent's last words are written before it exits.
import { pino, type Logger } from 'pino';
import { REDACT_PATHS } from '../shared/log-redact.ts';

export interface AgentLogOptions {
  level?: string;
  name?: string;
  /** Where lines go (default stdout); tests collect them. */
  sink?: (line: string) => void;
}

export function createAgentLogger(o: AgentLogOptions = {}): Logger {
  const level = o.level && (o.level in pino.levels.values || o.level === 'silent') ? o.level : 'info';
  const sink = o.sink;
  const destination = sink ? { write: (line: string) => sink(line) } : pino.destination({ fd: 1, sync: true });
  return pino({ level, name: o.name, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}
