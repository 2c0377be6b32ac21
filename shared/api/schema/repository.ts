// Repository, stash.appscode.com/v1alpha1 (docs/api.md §3).

import { LabelSelector, VolumeSourceProps } from './core.ts';
import { NAMESPACE_FROM } from './enums.ts';
import { arr, bool, describe, int32, int64, obj, req, str, strEnum, time } from './helpers.ts';
import { kindSchema } from './common.ts';

const prefix = (what: string) => str(`Path prefix inside the ${what} under which the repository lives.`);
const maxConnections = (flag: string) =>
  int32(`Concurrent connections restic opens to the backend (${flag}); restic's default is 5.`, { minimum: 1 });

export const LocalSpecSchema = obj(
  'A volume mounted into the Stash container as the repository: any core volume source (hostPath, persistentVolumeClaim, nfs, …) plus where to mount it.',
  {
    ...VolumeSourceProps,
    mountPath: req(
      str(
        'Where the volume is mounted in the Stash container; the repository lives there. Must not be /stash or below it.',
      ),
    ),
    subPath: str('Sub-directory of the volume to use instead of its root.'),
  },
);

export const S3SpecSchema = obj('An S3-compatible bucket (AWS, MinIO, Rook, DigitalOcean Spaces …).', {
  endpoint: req(str('S3 endpoint, e.g. s3.amazonaws.com or http://minio.storage:9000 (scheme optional).')),
  bucket: req(str('Bucket name.')),
  prefix: prefix('bucket'),
  region: str('Bucket region; exported as AWS_DEFAULT_REGION.'),
  insecureTLS: bool('Skip TLS certificate verification (--insecure-tls).'),
});

export const GCSSpecSchema = obj('A Google Cloud Storage bucket.', {
  bucket: req(str('Bucket name.')),
  prefix: prefix('bucket'),
  maxConnections: maxConnections('gs.connections'),
});

export const AzureSpecSchema = obj('An Azure Blob Storage container.', {
  container: req(str('Container name.')),
  prefix: prefix('container'),
  maxConnections: maxConnections('azure.connections'),
});

export const SwiftSpecSchema = obj('An OpenStack Swift container.', {
  container: req(str('Container name.')),
  prefix: prefix('container'),
});

export const B2SpecSchema = obj('A Backblaze B2 bucket.', {
  bucket: req(str('Bucket name.')),
  prefix: prefix('bucket'),
  maxConnections: maxConnections('b2.connections'),
});

export const RestServerSpecSchema = obj(
  'A restic REST server (rest-server); credentials come from the storage Secret.',
  {
    url: str(
      'Server URL, e.g. http://rest-server.demo:8000/repo; REST_SERVER_USERNAME/PASSWORD from the Secret are added to it.',
    ),
  },
);

export const BackendSchema = obj(
  'Where the restic repository is stored: exactly one provider block plus the storage Secret.',
  {
    storageSecretName: str(
      'Secret in the Repository namespace holding RESTIC_PASSWORD and the provider credentials (AWS_ACCESS_KEY_ID, GOOGLE_SERVICE_ACCOUNT_JSON_KEY, …).',
    ),
    local: LocalSpecSchema,
    s3: S3SpecSchema,
    gcs: GCSSpecSchema,
    azure: AzureSpecSchema,
    swift: SwiftSpecSchema,
    b2: B2SpecSchema,
    rest: RestServerSpecSchema,
  },
);

export const UsagePolicySchema = obj('Which namespaces may use this Repository. Without it, only the same namespace.', {
  allowedNamespaces: obj('Namespaces whose invokers may reference this Repository.', {
    from: strEnum(NAMESPACE_FROM, 'Same (only this namespace), All, or Selector (namespaces matching selector).', {
      default: 'Same',
    }),
    selector: describe(LabelSelector, 'Namespace label selector, used with from: Selector.'),
  }),
});

export const RepositorySpecSchema = obj('Desired state of the Repository.', {
  backend: req(BackendSchema),
  wipeOut: bool(
    'Delete the data in the backend when the Repository is deleted (after the sessions using it end). Supported on s3 (static keys) and rest; true is rejected on the other backends.',
    {
      default: false,
    },
  ),
  usagePolicy: UsagePolicySchema,
});

export const RepositoryStatusSchema = obj(
  'Observed state of the Repository, written by the operator after each backup.',
  {
    observedGeneration: int64('metadata.generation last processed.'),
    firstBackupTime: time('When the first backup into this repository succeeded.'),
    lastBackupTime: time('Creation time of the BackupSession whose post-backup actions ran last.'),
    integrity: bool('Result of restic check after the last session.'),
    totalSize: str('Repository size from restic stats, e.g. 183.500 MiB.'),
    snapshotCount: int64('Snapshots kept after the last retention run.'),
    snapshotsRemovedOnLastCleanup: int64('Snapshots removed by the last retention run.'),
    references: arr(
      'Invokers currently using this Repository.',
      obj('An invoker using the Repository.', {
        apiGroup: str('API group of the invoker.'),
        kind: str('Kind of the invoker.'),
        namespace: str('Namespace of the invoker.'),
        name: str('Name of the invoker.'),
      }),
    ),
  },
);

export const RepositorySchema = kindSchema(
  'A restic repository in a storage backend, where Stash keeps backed-up data.',
  RepositorySpecSchema,
  RepositoryStatusSchema,
);
