// Validates a value against one of our (structural) schemas the way the kube-apiserver does for a CRD with
// `fieldValidation=Strict`: nulls are treated as absent, unknown fields are errors unless the node preserves them,
// and problem paths use the apiserver's notation (`spec.members[0].target`). Lets unit tests and the admission
// webhook explain a bad object without a cluster; it does not apply defaults.
//
// The checking itself is TypeBox's (TypeCompiler): each kind's schema is read once into a strict twin (objects
// closed unless they preserve unknown fields, int32 bounds, int-or-string and string enums as registered kinds,
// root metadata left to the apiserver), compiled, and its errors are translated into the apiserver's wording.
import { FormatRegistry, Kind, Type, TypeRegistry, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { isRecord } from '../../is-record.ts';

export interface SchemaProblem {
  /** Field path, e.g. `spec.members[1].target`. */
  path: string;
  /** `required`, `type`, `enum`, `unknown`, `format` or `range`. */
  kind: 'required' | 'type' | 'enum' | 'unknown' | 'format' | 'range';
  message: string;
  /** Where in the value, as a JSON pointer (`/spec/members/0/target`). */
  pointer: string;
}

type Schema = Record<string, unknown>;

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const INT32_MAX = 2 ** 31 - 1;
const INT32_MIN = -(2 ** 31);

const INT_OR_STRING = 'StashIntOrString';
const STRING_ENUM = 'StashStringEnum';
TypeRegistry.Set(
  INT_OR_STRING,
  (_schema, value) => typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value)),
);
TypeRegistry.Set<{ enum: unknown[] }>(STRING_ENUM, (schema, value) => schema.enum.includes(value));
FormatRegistry.Set('date-time', (value) => RFC3339.test(value));

/** The strict twin of a node of our JSON schema, as TypeBox kinds. */
function strict(node: Schema, root = false): TSchema {
  if (node['x-kubernetes-int-or-string'] === true) return { [Kind]: INT_OR_STRING } as unknown as TSchema;
  if (Array.isArray(node['enum'])) return { [Kind]: STRING_ENUM, enum: node['enum'] } as unknown as TSchema;
  switch (node['type']) {
    case 'string': {
      const options: Schema = {};
      if (typeof node['format'] === 'string') options['format'] = node['format'];
      if (typeof node['minLength'] === 'number') options['minLength'] = node['minLength'];
      return Type.String(options);
    }
    case 'integer':
    case 'number': {
      const int32 = node['format'] === 'int32';
      const minimum = typeof node['minimum'] === 'number' ? node['minimum'] : int32 ? INT32_MIN : undefined;
      const options = { ...(minimum === undefined ? {} : { minimum }), ...(int32 ? { maximum: INT32_MAX } : {}) };
      return node['type'] === 'integer' ? Type.Integer(options) : Type.Number(options);
    }
    case 'boolean':
      return Type.Boolean();
    case 'array':
      return Type.Array(isRecord(node['items']) ? strict(node['items']) : Type.Unknown());
    case 'object': {
      const properties = node['properties'];
      const additional = node['additionalProperties'];
      const open = node['x-kubernetes-preserve-unknown-fields'] === true || additional === true;
      if (isRecord(properties)) {
        const required = new Set(Array.isArray(node['required']) ? (node['required'] as string[]) : []);
        const mapped: Record<string, TSchema> = {};
        for (const [key, child] of Object.entries(properties)) {
          // The apiserver validates ObjectMeta itself; a CRD schema may only say `type: object` for it.
          const s = root && key === 'metadata' ? Type.Unknown() : strict(child as Schema);
          mapped[key] = required.has(key) ? s : Type.Optional(s);
        }
        return Type.Object(mapped, { additionalProperties: open });
      }
      if (isRecord(additional)) return Type.Record(Type.String(), strict(additional));
      return Type.Object({}, { additionalProperties: true });
    }
    default:
      return Type.Unknown();
  }
}

const compiled = new WeakMap<object, TypeCheck<TSchema>>();

function compile(schema: object): TypeCheck<TSchema> {
  let c = compiled.get(schema);
  if (!c) compiled.set(schema, (c = TypeCompiler.Compile(strict(schema as Schema, true))));
  return c;
}

/** The value with null object fields dropped: the apiserver treats them as absent. */
export function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = withoutNulls(v);
  return out;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** `/spec/members/0/target` in `value` → `spec.members[0].target` (array indexes in brackets). */
function fieldPath(pointer: string, value: unknown): string {
  let out = '';
  let cur = value;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out = Array.isArray(cur) ? `${out}[${seg}]` : out === '' ? seg : `${out}.${seg}`;
    cur = isRecord(cur) || Array.isArray(cur) ? (cur as Record<string, unknown>)[seg] : undefined;
  }
  return out === '' ? '<root>' : out;
}

function problemOf(e: ValueError, at: string): Omit<SchemaProblem, 'pointer'> {
  const got = typeOf(e.value);
  const s = e.schema as Schema & { [Kind]?: string };
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return { path: at, kind: 'required', message: `${at}: Required value` };
    case ValueErrorType.ObjectAdditionalProperties: {
      const key = at.slice(Math.max(at.lastIndexOf('.'), at.lastIndexOf(']')) + 1);
      return { path: at, kind: 'unknown', message: `${at}: unknown field "${key}"` };
    }
    case ValueErrorType.Kind:
      if (s[Kind] === INT_OR_STRING)
        return { path: at, kind: 'type', message: `${at}: must be an integer or a string, got ${got}` };
      if (typeof e.value !== 'string')
        return { path: at, kind: 'type', message: `${at}: must be of type string, got ${got}` };
      return {
        path: at,
        kind: 'enum',
        message: `${at}: unsupported value ${JSON.stringify(e.value)}; supported values: ${(s['enum'] as unknown[])
          .map((v) => JSON.stringify(v))
          .join(', ')}`,
      };
    case ValueErrorType.StringFormat:
      return {
        path: at,
        kind: 'format',
        message: `${at}: must be an RFC 3339 date-time, got ${JSON.stringify(e.value)}`,
      };
    case ValueErrorType.StringMinLength:
      return { path: at, kind: 'range', message: `${at}: must be at least ${String(s['minLength'])} characters long` };
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.NumberMaximum: {
      const v = e.value as number;
      const message =
        v > INT32_MAX || (v < INT32_MIN && s['minimum'] === INT32_MIN)
          ? 'does not fit in int32'
          : `must be greater than or equal to ${String(s['minimum'])}`;
      return { path: at, kind: 'range', message: `${at}: ${message}` };
    }
    case ValueErrorType.Boolean:
      return { path: at, kind: 'type', message: `${at}: must be true or false, got ${got}` };
    default: {
      const expected = typeof s['type'] === 'string' ? s['type'] : 'a valid value';
      return { path: at, kind: 'type', message: `${at}: must be of type ${expected}, got ${got}` };
    }
  }
}

/** Every problem of `value` against `schema`, one per field, in the apiserver's notation. */
export function check(schema: object, value: unknown): SchemaProblem[] {
  const input = withoutNulls(value);
  const problems: SchemaProblem[] = [];
  const seen = new Set<string>();
  for (const e of compile(schema).Errors(input)) {
    const at = fieldPath(e.path, input);
    if (seen.has(at)) continue; // a missing required field is also reported as the wrong type
    seen.add(at);
    problems.push({ ...problemOf(e, at), pointer: e.path });
  }
  return problems;
}
