// Our schemas use the Kubernetes vendor keywords and the int32/int64 formats, which Ajv (fastify's validator) does
// not know and, in strict mode, refuses. Pass these as `ajv.customOptions` to Fastify (or to `new Ajv()`) to compile
// them; Ajv then checks types, enums and required fields, and leaves the vendor keywords to the apiserver.
// For apiserver-exact results (unknown fields, int-or-string, null handling) use `check()` instead.

export const AJV_CUSTOM_OPTIONS: { keywords: string[]; formats: Record<string, true> } = {
  keywords: [
    'x-kubernetes-preserve-unknown-fields',
    'x-kubernetes-int-or-string',
    'x-kubernetes-embedded-resource',
    'x-kubernetes-list-type',
    'x-kubernetes-list-map-keys',
    'x-kubernetes-map-type',
  ],
  formats: { int32: true, int64: true },
};
