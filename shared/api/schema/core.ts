// Embedded core Kubernetes types. The apiserver validates these fully where they end up (Pods, PVCs), so here they
// are typed at their first level and keep unknown fields below it: enough for `kubectl explain` and for catching a
// misspelt top-level field, without copying thousands of lines of core schema. Small, Stash-relevant ones
// (VolumeMount, HTTPGetAction, LabelSelector, the common volume sources) are typed completely.

import { Type } from '@sinclair/typebox';
import type {
  V1Affinity,
  V1EmptyDirVolumeSource,
  V1EnvFromSource,
  V1EnvVar,
  V1ExecAction,
  V1HostPathVolumeSource,
  V1HTTPGetAction,
  V1HTTPHeader,
  V1LabelSelector,
  V1LabelSelectorRequirement,
  V1Lifecycle,
  V1LocalObjectReference,
  V1NFSVolumeSource,
  V1PersistentVolumeClaimSpec,
  V1PersistentVolumeClaimVolumeSource,
  V1PodReadinessGate,
  V1PodSecurityContext,
  V1Probe,
  V1ResourceRequirements,
  V1SecurityContext,
  V1TCPSocketAction,
  V1Toleration,
  V1TopologySpreadConstraint,
  V1VolumeMount,
} from '@kubernetes/client-node';
import {
  arr,
  bool,
  core,
  int32,
  int64,
  intOrString,
  obj,
  opaque,
  quantity,
  quantityMap,
  req,
  str,
  strMap,
  strs,
} from './helpers.ts';

export const VolumeMount = core<V1VolumeMount>('A volume of the workload mounted into a container.', {
  name: req(str('Name of a volume in the pod spec.')),
  mountPath: req(str('Path inside the container at which the volume is mounted; must not contain ":".')),
  subPath: str('Path within the volume to mount instead of its root.'),
  subPathExpr: str('Like subPath, with $(VAR) references expanded from the container environment.'),
  readOnly: bool('Mount read-only.'),
  recursiveReadOnly: str('Whether a read-only mount is recursively read-only (Disabled, IfPossible, Enabled).'),
  mountPropagation: str('How mounts propagate between host and container (None, HostToContainer, Bidirectional).'),
});

export const LocalObjectReference = core<V1LocalObjectReference>('Reference to an object in the same namespace.', {
  name: str('Name of the referent.'),
});

export const LabelSelector = core<V1LabelSelector>(
  'Label query over a set of objects; an empty selector matches everything, a missing one matches nothing.',
  {
    matchLabels: strMap('Label key/value pairs that must all be present.'),
    matchExpressions: arr(
      'Set-based requirements, all of which must hold.',
      core<V1LabelSelectorRequirement>('A set-based label requirement.', {
        key: req(str('Label key the requirement applies to.')),
        operator: req(str('One of In, NotIn, Exists, DoesNotExist.')),
        values: strs('Values for In/NotIn; must be empty for Exists/DoesNotExist.'),
      }),
    ),
  },
);

export const HTTPHeader = core<V1HTTPHeader>('A custom HTTP header.', {
  name: req(str('Header field name.')),
  value: req(str('Header field value.')),
});

export const ExecAction = core<V1ExecAction>('Run a command inside a container.', {
  command: strs('Command line to execute (not run in a shell; call one explicitly for pipes). Exit 0 is success.'),
});

export const HTTPGetAction = core<V1HTTPGetAction>('An HTTP GET request.', {
  path: str('Path to request.'),
  port: req(intOrString('Port number or name to connect to.')),
  host: str('Host to connect to; defaults to the pod IP.'),
  scheme: str('HTTP or HTTPS; defaults to HTTP.'),
  httpHeaders: arr('Custom headers to send.', HTTPHeader),
});

export const TCPSocketAction = core<V1TCPSocketAction>('Open a TCP connection.', {
  port: req(intOrString('Port number or name to connect to.')),
  host: str('Host to connect to; defaults to the pod IP.'),
});

export const ResourceRequirements = core<V1ResourceRequirements>('Compute resources of a container.', {
  limits: quantityMap('Maximum amount of each resource (cpu, memory, …) the container may use.'),
  requests: quantityMap('Amount of each resource the scheduler reserves for the container.'),
  claims: arr(
    'Dynamically allocated resource claims used by this container.',
    opaque<object>('A resource claim by name.'),
  ),
});

export const Probe = core<V1Probe>('A health check performed against the container.', {
  exec: opaque<V1ExecAction>('Run a command in the container.'),
  httpGet: opaque<V1HTTPGetAction>('Perform an HTTP GET.'),
  tcpSocket: opaque<V1TCPSocketAction>('Open a TCP connection.'),
  grpc: opaque<object>('Call the gRPC health service.'),
  initialDelaySeconds: int32('Seconds after start before the first probe.'),
  periodSeconds: int32('Seconds between probes.'),
  timeoutSeconds: int32('Seconds after which a probe times out.'),
  successThreshold: int32('Consecutive successes needed after a failure.'),
  failureThreshold: int32('Consecutive failures before giving up.'),
  terminationGracePeriodSeconds: int64('Grace period on probe failure, overriding the pod value.'),
});

export const Lifecycle = core<V1Lifecycle>('Actions run on container start and before stop.', {
  postStart: opaque<object>('Handler run right after the container is created.'),
  preStop: opaque<object>('Handler run before the container is terminated.'),
  stopSignal: str('Signal used to stop the container.'),
});

export const SecurityContext = core<V1SecurityContext>('Container-level security settings.', {
  runAsUser: int64('UID to run the entrypoint as.'),
  runAsGroup: int64('GID to run the entrypoint as.'),
  runAsNonRoot: bool('Refuse to start if the image would run as UID 0.'),
  privileged: bool('Run in privileged mode.'),
  readOnlyRootFilesystem: bool('Mount the root filesystem read-only.'),
  allowPrivilegeEscalation: bool('Whether a process may gain more privileges than its parent.'),
  capabilities: opaque<object>('Capabilities to add or drop.'),
  seLinuxOptions: opaque<object>('SELinux context.'),
  seccompProfile: opaque<object>('Seccomp profile.'),
  appArmorProfile: opaque<object>('AppArmor profile.'),
  windowsOptions: opaque<object>('Windows-specific options.'),
  procMount: str('Proc mount type (Default, Unmasked).'),
});

export const PodSecurityContext = core<V1PodSecurityContext>('Pod-level security settings.', {
  runAsUser: int64('UID for the entrypoint of every container.'),
  runAsGroup: int64('GID for the entrypoint of every container.'),
  runAsNonRoot: bool('Refuse to start containers that would run as UID 0.'),
  fsGroup: int64('Supplemental group that owns mounted volumes.'),
  fsGroupChangePolicy: str('When to change volume ownership (OnRootMismatch, Always).'),
  supplementalGroups: arr('Extra groups for the first process of each container.', Type.Integer({ format: 'int64' })),
  supplementalGroupsPolicy: str('How supplemental groups are computed (Merge, Strict).'),
  seLinuxOptions: opaque<object>('SELinux context for all containers.'),
  seLinuxChangePolicy: str('How the SELinux label is applied to volumes.'),
  seccompProfile: opaque<object>('Seccomp profile for all containers.'),
  appArmorProfile: opaque<object>('AppArmor profile for all containers.'),
  sysctls: arr('Namespaced sysctls for the pod.', opaque<object>('A sysctl name and value.')),
  windowsOptions: opaque<object>('Windows-specific options.'),
});

export const Affinity = core<V1Affinity>('Scheduling constraints.', {
  nodeAffinity: opaque<object>('Node affinity rules.'),
  podAffinity: opaque<object>('Co-locate with pods matching these rules.'),
  podAntiAffinity: opaque<object>('Avoid pods matching these rules.'),
});

export const Toleration = core<V1Toleration>('Lets the pod schedule onto nodes with a matching taint.', {
  key: str('Taint key; empty with operator Exists matches all taints.'),
  operator: str('Exists or Equal (default).'),
  value: str('Taint value to match with operator Equal.'),
  effect: str('Taint effect to match (NoSchedule, PreferNoSchedule, NoExecute); empty matches all.'),
  tolerationSeconds: int64('For NoExecute: how long the pod stays bound after the taint appears.'),
});

export const EnvVar = core<V1EnvVar>('An environment variable for the container.', {
  name: req(str('Variable name.')),
  value: str('Literal value; $(VAR) references are expanded.'),
  valueFrom: opaque<object>(
    'Source of the value (fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef, fileKeyRef).',
  ),
});

export const EnvFromSource = core<V1EnvFromSource>(
  'Exports every key of a ConfigMap or Secret as environment variables.',
  {
    prefix: str('Prefix prepended to every key.'),
    configMapRef: opaque<object>('ConfigMap to read.'),
    secretRef: opaque<object>('Secret to read.'),
  },
);

export const PodReadinessGate = core<V1PodReadinessGate>('An extra pod condition required for readiness.', {
  conditionType: req(str('Condition type in the pod condition list.')),
});

export const TopologySpreadConstraint = opaque<V1TopologySpreadConstraint>(
  'How matching pods spread across topology domains (maxSkew, topologyKey, whenUnsatisfiable, labelSelector, …).',
);

export const PersistentVolumeClaimSpec = core<V1PersistentVolumeClaimSpec>(
  'Desired characteristics of a PersistentVolumeClaim.',
  {
    accessModes: strs('Access modes (ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod).'),
    resources: core<V1ResourceRequirements>('Minimum resources the volume must have.', {
      limits: quantityMap('Maximum amount of storage.'),
      requests: quantityMap('Requested amount of storage, e.g. {storage: 1Gi}.'),
    }),
    storageClassName: str('StorageClass to provision from.'),
    volumeMode: str('Filesystem (default) or Block.'),
    volumeName: str('Bind to this existing PersistentVolume.'),
    selector: LabelSelector,
    dataSource: opaque<object>('Populate the volume from a VolumeSnapshot or PVC.'),
    dataSourceRef: opaque<object>('Populate the volume from any populator object.'),
    volumeAttributesClassName: str('VolumeAttributesClass of the claim.'),
  },
);

/** Inline core VolumeSource fields (docs/api.md §3 `local`); common ones typed fully, the rest kept opaque. */
export const VolumeSourceProps = {
  hostPath: core<V1HostPathVolumeSource>('A directory on the node.', {
    path: req(str('Path of the directory on the host.')),
    type: str('Type check for the path (DirectoryOrCreate, Directory, …).'),
  }),
  persistentVolumeClaim: core<V1PersistentVolumeClaimVolumeSource>('A PersistentVolumeClaim in the same namespace.', {
    claimName: req(str('Name of the PersistentVolumeClaim.')),
    readOnly: bool('Mount read-only.'),
  }),
  nfs: core<V1NFSVolumeSource>('An NFS export.', {
    server: req(str('Hostname or IP of the NFS server.')),
    path: req(str('Exported path.')),
    readOnly: bool('Mount read-only.'),
  }),
  emptyDir: core<V1EmptyDirVolumeSource>('A temporary directory that lives as long as the pod.', {
    medium: str('Storage medium: "" (node default) or Memory.'),
    sizeLimit: quantity('Size limit of the directory.'),
  }),
  awsElasticBlockStore: opaque<object>('An AWS EBS disk (deprecated in core).'),
  azureDisk: opaque<object>('An Azure data disk.'),
  azureFile: opaque<object>('An Azure File share.'),
  cephfs: opaque<object>('A CephFS mount.'),
  cinder: opaque<object>('An OpenStack Cinder volume.'),
  configMap: opaque<object>('A ConfigMap projected as files.'),
  csi: opaque<object>('An ephemeral CSI volume.'),
  downwardAPI: opaque<object>('Pod fields projected as files.'),
  ephemeral: opaque<object>('A generic ephemeral volume.'),
  fc: opaque<object>('A Fibre Channel volume.'),
  flexVolume: opaque<object>('A FlexVolume driver volume.'),
  flocker: opaque<object>('A Flocker dataset.'),
  gcePersistentDisk: opaque<object>('A GCE persistent disk.'),
  gitRepo: opaque<object>('A git repository (deprecated in core).'),
  glusterfs: opaque<object>('A GlusterFS mount.'),
  image: opaque<object>('An OCI image or artifact.'),
  iscsi: opaque<object>('An iSCSI disk.'),
  photonPersistentDisk: opaque<object>('A Photon controller disk.'),
  portworxVolume: opaque<object>('A Portworx volume.'),
  projected: opaque<object>('Several sources projected into one directory.'),
  quobyte: opaque<object>('A Quobyte mount.'),
  rbd: opaque<object>('A Rados block device.'),
  scaleIO: opaque<object>('A ScaleIO volume.'),
  secret: opaque<object>('A Secret projected as files.'),
  storageos: opaque<object>('A StorageOS volume.'),
  vsphereVolume: opaque<object>('A vSphere volume.'),
};

/** The metadata subset accepted by PVC templates (interimVolumeTemplate, volumeClaimTemplates). */
export const PartialObjectMeta = obj('Metadata of an object the operator creates from this template.', {
  name: str('Name of the object; for volumeClaimTemplates it may contain ${POD_ORDINAL}.'),
  generateName: str('Prefix for a server-generated name.'),
  namespace: str("Namespace; defaults to the invoker's."),
  labels: strMap('Labels to set.'),
  annotations: strMap('Annotations to set.'),
  ownerReferences: arr('Owners of the object.', opaque<object>('An owner reference.')),
});
