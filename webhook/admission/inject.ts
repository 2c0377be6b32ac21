// Builders for what the operator adds to a workload's pod template (docs/api.md §13.2, §13.3): the `stash` sidecar,
// the `stash-init` restore init-container and their helper volumes.
//
// Containers are built with the fields the apiserver would default spelled out (terminationMessagePath,
// imagePullPolicy, fieldRef.apiVersion, resources: {}), so that admitting the stored object again finds nothing to
// change: the webhook then returns an empty patch instead of a patch the apiserver silently undoes.
import { createHash } from 'node:crypto';
import { CONTAINER, VOLUME } from '../../shared/api/constants.ts';
import type { Static } from '@sinclair/typebox';
import type { EmptyDirSettings, LocalSpec } from '../../shared/api/types.ts';
import type { EnvVar as EnvVarSchema, VolumeMount as VolumeMountSchema } from '../../shared/api/schema/core.ts';
import type { BackupMember, Obj, Repository, RestoreMember, WorkloadRef } from './types.ts';
import { isRecord } from '../../shared/is-record.ts';

type EnvVar = Static<typeof EnvVarSchema>;
type VolumeMount = Static<typeof VolumeMountSchema>;

export interface InjectOptions {
  /** Agent image, `<registry>/<image>:<tag>`. */
  image: string;
  /** Defaults the way the apiserver does: Always for `:latest` or no tag, else IfNotPresent. */
  imagePullPolicy?: string;
  /** Passed to the agent as `--pushgateway-url`; upstream's flag, kept for compatibility. */
  pushgatewayUrl: string;
  useKubeapiserverFqdnForAks: boolean;
  /** Appended after upstream's flags (logging flags). */
  extraArgs?: string[];
}

export interface AgentContext {
  invokerKind: string;
  invokerName: string;
  workload: WorkloadRef;
  member: BackupMember | RestoreMember;
  repository: Repository | undefined;
}

/** Volumes the operator owns in a pod template: current helper volumes plus those older Stash versions added. */
export const HELPER_VOLUMES: ReadonlySet<string> = new Set([
  VOLUME.tmpDir,
  'stash-scratchdir',
  'stash-podinfo',
  'stash-secret-volume',
  'stash-local',
]);
export const LOCAL_VOLUME_PREFIX = 'stash-local-';

export function isHelperVolume(name: unknown): boolean {
  return typeof name === 'string' && (HELPER_VOLUMES.has(name) || name.startsWith(LOCAL_VOLUME_PREFIX));
}

export function defaultPullPolicy(image: string): string {
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  if (lastSegment.includes('@')) return 'IfNotPresent';
  const colon = lastSegment.lastIndexOf(':');
  return colon === -1 || lastSegment.slice(colon + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}

function maxConnections(repo: Repository | undefined): number {
  const b = repo?.spec?.backend;
  const n = b?.gcs?.maxConnections ?? b?.azure?.maxConnections ?? b?.b2?.maxConnections;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : 0;
}

/** Flags shared by `run-backup` and `restore`, in upstream's order after the invoker flags. */
function commonFlags(ctx: AgentContext, opts: InjectOptions): string[] {
  const tempDir: EmptyDirSettings = ctx.member.tempDir ?? {};
  return [
    `--target-name=${ctx.workload.name}`,
    `--target-namespace=${ctx.workload.namespace}`,
    `--target-kind=${ctx.workload.kind}`,
    `--enable-cache=${tempDir.disableCaching !== true}`,
    `--max-connections=${maxConnections(ctx.repository)}`,
    '--metrics-enabled=true',
    `--pushgateway-url=${opts.pushgatewayUrl}`,
    `--use-kubeapiserver-fqdn-for-aks=${opts.useKubeapiserverFqdnForAks}`,
    ...(opts.extraArgs ?? []),
  ];
}

export function backupArgs(ctx: AgentContext, opts: InjectOptions): string[] {
  return [
    'run-backup',
    `--invoker-name=${ctx.invokerName}`,
    `--invoker-kind=${ctx.invokerKind}`,
    ...commonFlags(ctx, opts),
  ];
}

export function restoreArgs(ctx: AgentContext, opts: InjectOptions): string[] {
  return [
    'restore',
    `--invoker-kind=${ctx.invokerKind}`,
    `--invoker-name=${ctx.invokerName}`,
    ...commonFlags(ctx, opts),
  ];
}

function fieldEnv(name: string, fieldPath: string): EnvVar {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } };
}

export function agentEnv(member: BackupMember | RestoreMember): EnvVar[] {
  const c = member.runtimeSettings?.container ?? {};
  const env: EnvVar[] = [
    fieldEnv('NODE_NAME', 'spec.nodeName'),
    fieldEnv('POD_NAME', 'metadata.name'),
    fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
  ];
  for (const e of Array.isArray(c.env) ? c.env : []) {
    if (isRecord(e) && typeof e.name === 'string') env.push(structuredClone(e));
  }
  if (typeof c.nice?.adjustment === 'number') env.push({ name: 'NICE_ADJUSTMENT', value: String(c.nice.adjustment) });
  if (typeof c.ionice?.class === 'number') env.push({ name: 'IONICE_CLASS', value: String(c.ionice.class) });
  if (typeof c.ionice?.classData === 'number')
    env.push({ name: 'IONICE_CLASS_DATA', value: String(c.ionice.classData) });
  return env;
}

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}

/** Pod volume name for a local-backend Repository: a DNS label, distinct per Repository. */
export function localVolumeName(repo: Repository): string {
  const name = String(repo.metadata?.name ?? '');
  const readable = name
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 40)
    .replace(/-+$/, '');
  return `${LOCAL_VOLUME_PREFIX}${readable ? `${readable}-` : ''}${shortHash(`${repo.metadata?.namespace ?? ''}/${name}`)}`;
}

/** The local backend's VolumeSource as a pod volume plus its mount, or undefined for other backends. */
export function localBackendVolume(repo: Repository | undefined): { volume: Obj; mount: VolumeMount } | undefined {
  const local: LocalSpec | undefined = repo?.spec?.backend?.local;
  if (!repo || !isRecord(local) || typeof local.mountPath !== 'string' || local.mountPath === '') return undefined;
  const { mountPath, subPath, ...source } = local;
  const name = localVolumeName(repo);
  const mount: VolumeMount = { name, mountPath };
  if (typeof subPath === 'string' && subPath !== '') mount.subPath = subPath;
  return { volume: { name, ...structuredClone(source) }, mount };
}

export function tmpDirVolume(tempDir: EmptyDirSettings | undefined): Obj {
  const emptyDir: Obj = {};
  if (tempDir?.medium) emptyDir.medium = tempDir.medium;
  if (tempDir?.sizeLimit !== undefined && tempDir.sizeLimit !== '') emptyDir.sizeLimit = tempDir.sizeLimit;
  return { name: VOLUME.tmpDir, emptyDir };
}

export function agentVolumeMounts(member: BackupMember | RestoreMember, local: VolumeMount | undefined): VolumeMount[] {
  const mounts: VolumeMount[] = [{ name: VOLUME.tmpDir, mountPath: VOLUME.tmpDirMountPath }];
  for (const m of Array.isArray(member.target?.volumeMounts) ? member.target.volumeMounts : []) {
    if (!isRecord(m) || typeof m.name !== 'string' || typeof m.mountPath !== 'string') continue;
    const vm: VolumeMount = { name: m.name, mountPath: m.mountPath };
    if (typeof m.subPath === 'string' && m.subPath !== '') vm.subPath = m.subPath;
    mounts.push(vm);
  }
  if (local) mounts.push(local);
  return mounts;
}

function baseContainer(
  name: string,
  args: string[],
  ctx: AgentContext,
  opts: InjectOptions,
  local: VolumeMount | undefined,
): Obj {
  const c = ctx.member.runtimeSettings?.container ?? {};
  const container: Obj = {
    name,
    image: opts.image,
    args,
    env: agentEnv(ctx.member),
    resources: isRecord(c.resources) ? structuredClone(c.resources) : {},
    volumeMounts: agentVolumeMounts(ctx.member, local),
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: opts.imagePullPolicy ?? defaultPullPolicy(opts.image),
  };
  if (Array.isArray(c.envFrom) && c.envFrom.length > 0) container.envFrom = structuredClone(c.envFrom);
  for (const key of ['livenessProbe', 'readinessProbe', 'lifecycle'] as const) {
    if (isRecord(c[key])) container[key] = structuredClone(c[key]);
  }
  return container;
}

/** The `stash` backup sidecar (docs/api.md §13.2). */
export function buildSidecar(ctx: AgentContext, opts: InjectOptions, local: VolumeMount | undefined): Obj {
  const container = baseContainer(CONTAINER.sidecar, backupArgs(ctx, opts), ctx, opts, local);
  const sc = ctx.member.runtimeSettings?.container?.securityContext;
  if (isRecord(sc)) container.securityContext = structuredClone(sc);
  return container;
}

/** The `stash-init` restore init-container (docs/api.md §13.3); root by default so restored files keep their owners. */
export function buildRestoreInit(ctx: AgentContext, opts: InjectOptions, local: VolumeMount | undefined): Obj {
  const container = baseContainer(CONTAINER.initContainer, restoreArgs(ctx, opts), ctx, opts, local);
  const sc = ctx.member.runtimeSettings?.container?.securityContext;
  container.securityContext = { runAsUser: 0, runAsGroup: 0, ...(isRecord(sc) ? structuredClone(sc) : {}) };
  return container;
}

/**
 * The agent container and the pod volumes it needs (its temp dir, a local backend's volume): the same parts for
 * an injected sidecar or init-container and for a job-model Job, so both run the agent identically.
 */
export function agentParts(
  purpose: 'backup' | 'restore',
  ctx: AgentContext,
  opts: InjectOptions,
): { container: Obj; volumes: Obj[] } {
  const local = localBackendVolume(ctx.repository);
  const container =
    purpose === 'backup' ? buildSidecar(ctx, opts, local?.mount) : buildRestoreInit(ctx, opts, local?.mount);
  return { container, volumes: [tmpDirVolume(ctx.member.tempDir), ...(local ? [local.volume] : [])] };
}

/** Stable hash of what was injected; its change on the pod template is what rolls the pods. */
export function injectionHash(parts: unknown): string {
  return createHash('sha256').update(stableStringify(parts)).digest('hex').slice(0, 16);
}

/** JSON with object keys sorted, so equal values always give equal text. */
export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => stableStringify(x ?? null)).join(',')}]`;
  if (isRecord(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * True when `have` carries everything `want` says (extra fields in objects allowed, arrays element-wise). The
 * apiserver adds defaults to what we inject (probe timeouts, hostPath type); those must not count as drift.
 */
export function covers(have: unknown, want: unknown): boolean {
  if (Array.isArray(want))
    return Array.isArray(have) && have.length === want.length && want.every((w, i) => covers(have[i], w));
  if (isRecord(want))
    return isRecord(have) && Object.entries(want).every(([k, w]) => w === undefined || covers(have[k], w));
  return have === want;
}
