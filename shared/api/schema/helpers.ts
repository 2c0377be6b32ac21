// Small builders over TypeBox so each schema file reads like the API table it implements.
//
// Kubernetes conventions are the opposite of TypeBox's defaults: almost every field is optional, so `obj()` makes
// every property optional unless it is wrapped in `req()`. Enums, maps, int-or-string values and embedded core
// types are emitted with `Type.Unsafe` so the JSON schema stays *structural* (a CRD may not use anyOf of literals or
// patternProperties) while the static type is still precise.

import { Type, type TObject, type TOptional, type TProperties, type TSchema, type TUnsafe } from '@sinclair/typebox';

const REQUIRED = new WeakSet<object>();

/** Brand that `obj()` reads (type level) to keep a property required. */
export type TReq<T extends TSchema> = T & { readonly __required: true };

/** Marks a property as required in the enclosing `obj()`. Clones, so a shared schema is not marked everywhere. */
export function req<T extends TSchema>(schema: T): TReq<T> {
  const copy = { ...schema };
  REQUIRED.add(copy);
  return copy as TReq<T>;
}

type Props<P extends TProperties> = {
  [K in keyof P]: P[K] extends { readonly __required: true } ? P[K] : TOptional<P[K]>;
};

export interface ObjOptions {
  /** Keep fields this schema does not list (only for embedded core types described at their first level). */
  preserveUnknown?: boolean;
}

/** An object with the given properties; all optional unless wrapped in `req()`. */
export function obj<P extends TProperties>(description: string, props: P, options: ObjOptions = {}): TObject<Props<P>> {
  const mapped: TProperties = {};
  for (const [key, value] of Object.entries(props)) {
    mapped[key] = REQUIRED.has(value) ? value : Type.Optional(value);
  }
  const extra = options.preserveUnknown ? { 'x-kubernetes-preserve-unknown-fields': true } : {};
  return Type.Object(mapped, { description, ...extra }) as unknown as TObject<Props<P>>;
}

/** Same schema with a description that fits where it is used. */
export function describe<T extends TSchema>(schema: T, description: string): T {
  const copy = { ...schema, description };
  if (REQUIRED.has(schema)) REQUIRED.add(copy);
  return copy;
}

export function str(description: string, options: { default?: string; format?: string; minLength?: number } = {}) {
  return Type.String({ description, ...options });
}

export function bool(description: string, options: { default?: boolean } = {}) {
  return Type.Boolean({ description, ...options });
}

export function int32(description: string, options: { default?: number; minimum?: number } = {}) {
  return Type.Integer({ description, format: 'int32', ...options });
}

export function int64(description: string, options: { default?: number; minimum?: number } = {}) {
  return Type.Integer({ description, format: 'int64', ...options });
}

/** RFC 3339 timestamp as the apiserver serialises metav1.Time. */
export function time(description: string) {
  return Type.String({ description, format: 'date-time' });
}

/** Go duration string (`30s`, `1h30m`, `831.018039ms`); Go has no `d` unit. */
export function duration(description: string) {
  return Type.String({ description });
}

export function arr<T extends TSchema>(description: string, items: T) {
  return Type.Array(items, { description });
}

export function strs(description: string) {
  return Type.Array(Type.String(), { description });
}

/** A string restricted to `values`; statically the union of the values. */
export function strEnum<const V extends readonly string[]>(
  values: V,
  description: string,
  options: { default?: V[number] } = {},
): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>({ type: 'string', enum: [...values], description, ...options });
}

/** map[string]string (labels, annotations, nodeSelector). */
export function strMap(description: string): TUnsafe<Record<string, string>> {
  return Type.Unsafe<Record<string, string>>({ type: 'object', description, additionalProperties: { type: 'string' } });
}

/** A port number or a named port (core IntOrString). */
export function intOrString(description: string): TUnsafe<number | string> {
  return Type.Unsafe<number | string>({ description, 'x-kubernetes-int-or-string': true });
}

/** A resource.Quantity (`1Gi`, `500m`, `2`): int-or-string on the wire. */
export function quantity(description: string): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({ description, 'x-kubernetes-int-or-string': true });
}

/** map[string]Quantity (resource requests and limits). */
export function quantityMap(description: string): TUnsafe<Record<string, string | number>> {
  return Type.Unsafe<Record<string, string | number>>({
    type: 'object',
    description,
    additionalProperties: { 'x-kubernetes-int-or-string': true },
  });
}

/**
 * An embedded Kubernetes object whose inner structure the apiserver already knows from core; we keep it as-is
 * instead of copying hundreds of schema lines. `T` is the @kubernetes/client-node model for static typing.
 */
export function opaque<T>(description: string): TUnsafe<T> {
  return Type.Unsafe<T>({ type: 'object', description, 'x-kubernetes-preserve-unknown-fields': true });
}

/** An embedded core type typed at its first level (`props`); its static type is the client-node model `T`. */
export function core<T>(description: string, props: TProperties, options: ObjOptions = {}): TUnsafe<T> {
  return Type.Unsafe<T>(obj(description, props, options));
}
