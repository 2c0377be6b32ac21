// Auto-backup (docs/api.md §8.1): a workload, PVC or AppBinding annotated `stash.appscode.com/backup-blueprint: <name>`
// gets a Repository and a BackupConfiguration made from that cluster-scoped BackupBlueprint, its ${TARGET_*}
// variables substituted. What this loop creates carries ownership labels (blueprint, target kind/namespace/name), so
// removing the annotation removes exactly it and a blueprint change is applied to every target that names it.
import { createHash } from 'node:crypto';
import { APPBINDING_API_VERSION, LABEL, LABEL_VALUE, apiVersionOf } from '../../shared/api/index.ts';
import { errorMessage } from '../../shared/errors.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { Informer } from '../../shared/kube/informer.ts';
import { recordEvent, ownerRef } from './common.ts';
import { resolveDeps, waitForAbort, type ControllerDeps, type ResolvedDeps } from './deps.ts';
import { resourceServed } from './discovery.ts';
import { WorkQueue } from './queue.ts';

export const AUTO_BACKUP = {
  blueprint: 'stash.appscode.com/backup-blueprint',
  targetPaths: 'stash.appscode.com/target-paths',
  volumeMounts: 'stash.appscode.com/volume-mounts',
  schedule: 'stash.appscode.com/schedule',
} as const;
/** On what this loop made: which blueprint it came from (the target labels say for which target). */
export const BLUEPRINT_LABEL = 'stash.appscode.com/backup-blueprint';

/** Kinds that may carry the annotation, with whether they need paths and volume mounts of their own. */
export const AUTO_BACKUP_TARGETS = [
  { apiVersion: 'apps/v1', kind: 'Deployment', files: true },
  { apiVersion: 'apps/v1', kind: 'StatefulSet', files: true },
  { apiVersion: 'apps/v1', kind: 'DaemonSet', files: true },
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim', files: true },
  { apiVersion: APPBINDING_API_VERSION, kind: 'AppBinding', files: false },
] as const;

type Obj = Record<string, unknown>;
interface Blueprint extends KubeObject {
  spec?: Obj;
}
interface Target extends KubeObject {
  spec?: { type?: string; version?: string };
}

/** A label value (at most 63 characters): the text itself, or a readable prefix and a hash. */
export function labelValue(s: string): string {
  if (s.length <= 63) return s;
  return `${s.slice(0, 54).replace(/[-_.]+$/, '')}-${createHash('sha256').update(s).digest('hex').slice(0, 8)}`;
}

/** Upstream's name of both objects: `<kind in lower case>-<target name>`. */
export function autoBackupName(kind: string, name: string): string {
  return `${kind.toLowerCase()}-${name}`;
}

/** The ${VAR} values of one target (docs/api.md §8.1). An AppBinding's type `<group>/<resource>` names its app. */
export function blueprintVariables(t: { apiVersion: string; kind: string; target: Target }): Record<string, string> {
  const m = t.target.metadata ?? {};
  const kind = t.kind.toLowerCase();
  const vars: Record<string, string> = {
    TARGET_NAMESPACE: m.namespace ?? '',
    TARGET_NAME: m.name ?? '',
    TARGET_KIND: kind,
    TARGET_API_VERSION: t.apiVersion,
    TARGET_APP_RESOURCE: kind,
    TARGET_APP_GROUP: t.apiVersion.includes('/') ? t.apiVersion.slice(0, t.apiVersion.indexOf('/')) : '',
    TARGET_APP_TYPE: kind,
    TARGET_APP_VERSION: '',
  };
  if (t.kind === 'AppBinding') {
    const type = t.target.spec?.type ?? '';
    const slash = type.lastIndexOf('/');
    vars.TARGET_APP_TYPE = type;
    vars.TARGET_APP_GROUP = slash === -1 ? '' : type.slice(0, slash);
    vars.TARGET_APP_RESOURCE = slash === -1 ? type : type.slice(slash + 1);
    vars.TARGET_APP_VERSION = t.target.spec?.version ?? '';
  }
  return vars;
}

/** Replaces every known ${VAR} in every string of `v` (a deep copy); unknown variables stay as written. */
export function substitute<T>(v: T, vars: Record<string, string>): T {
  if (typeof v === 'string')
    return v.replace(/\$\{([A-Z_]+)\}/g, (all, name: string) => (name in vars ? vars[name]! : all)) as T;
  if (Array.isArray(v)) return v.map((x: unknown) => substitute(x, vars)) as T;
  if (typeof v === 'object' && v !== null)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, vars)])) as T;
  return v;
}

function list(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `name:mountPath[:subPath]`, comma-separated, as upstream's volume-mounts annotation. */
export function parseVolumeMounts(
  raw: string | undefined,
): Array<{ name: string; mountPath: string; subPath?: string }> {
  return list(raw).map((entry) => {
    const [name = '', mountPath = '', subPath, ...rest] = entry.split(':');
    if (!name || !mountPath || rest.length > 0)
      throw new Error(`annotation ${AUTO_BACKUP.volumeMounts}: "${entry}" is not name:mountPath[:subPath]`);
    return { name, mountPath, ...(subPath ? { subPath } : {}) };
  });
}

export interface Desired {
  repository: KubeObject;
  backupConfiguration: KubeObject;
}

/** The Repository and BackupConfiguration a blueprint makes for a target; throws naming the annotation at fault. */
export function desiredObjects(
  bp: Blueprint,
  t: { apiVersion: string; kind: string; files: boolean; target: Target },
): Desired {
  const m = t.target.metadata ?? {};
  const ann = m.annotations ?? {};
  const ns = m.namespace ?? '';
  const spec = substitute(bp.spec ?? {}, blueprintVariables(t)) as Obj;
  const paths = list(ann[AUTO_BACKUP.targetPaths]);
  const volumeMounts = parseVolumeMounts(ann[AUTO_BACKUP.volumeMounts]);
  if (t.files && paths.length === 0)
    throw new Error(`annotation ${AUTO_BACKUP.targetPaths} is required on a ${t.kind}: the paths to back up`);
  if (t.files && volumeMounts.length === 0)
    throw new Error(`annotation ${AUTO_BACKUP.volumeMounts} is required on a ${t.kind}: name:mountPath of its data`);
  const name = autoBackupName(t.kind, m.name ?? '');
  const repoNs = typeof spec.repoNamespace === 'string' && spec.repoNamespace ? spec.repoNamespace : ns;
  const labels = {
    [LABEL.managedBy]: LABEL_VALUE.managedBy,
    [BLUEPRINT_LABEL]: labelValue(bp.metadata?.name ?? ''),
    [LABEL.targetKind]: t.kind,
    [LABEL.targetName]: labelValue(m.name ?? ''),
    [LABEL.targetNamespace]: ns,
  };
  // The target owns what sits in its namespace, so deleting it takes them along; labels find the rest.
  const owners = m.uid ? [{ ...ownerRef(t.target), controller: false, blockOwnerDeletion: false }] : [];
  const pick = (keys: string[]) =>
    Object.fromEntries(keys.filter((k) => spec[k] !== undefined).map((k) => [k, spec[k]]));
  const repository: KubeObject = {
    apiVersion: apiVersionOf('Repository'),
    kind: 'Repository',
    metadata: { name, namespace: repoNs, labels, ...(repoNs === ns ? { ownerReferences: owners } : {}) },
    spec: pick(['backend', 'wipeOut', 'usagePolicy']),
  } as KubeObject;
  const schedule = ann[AUTO_BACKUP.schedule] || spec.schedule;
  const backupConfiguration: KubeObject = {
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name, namespace: ns, labels, ownerReferences: owners },
    spec: {
      repository: { name, ...(repoNs !== ns ? { namespace: repoNs } : {}) },
      ...(schedule ? { schedule } : {}),
      target: {
        ref: { apiVersion: t.apiVersion, kind: t.kind, name: m.name },
        ...(paths.length ? { paths } : {}),
        ...(volumeMounts.length ? { volumeMounts } : {}),
      },
      ...pick([
        'task',
        'retentionPolicy',
        'runtimeSettings',
        'tempDir',
        'interimVolumeTemplate',
        'backupHistoryLimit',
        'timeOut',
        'retryConfig',
        'hooks',
      ]),
    },
  } as KubeObject;
  return { repository, backupConfiguration };
}

/** What the target informers keep: identity, annotations, and an AppBinding's type and version. */
function slimTarget(o: Target, def: { apiVersion: string; kind: string }): Target {
  const m = o.metadata ?? {};
  return {
    apiVersion: def.apiVersion,
    kind: def.kind,
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, annotations: m.annotations },
    ...(o.spec?.type !== undefined || o.spec?.version !== undefined
      ? { spec: { type: o.spec?.type, version: o.spec?.version } }
      : {}),
  };
}

function ownedSelector(kind: string, ns: string, name: string): string {
  return [
    `${LABEL.managedBy}=${LABEL_VALUE.managedBy}`,
    BLUEPRINT_LABEL,
    `${LABEL.targetKind}=${kind}`,
    `${LABEL.targetNamespace}=${ns}`,
    `${LABEL.targetName}=${labelValue(name)}`,
  ].join(',');
}

async function reconcile(
  d: ResolvedDeps,
  targets: Map<string, { def: (typeof AUTO_BACKUP_TARGETS)[number]; inf: Informer<Target> }>,
  blueprints: Informer<Blueprint>,
  key: string,
): Promise<void> {
  const [kind = '', ns = '', name = ''] = key.split('/');
  const entry = targets.get(kind);
  if (!entry) return;
  const target = entry.inf.get(ns, name);
  const bpName = target?.metadata?.annotations?.[AUTO_BACKUP.blueprint];
  const selector = ownedSelector(kind, ns, name);
  const existing = [
    ...(await d.kube.list(apiVersionOf('BackupConfiguration'), 'BackupConfiguration', ns, { labelSelector: selector }))
      .items,
    ...(await d.kube.list(apiVersionOf('Repository'), 'Repository', undefined, { labelSelector: selector })).items,
  ];
  let keep: Desired | undefined;
  if (target && bpName) {
    const bp = blueprints.get(undefined, bpName);
    if (!bp) {
      // Keep what exists (its Repository holds data); say why nothing changes.
      await recordEvent(d.events, target, 'Warning', 'BackupBlueprintNotFound', `BackupBlueprint ${bpName} not found`);
      return;
    }
    try {
      keep = desiredObjects(bp, { ...entry.def, target });
    } catch (err) {
      await recordEvent(d.events, target, 'Warning', 'InvalidAutoBackup', errorMessage(err));
      return;
    }
    try {
      await d.kube.apply(keep.repository);
      await d.kube.apply(keep.backupConfiguration);
    } catch (err) {
      await recordEvent(
        d.events,
        target,
        'Warning',
        'AutoBackupFailed',
        `from BackupBlueprint ${bpName}: ${errorMessage(err)}`,
      );
      throw err;
    }
  }
  const wanted = new Set(
    keep
      ? [keep.repository, keep.backupConfiguration].map((o) => `${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`)
      : [],
  );
  for (const o of existing) {
    const k = `${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`;
    if (wanted.has(k)) continue;
    await d.kube.delete(o.apiVersion ?? '', o.kind ?? '', o.metadata?.namespace, o.metadata?.name ?? '');
    d.log.info({ object: k, target: key }, 'auto-backup object removed');
  }
}

/** The `blueprints` control loop (docs/api.md §8.1). */
export async function runBlueprints(deps: ControllerDeps, signal: AbortSignal): Promise<void> {
  const d = resolveDeps(deps);
  const blueprints = new Informer<Blueprint>(d.kube, {
    apiVersion: apiVersionOf('BackupBlueprint'),
    kind: 'BackupBlueprint',
    log: d.log,
  });
  const targets = new Map<string, { def: (typeof AUTO_BACKUP_TARGETS)[number]; inf: Informer<Target> }>();
  const queue = new WorkQueue((key) => reconcile(d, targets, blueprints, key), {
    name: 'blueprint',
    log: d.log,
    signal,
    concurrency: 2,
  });
  for (const def of AUTO_BACKUP_TARGETS) {
    if (def.kind === 'AppBinding' && !(await resourceServed(d.kube, def.apiVersion, 'appbindings'))) continue;
    const inf = new Informer<Target>(d.kube, {
      apiVersion: def.apiVersion,
      kind: def.kind,
      namespace: d.namespace,
      log: d.log,
      transform: (o) => slimTarget(o, def),
    });
    const poke = (o: Target, old?: Target): void => {
      const ann = (x?: Target) =>
        JSON.stringify(
          Object.entries(x?.metadata?.annotations ?? {}).filter(([k]) =>
            (Object.values(AUTO_BACKUP) as string[]).includes(k),
          ),
        );
      if (old && ann(o) === ann(old)) return;
      if (!o.metadata?.annotations?.[AUTO_BACKUP.blueprint] && !old?.metadata?.annotations?.[AUTO_BACKUP.blueprint])
        return;
      queue.add(`${def.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`);
    };
    inf.on('add', (o) => poke(o));
    inf.on('update', (o, old) => poke(o, old));
    inf.on('delete', (o) => queue.add(`${def.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`));
    targets.set(def.kind, { def, inf });
  }
  const byBlueprint = (bp: Blueprint): void => {
    for (const [kind, { inf }] of targets)
      for (const o of inf.list())
        if (o.metadata?.annotations?.[AUTO_BACKUP.blueprint] === bp.metadata?.name)
          queue.add(`${kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`);
  };
  blueprints.on('add', byBlueprint);
  blueprints.on('update', byBlueprint);
  blueprints.on('delete', byBlueprint);
  blueprints.start();
  // Targets are reconciled once blueprints are known, so a first event never sees "not found" for nothing.
  await blueprints.waitForSync();
  for (const { inf } of targets.values()) inf.start();
  signal.addEventListener(
    'abort',
    () => {
      void blueprints.stop();
      for (const { inf } of targets.values()) void inf.stop();
    },
    { once: true },
  );
  await waitForAbort(signal);
}
