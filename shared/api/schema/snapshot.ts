// Snapshot, repositories.stash.appscode.com/v1alpha1: one restic snapshot of a Repository, as a CustomResource
// the operator keeps in step with the backend (docs/decisions/0010-snapshots-as-custom-resources.md). Kept apart
// from the stash.appscode.com kinds: another group, no spec, and written only by the operator.

import { Type, type Static } from '@sinclair/typebox';
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { int32, int64, obj, str, strs, time } from './helpers.ts';

import { SNAPSHOT_GROUP, SNAPSHOT_KIND, SNAPSHOT_PLURAL, SNAPSHOT_VERSION } from '../snapshot-names.ts';

export const SnapshotStatusSchema = obj('The restic snapshot as `restic snapshots --json` reports it.', {
  id: str('Full restic snapshot id (64 hex).'),
  shortId: str('First 8 hex of the id, as restic prints it.'),
  snapshotTime: time('When restic took the snapshot.'),
  repository: str('Name of the Repository (same namespace) the snapshot lives in.'),
  hostname: str('restic host of the snapshot (the target alias, alias-<ordinal>, node name …).'),
  paths: strs('Paths the snapshot holds.'),
  tree: str('Id of the root tree.'),
  parent: str('Id of the parent snapshot, when restic used one.'),
  uid: int32('User id restic ran as.'),
  gid: int32('Group id restic ran as.'),
  username: str('User name restic ran as.'),
  tags: strs('restic tags of the snapshot.'),
  totalFiles: int64('Files in the snapshot (restic 0.17+ records it; absent otherwise).'),
  size: str('Data processed for the snapshot, e.g. 12.345 MiB (restic 0.17+; absent otherwise).'),
  programVersion: str('restic version that wrote the snapshot (0.16+).'),
});

export const SnapshotSchema = obj('One restic snapshot of a Repository; deleting it forgets the snapshot.', {
  apiVersion: str('repositories.stash.appscode.com/v1alpha1.'),
  kind: str('Snapshot.'),
  metadata: Type.Unsafe<V1ObjectMeta>({ type: 'object' }),
  status: SnapshotStatusSchema,
});

export type SnapshotStatus = Static<typeof SnapshotStatusSchema>;
export type Snapshot = Omit<Static<typeof SnapshotSchema>, 'metadata'> & { metadata: V1ObjectMeta };

/** `kubectl get snapshots` columns, as upstream prints them. */
export const SNAPSHOT_PRINTER_COLUMNS: Array<{ name: string; type: 'string' | 'date'; jsonPath: string }> = [
  { name: 'ID', type: 'string', jsonPath: '.status.shortId' },
  { name: 'Repository', type: 'string', jsonPath: '.status.repository' },
  { name: 'Hostname', type: 'string', jsonPath: '.status.hostname' },
  { name: 'Created At', type: 'date', jsonPath: '.status.snapshotTime' },
];

export const SNAPSHOT_CRD_NAME = `${SNAPSHOT_PLURAL}.${SNAPSHOT_GROUP}`;

export function buildSnapshotCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: SNAPSHOT_CRD_NAME,
      labels: { 'app.kubernetes.io/name': 'stash', 'app.kubernetes.io/part-of': 'stash-ts' },
    },
    spec: {
      group: SNAPSHOT_GROUP,
      names: {
        kind: SNAPSHOT_KIND,
        listKind: `${SNAPSHOT_KIND}List`,
        plural: SNAPSHOT_PLURAL,
        singular: 'snapshot',
        categories: ['stash', 'appscode'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: SNAPSHOT_VERSION,
          served: true,
          storage: true,
          // No status subresource: only the operator writes Snapshots, and one create carrying the status keeps a
          // sync of a thousand snapshots at a thousand requests.
          additionalPrinterColumns: SNAPSHOT_PRINTER_COLUMNS,
          schema: { openAPIV3Schema: JSON.parse(JSON.stringify(SnapshotSchema)) as Record<string, unknown> },
        },
      ],
    },
  };
}

export function renderSnapshotCrd(header: string): [string, string] {
  return [`${SNAPSHOT_CRD_NAME}.yaml`, header + stringify(buildSnapshotCrd(), { lineWidth: 0 })];
}
