// The rules an apiextensions.k8s.io/v1 CRD schema must follow to be *structural* (what the apiserver enforces when
// the CRD is created), plus our own house rule that every field has a description so `kubectl explain` is useful.
// Checked by the CRD generator and its test, so a schema change that would be rejected fails before a cluster.

import { check } from './check.ts';

type Schema = Record<string, unknown>;

/** Keys apiextensions v1 JSONSchemaProps accepts (others are dropped or rejected by the apiserver). */
const ALLOWED = new Set([
  'description',
  'type',
  'format',
  'title',
  'default',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'multipleOf',
  'enum',
  'maxProperties',
  'minProperties',
  'required',
  'items',
  'allOf',
  'oneOf',
  'anyOf',
  'not',
  'properties',
  'additionalProperties',
  'example',
  'nullable',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-list-type',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);

export function structuralProblems(root: object): string[] {
  const problems: string[] = [];
  const schema = root as Schema;
  if (schema['type'] !== 'object') problems.push('<root>: type must be object');
  const metadata = (schema['properties'] as Record<string, Schema> | undefined)?.['metadata'];
  if (metadata && JSON.stringify(metadata) !== JSON.stringify({ type: 'object' })) {
    problems.push('metadata: must be exactly {type: object}; the apiserver owns its schema');
  }
  visit(schema, '<root>', true, problems);
  return problems;
}

function visit(node: Schema, path: string, isField: boolean, out: string[]): void {
  for (const key of Object.keys(node)) {
    if (!ALLOWED.has(key)) out.push(`${path}: keyword "${key}" is not allowed in a CRD schema`);
  }
  const intOrString = node['x-kubernetes-int-or-string'] === true;
  const preserve = node['x-kubernetes-preserve-unknown-fields'] === true;
  const type = node['type'];
  if (intOrString) {
    if (type !== undefined) out.push(`${path}: x-kubernetes-int-or-string must not also set type`);
  } else if (type === undefined) {
    if (!preserve) out.push(`${path}: type is required`);
  } else if (typeof type !== 'string' || !TYPES.has(type)) {
    out.push(`${path}: unknown type ${JSON.stringify(type)}`);
  }
  for (const junctor of ['allOf', 'anyOf', 'oneOf', 'not']) {
    if (junctor in node)
      out.push(`${path}: ${junctor} is not used by our schemas (structural rules restrict what it may contain)`);
  }
  if (isField && path !== 'metadata' && path !== '<root>' && typeof node['description'] !== 'string') {
    out.push(`${path}: every field needs a description (kubectl explain shows it)`);
  }
  const properties = node['properties'] as Record<string, Schema> | undefined;
  const additional = node['additionalProperties'];
  if (properties && additional !== undefined)
    out.push(`${path}: properties and additionalProperties are mutually exclusive`);
  if ((properties || additional !== undefined) && type !== 'object') out.push(`${path}: properties need type object`);
  if (type === 'array' && typeof node['items'] !== 'object') out.push(`${path}: an array needs items`);
  if (node['items'] !== undefined && type !== 'array') out.push(`${path}: items need type array`);
  if (node['uniqueItems'] === true) out.push(`${path}: uniqueItems true is forbidden`);
  const required = node['required'] as string[] | undefined;
  for (const name of required ?? []) {
    if (!properties?.[name]) out.push(`${path}: required field ${name} is not among the properties`);
  }
  const enumValues = node['enum'] as unknown[] | undefined;
  for (const value of enumValues ?? []) {
    const problem = check({ ...node, enum: undefined }, value)[0];
    if (problem) out.push(`${path}: enum value ${JSON.stringify(value)} does not fit the node: ${problem.message}`);
  }
  if ('default' in node) {
    const problem = check(node, node['default'])[0];
    if (problem) out.push(`${path}: default ${JSON.stringify(node['default'])} is invalid: ${problem.message}`);
  }
  for (const [name, child] of Object.entries(properties ?? {})) {
    visit(child, path === '<root>' ? name : `${path}.${name}`, true, out);
  }
  if (typeof additional === 'object' && additional !== null) visit(additional as Schema, `${path}{*}`, false, out);
  if (typeof node['items'] === 'object' && node['items'] !== null)
    visit(node['items'] as Schema, `${path}[*]`, false, out);
}
