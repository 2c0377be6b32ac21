// Public face of the API package: names (constants), schemas, enums and condition catalogue, and static types.

export * from './constants.ts';
export * from './schema/index.ts';
export type * from './types.ts';
