// The pod that reaches a Repository's local volume when only a pod can mount it (a PVC, NFS, a hostPath of
// another machine): the plugin's short-lived exec pod (cli/repository-pod.ts) and the operator's Snapshot sync
// Job (webhook/controllers/snapshot-job.ts) run the agent image with the volume at REPOSITORY_PATH. What both
// hold to: the password comes from the Repository's Secret by secretKeyRef (never argv or spec), the volume is
// read-only unless the work writes, no service-account token, and the restricted Pod Security level
// (docs/api.md §13.5). Deleting the Repository takes a leftover along (ownerReference).
import { apiVersionOf, LABEL } from '../api/constants.ts';
import type { KubeObject } from '../kube/client.ts';
import type { RepositoryObject } from './open.ts';

export const RESTIC_CONTAINER = 'restic';
export const REPOSITORY_PATH = '/stash-repository';
/** An emptyDir for what the work writes (a download is restored here before it is copied out). */
export const POD_SCRATCH = '/stash-download';
/** Names the Repository on the pod (or Job) so that leftovers can be found by label. */
export const REPOSITORY_LABEL = 'stash.appscode.com/repository';
const TMP = '/stash-tmp';

export interface RepositoryPodOptions {
  repo: RepositoryObject;
  image: string;
  writable: boolean;
  /** Run as this user (the repository's owner on the volume); default the image's non-root user. */
  user?: { uid: number; gid: number } | undefined;
  command: string[];
  /** app.kubernetes.io/component and managed-by values. */
  component: string;
  managedBy: string;
  generateName: string;
}

/** The pod's metadata (labels, owner) and its spec, as a Pod; a Job takes both for its template. */
export function repositoryPodSpec(o: RepositoryPodOptions): KubeObject & { spec: Record<string, unknown> } {
  const ns = o.repo.metadata!.namespace!;
  const name = o.repo.metadata!.name!;
  const { mountPath: _mountPath, subPath, ...source } = (o.repo.spec.backend.local ?? {}) as Record<string, unknown>;
  const volume: Record<string, unknown> = structuredClone(source);
  // A claim's own readOnly makes the kubelet mount it read-only whatever the container asks.
  const pvc = volume.persistentVolumeClaim as Record<string, unknown> | undefined;
  if (pvc && !o.writable) pvc.readOnly = true;
  const secretName = o.repo.spec.backend.storageSecretName;
  const nonRoot = o.user ? o.user.uid !== 0 : true;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: o.generateName,
      namespace: ns,
      labels: { [LABEL.managedBy]: o.managedBy, [LABEL.component]: o.component, [REPOSITORY_LABEL]: name },
      ownerReferences: o.repo.metadata?.uid
        ? [{ apiVersion: apiVersionOf('Repository'), kind: 'Repository', name, uid: o.repo.metadata.uid }]
        : undefined,
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 1,
      securityContext: {
        runAsNonRoot: nonRoot,
        seccompProfile: { type: 'RuntimeDefault' },
        ...(o.user ? { runAsUser: o.user.uid, runAsGroup: o.user.gid } : {}),
      },
      containers: [
        {
          name: RESTIC_CONTAINER,
          image: o.image,
          imagePullPolicy: 'IfNotPresent',
          command: o.command,
          env: [
            { name: 'RESTIC_REPOSITORY', value: REPOSITORY_PATH },
            ...(secretName
              ? [{ name: 'RESTIC_PASSWORD', valueFrom: { secretKeyRef: { name: secretName, key: 'RESTIC_PASSWORD' } } }]
              : []),
            { name: 'HOME', value: TMP },
            { name: 'TMPDIR', value: TMP },
          ],
          securityContext: {
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
            runAsNonRoot: nonRoot,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          volumeMounts: [
            {
              name: 'repository',
              mountPath: REPOSITORY_PATH,
              readOnly: !o.writable,
              ...(typeof subPath === 'string' && subPath ? { subPath } : {}),
            },
            { name: 'tmp', mountPath: TMP },
            { name: 'download', mountPath: POD_SCRATCH },
          ],
        },
      ],
      volumes: [
        { name: 'repository', ...volume },
        { name: 'tmp', emptyDir: {} },
        { name: 'download', emptyDir: {} },
      ],
    },
  };
}
