// Typed errors shared by the operator and the agent. Each carries a stable `code` so callers branch on
// the kind of failure rather than on message text, and a `cause` so the original error is never lost.

export class StashError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Configuration that cannot work; lists every problem at once. */
export class ConfigError extends StashError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n- ${problems.join('\n- ')}`);
    this.problems = problems;
  }
}

/** A call to the Kubernetes API failed; `status` is the HTTP status when there was one. */
export class KubeError extends StashError {
  readonly status: number | undefined;
  /** The server's Retry-After (429, 503), when it sent one. */
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    status: number | undefined,
    options?: { cause?: unknown; retryAfterMs?: number | undefined },
  ) {
    super(status === undefined ? 'KUBE_UNREACHABLE' : `KUBE_${status}`, message, options);
    this.status = status;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** A user's resource is not valid; `field` is the JSON path of the offending field. */
export class ValidationError extends StashError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('VALIDATION_FAILED', `${field}: ${message}`);
    this.field = field;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  // Some libraries reject with plain events rather than Errors (a WebSocket's ErrorEvent carries `message`).
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string')
    return (err as { message: string }).message;
  return String(err);
}
