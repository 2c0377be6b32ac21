// BackupBlueprint, stash.appscode.com/v1beta1, cluster-scoped (docs/api.md §8.1): the template of the Repository and
// BackupConfiguration the operator creates for every workload, PVC or AppBinding annotated with its name. String
// fields may hold ${TARGET_*} variables, substituted per target. No status, as upstream.

import { Type, type Static } from '@sinclair/typebox';
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { duration, int32, obj, req, str } from './helpers.ts';
import {
  EmptyDirSettingsSchema,
  InterimVolumeTemplateSchema,
  RetentionPolicySchema,
  RetryConfigSchema,
  RuntimeSettingsSchema,
  TaskRefSchema,
  BackupHooksSchema,
} from './common.ts';
import { BackendSchema, UsagePolicySchema } from './repository.ts';
import { bool, describe } from './helpers.ts';

export const BackupBlueprintSpecSchema = obj('Blueprint of the Repository and BackupConfiguration of each target.', {
  // Repository part (upstream inlines RepositorySpec).
  backend: req(describe(BackendSchema, 'Backend of every Repository made from this blueprint; ${TARGET_*} allowed.')),
  wipeOut: bool('wipeOut of the Repositories made from this blueprint.', { default: false }),
  usagePolicy: UsagePolicySchema,
  repoNamespace: str("Namespace the Repository is created in; the target's namespace when empty."),
  // BackupConfiguration part.
  schedule: str('Cron schedule of the BackupConfigurations; a target may override it (stash.appscode.com/schedule).'),
  task: TaskRefSchema,
  retentionPolicy: req(RetentionPolicySchema),
  runtimeSettings: RuntimeSettingsSchema,
  tempDir: EmptyDirSettingsSchema,
  interimVolumeTemplate: InterimVolumeTemplateSchema,
  backupHistoryLimit: int32('backupHistoryLimit of the BackupConfigurations.', { minimum: 0 }),
  timeOut: duration('timeOut of the BackupConfigurations, as a Go duration.'),
  retryConfig: RetryConfigSchema,
  hooks: describe(BackupHooksSchema, 'Hooks of the BackupConfigurations.'),
});

export const BackupBlueprintSchema = obj(
  'A template for auto-backup: one Repository and BackupConfiguration per annotated target.',
  {
    apiVersion: str('Versioned schema of this object, e.g. stash.appscode.com/v1beta1.'),
    kind: str('Kind of this object.'),
    metadata: Type.Unsafe<V1ObjectMeta>({ type: 'object' }),
    spec: req(BackupBlueprintSpecSchema),
  },
);

export type BackupBlueprint = Static<typeof BackupBlueprintSchema>;
