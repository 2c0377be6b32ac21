// The one test for "a JSON object" (not null, not an array) that every reader of untyped input uses.

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
