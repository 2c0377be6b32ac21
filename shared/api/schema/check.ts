// Validates a value against one of our (structural) schemas the way the kube-apiserver does for a CRD with
// `fieldValidation=Strict`: nulls are treated as absent, unknown fields are errors unless the node preserves them,
// and problem paths use the apiserver's notation (`spec.members[0].target`). Lets unit tests and the admission
// webhook explain a bad object without a cluster; it does not apply defaults.

export interface SchemaProblem {
  /** Field path, e.g. `spec.members[1].target`. */
  path: string;
  /** `required`, `type`, `enum`, `unknown`, `format` or `range`. */
  kind: 'required' | 'type' | 'enum' | 'unknown' | 'format' | 'range';
  message: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = Record<string, unknown>;

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function check(schema: object, value: unknown): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  walk(schema as Schema, value as Json, '', problems);
  return problems;
}

function join(base: string, key: string): string {
  return base === '' ? key : `${base}.${key}`;
}

function typeOf(value: Json): string {
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function walk(schema: Schema, value: Json, path: string, out: SchemaProblem[]): void {
  const at = path === '' ? '<root>' : path;
  if (schema['x-kubernetes-int-or-string'] === true) {
    if (!(typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value)))) {
      out.push({ path: at, kind: 'type', message: `${at}: must be an integer or a string, got ${typeOf(value)}` });
    }
    return;
  }
  const type = schema['type'] as string | undefined;
  const actual = typeOf(value);
  if (type !== undefined) {
    const ok =
      type === actual ||
      (type === 'number' && actual === 'integer') ||
      (type === 'object' && actual === 'object' && value !== null);
    if (!ok) {
      out.push({ path: at, kind: 'type', message: `${at}: must be of type ${type}, got ${actual}` });
      return;
    }
  }
  const enumValues = schema['enum'] as Json[] | undefined;
  if (enumValues && !enumValues.includes(value)) {
    const allowed = enumValues.map((v) => JSON.stringify(v)).join(', ');
    out.push({
      path: at,
      kind: 'enum',
      message: `${at}: unsupported value ${JSON.stringify(value)}; supported values: ${allowed}`,
    });
  }
  if (typeof value === 'string') {
    if (schema['format'] === 'date-time' && !RFC3339.test(value)) {
      out.push({
        path: at,
        kind: 'format',
        message: `${at}: must be an RFC 3339 date-time, got ${JSON.stringify(value)}`,
      });
    }
    const minLength = schema['minLength'] as number | undefined;
    if (minLength !== undefined && value.length < minLength) {
      out.push({ path: at, kind: 'range', message: `${at}: must be at least ${minLength} characters long` });
    }
  }
  if (typeof value === 'number') {
    const minimum = schema['minimum'] as number | undefined;
    if (minimum !== undefined && value < minimum) {
      out.push({ path: at, kind: 'range', message: `${at}: must be greater than or equal to ${minimum}` });
    }
    if (schema['format'] === 'int32' && (value > 2 ** 31 - 1 || value < -(2 ** 31))) {
      out.push({ path: at, kind: 'range', message: `${at}: does not fit in int32` });
    }
  }
  if (Array.isArray(value)) {
    const items = schema['items'] as Schema | undefined;
    if (items) value.forEach((item, i) => walk(items, item, `${path}[${i}]`, out));
    return;
  }
  if (value !== null && typeof value === 'object') {
    const properties = (schema['properties'] ?? {}) as Record<string, Schema>;
    const additional = schema['additionalProperties'] as Schema | boolean | undefined;
    const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
    for (const name of (schema['required'] ?? []) as string[]) {
      if (value[name] === undefined || value[name] === null) {
        const field = join(path, name);
        out.push({ path: field, kind: 'required', message: `${field}: Required value` });
      }
    }
    for (const [key, child] of Object.entries(value)) {
      if (child === null) continue;
      // The apiserver validates ObjectMeta itself; a CRD schema may only say `type: object` for it.
      if (path === '' && key === 'metadata') continue;
      const field = join(path, key);
      const sub = properties[key];
      if (sub) walk(sub, child, field, out);
      else if (typeof additional === 'object') walk(additional, child, field, out);
      else if (!preserve && additional !== true) {
        out.push({ path: field, kind: 'unknown', message: `${field}: unknown field "${key}"` });
      }
    }
  }
}
