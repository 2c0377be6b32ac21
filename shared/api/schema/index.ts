// The API as data: one JSON schema per kind, from which the static types (../types.ts) and the CRDs
// (manifests/crds, via crd.ts) are both derived.

import type { TSchema } from '@sinclair/typebox';
import type { StashKind } from '../constants.ts';
import { BackupBatchSchema, BackupConfigurationSchema, BackupSessionSchema } from './backup.ts';
import { RepositorySchema } from './repository.ts';
import { RestoreBatchSchema, RestoreSessionSchema } from './restore.ts';

export * from './backup.ts';
export * from './common.ts';
export * from './conditions.ts';
export * from './enums.ts';
export * from './repository.ts';
export * from './restore.ts';
export { check, withoutNulls, type SchemaProblem } from './check.ts';
export { structuralProblems } from './structural.ts';

export const SCHEMAS = {
  Repository: RepositorySchema,
  BackupConfiguration: BackupConfigurationSchema,
  BackupBatch: BackupBatchSchema,
  BackupSession: BackupSessionSchema,
  RestoreSession: RestoreSessionSchema,
  RestoreBatch: RestoreBatchSchema,
} as const satisfies Record<StashKind, TSchema>;
export { AJV_CUSTOM_OPTIONS } from './ajv.ts';
