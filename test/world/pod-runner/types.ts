// The slice of core/v1 Pod the pod runner reads and writes.
import type { KubeObject } from '../../../shared/kube/client.ts';

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    resourceFieldRef?: unknown;
  };
}

export interface EnvFromSource {
  prefix?: string;
  secretRef?: { name: string; optional?: boolean };
  configMapRef?: { name: string; optional?: boolean };
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  volumeMounts?: VolumeMount[];
  workingDir?: string;
}

export interface Volume {
  name: string;
  emptyDir?: object;
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  hostPath?: { path: string };
  secret?: { secretName: string; items?: Array<{ key: string; path: string }>; optional?: boolean };
  configMap?: { name: string; items?: Array<{ key: string; path: string }>; optional?: boolean };
  downwardAPI?: { items?: Array<{ path: string; fieldRef?: { fieldPath: string } }> };
  [source: string]: unknown;
}

export interface ContainerStatus {
  name: string;
  image: string;
  imageID: string;
  ready: boolean;
  started?: boolean;
  restartCount: number;
  state: {
    waiting?: { reason: string; message?: string };
    running?: { startedAt: string };
    terminated?: { exitCode: number; reason: string; message?: string; startedAt?: string; finishedAt: string };
  };
  lastState?: ContainerStatus['state'];
}

export interface Pod extends KubeObject {
  spec?: {
    nodeName?: string;
    restartPolicy?: 'Always' | 'OnFailure' | 'Never';
    initContainers?: Container[];
    containers: Container[];
    volumes?: Volume[];
    serviceAccountName?: string;
    terminationGracePeriodSeconds?: number;
    affinity?: {
      nodeAffinity?: {
        requiredDuringSchedulingIgnoredDuringExecution?: {
          nodeSelectorTerms?: Array<{
            matchFields?: Array<{ key: string; operator: string; values?: string[] }>;
            matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
          }>;
        };
      };
    };
  };
  status?: {
    phase?: string;
    conditions?: Array<{
      type: string;
      status: string;
      lastTransitionTime?: string;
      reason?: string;
      message?: string;
    }>;
    initContainerStatuses?: ContainerStatus[];
    containerStatuses?: ContainerStatus[];
    podIP?: string;
    podIPs?: Array<{ ip: string }>;
    hostIP?: string;
    startTime?: string;
  };
}
