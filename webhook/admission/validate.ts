// Checks on our own kinds (docs/api.md §18, plus the batch checks the open-source operator never had): the object
// against its kind's schema (shared/api/schema, the source of the CRDs), then the rules a schema cannot say. Every
// problem names the field path, and all problems are reported at once so a user fixes a manifest in one round.
import { CronExpressionParser } from 'cron-parser';
import { KINDS, type StashKind } from '../../shared/api/constants.ts';
import { apiVersionProblem, isWorkloadKind, targetKey } from '../../shared/api/target.ts';
import type { TargetRef } from '../../shared/api/types.ts';
import { check as schemaCheck, SCHEMAS } from '../../shared/api/schema/index.ts';
import { stableStringify } from './inject.ts';
import type { Obj, Repository } from './types.ts';
import { isRecord } from '../../shared/is-record.ts';

export interface Problem {
  field: string;
  message: string;
}

export interface ValidationInput {
  kind: string;
  operation: string;
  namespace?: string;
  object?: unknown;
  oldObject?: unknown;
}

export interface ValidationContext {
  /** From the informer cache; undefined when unknown (the operator reports a missing Repository later). */
  repository(namespace: string, name: string): Repository | undefined;
}

function describe(v: unknown): string {
  return JSON.stringify(v)?.slice(0, 80) ?? String(v);
}

const GO_DURATION = /^[+-]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)$/;
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+|E[+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/;
const CRON_MACROS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

export function isGoDuration(s: string): boolean {
  return GO_DURATION.test(s);
}

/** The schedule forms a Kubernetes CronJob accepts: five fields, a macro, or `@every <duration>`. */
export function cronProblem(schedule: string): string | undefined {
  const s = schedule.trim();
  if (s === '') return 'must not be empty';
  if (/^(CRON_)?TZ=/.test(s)) return 'time zones in the schedule are not supported by CronJobs';
  if (CRON_MACROS.has(s)) return undefined;
  if (s.startsWith('@every ')) return isGoDuration(s.slice(7).trim()) ? undefined : `"${s}" has an invalid duration`;
  if (s.split(/\s+/).length !== 5)
    return `"${s}" must have exactly 5 fields (minute hour day-of-month month day-of-week)`;
  try {
    CronExpressionParser.parse(s);
    return undefined;
  } catch (err) {
    return `"${s}" is not a valid cron expression: ${err instanceof Error ? err.message : String(err)}`;
  }
}

class Checker {
  readonly problems: Problem[] = [];
  add(field: string, message: string): void {
    this.problems.push({ field, message });
  }
  /** Non-empty string when present; required when `required`. */
  str(obj: Obj, key: string, path: string, required = false): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null) {
      if (required) this.add(`${path}.${key}`, 'is required');
      return undefined;
    }
    if (typeof v !== 'string') {
      this.add(`${path}.${key}`, `must be a string, got ${describe(v)}`);
      return undefined;
    }
    if (required && v === '') this.add(`${path}.${key}`, 'must not be empty');
    return v;
  }
  int(obj: Obj, key: string, path: string, min = 0): number | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      this.add(`${path}.${key}`, `must be an integer >= ${min}, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }
  oneOf(obj: Obj, key: string, path: string, allowed: readonly string[]): void {
    const v = obj[key];
    if (v === undefined || v === null || v === '') return;
    if (typeof v !== 'string' || !allowed.includes(v))
      this.add(`${path}.${key}`, `must be one of ${allowed.join(', ')}, got ${describe(v)}`);
  }
  duration(obj: Obj, key: string, path: string): void {
    const v = obj[key];
    if (v === undefined || v === null || v === '') return;
    if (typeof v !== 'string' || !isGoDuration(v))
      this.add(`${path}.${key}`, `must be a duration such as 30s, 10m or 1h30m, got ${describe(v)}`);
  }
  record(obj: Obj, key: string, path: string, required = false): Obj | undefined {
    const v = obj[key];
    if (v === undefined || v === null) {
      if (required) this.add(`${path}.${key}`, 'is required');
      return undefined;
    }
    if (!isRecord(v)) {
      this.add(`${path}.${key}`, 'must be an object');
      return undefined;
    }
    return v;
  }
  list(obj: Obj, key: string, path: string): unknown[] | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) {
      this.add(`${path}.${key}`, 'must be a list');
      return undefined;
    }
    return v;
  }
  strings(obj: Obj, key: string, path: string): string[] | undefined {
    const l = this.list(obj, key, path);
    if (!l) return undefined;
    l.forEach((s, i) => {
      if (typeof s !== 'string' || s === '') this.add(`${path}.${key}[${i}]`, 'must be a non-empty string');
    });
    return l.filter((s): s is string => typeof s === 'string');
  }
}

// ---------------------------------------------------------------------------------------------- shared pieces

const DRIVERS = ['Restic', 'VolumeSnapshotter'] as const;
const ORDERS = ['Parallel', 'Sequential'] as const;
const BACKUP_POLICIES = ['Always', 'OnSuccess', 'OnFailure', 'OnFinalRetryFailure'] as const;
const RESTORE_POLICIES = ['Always', 'OnSuccess', 'OnFailure'] as const;
const HANDLER_ACTIONS = ['exec', 'httpGet', 'httpPost', 'tcpSocket'] as const;
const KEEP_FIELDS = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;

function checkHandler(c: Checker, h: Obj, path: string, policies: readonly string[] | undefined): void {
  const set = HANDLER_ACTIONS.filter((a) => h[a] !== undefined && h[a] !== null);
  if (set.length !== 1) {
    c.add(
      path,
      set.length === 0
        ? `must set exactly one action (${HANDLER_ACTIONS.join(', ')}), found none`
        : `must set exactly one action (${HANDLER_ACTIONS.join(', ')}), found ${set.join(' and ')}`,
    );
  }
  const exec = c.record(h, 'exec', path);
  if (exec) {
    const cmd = c.strings(exec, 'command', `${path}.exec`);
    if (!cmd || cmd.length === 0) c.add(`${path}.exec.command`, 'must list the command to run');
  }
  for (const a of ['httpGet', 'httpPost', 'tcpSocket'] as const) {
    const action = c.record(h, a, path);
    if (!action) continue;
    const port = action.port;
    if (port === undefined || port === null || port === '') c.add(`${path}.${a}.port`, 'is required');
    else if (typeof port === 'string' && !h.containerName)
      c.add(`${path}.containerName`, `is required to resolve the named port "${port}"`);
    else if (typeof port === 'number' && (!Number.isInteger(port) || port < 1 || port > 65535))
      c.add(`${path}.${a}.port`, `must be a port number 1-65535, got ${port}`);
    if (a !== 'tcpSocket') c.oneOf(action, 'scheme', `${path}.${a}`, ['HTTP', 'HTTPS']);
  }
  c.str(h, 'containerName', path);
  if (policies) c.oneOf(h, 'executionPolicy', path, policies);
  else if (h.executionPolicy !== undefined) c.add(`${path}.executionPolicy`, 'is only allowed on post hooks');
}

function checkHooks(c: Checker, spec: Obj, path: string, pre: string, post: string, policies: readonly string[]): void {
  const hooks = c.record(spec, 'hooks', path);
  if (!hooks) return;
  const p = `${path}.hooks`;
  const preH = c.record(hooks, pre, p);
  if (preH) checkHandler(c, preH, `${p}.${pre}`, undefined);
  const postH = c.record(hooks, post, p);
  if (postH) checkHandler(c, postH, `${p}.${post}`, policies);
}

function checkRetention(c: Checker, spec: Obj): void {
  const rp = c.record(spec, 'retentionPolicy', 'spec', true);
  if (!rp) return;
  const p = 'spec.retentionPolicy';
  c.str(rp, 'name', p, true);
  let keeps = false;
  for (const k of KEEP_FIELDS) if ((c.int(rp, k, p) ?? 0) > 0) keeps = true;
  const tags = c.strings(rp, 'keepTags', p);
  if (tags && tags.length > 0) keeps = true;
  if (!keeps) c.add(p, `keeps no snapshot: set one of ${KEEP_FIELDS.join(', ')} above 0, or keepTags`);
  for (const b of ['prune', 'dryRun'] as const) {
    if (rp[b] !== undefined && typeof rp[b] !== 'boolean') c.add(`${p}.${b}`, 'must be true or false');
  }
}

/** TargetRef checks; returns the ref when it is usable for identity comparison. */
function checkRef(
  c: Checker,
  target: Obj,
  path: string,
  ns: string,
  task: Obj | undefined,
  required: boolean,
): Obj | undefined {
  const ref = c.record(target, 'ref', path, required);
  if (!ref) return undefined;
  const p = `${path}.ref`;
  const kind = c.str(ref, 'kind', p, true);
  const name = c.str(ref, 'name', p, true);
  const apiVersion = c.str(ref, 'apiVersion', p);
  // docs/api.md §2.1: a ref that spells a group its kind is not served by would name nothing, silently.
  const versionProblem = apiVersionProblem({ apiVersion, kind });
  if (versionProblem) c.add(`${p}.apiVersion`, versionProblem);
  const refNs = c.str(ref, 'namespace', p);
  const taskName = task && typeof task.name === 'string' ? task.name : '';
  const sidecarOrPvc = isWorkloadKind(kind) || kind === 'PersistentVolumeClaim';
  if (refNs && ns && refNs !== ns && sidecarOrPvc && !taskName.startsWith('kubedump')) {
    c.add(`${p}.namespace`, `a ${kind} in another namespace (${refNs}) cannot be a target of an invoker in ${ns}`);
  }
  return kind && name ? ref : undefined;
}

function checkVolumeMounts(c: Checker, target: Obj, path: string): void {
  const mounts = c.list(target, 'volumeMounts', path);
  mounts?.forEach((m, i) => {
    const p = `${path}.volumeMounts[${i}]`;
    if (!isRecord(m)) return c.add(p, 'must be an object');
    c.str(m, 'name', p, true);
    const mp = c.str(m, 'mountPath', p, true);
    if (mp && !mp.startsWith('/')) c.add(`${p}.mountPath`, `must be an absolute path, got "${mp}"`);
    c.str(m, 'subPath', p);
  });
}

function checkMemberCommon(c: Checker, m: Obj, path: string): Obj | undefined {
  const task = c.record(m, 'task', path);
  if (task) {
    c.str(task, 'name', `${path}.task`);
    c.list(task, 'params', `${path}.task`)?.forEach((param, i) => {
      const pp = `${path}.task.params[${i}]`;
      if (!isRecord(param)) return c.add(pp, 'must be an object');
      c.str(param, 'name', pp, true);
      if (typeof param.value !== 'string') c.add(`${pp}.value`, 'is required and must be a string');
    });
  }
  const tempDir = c.record(m, 'tempDir', path);
  if (tempDir) {
    c.oneOf(tempDir, 'medium', `${path}.tempDir`, ['', 'Memory']);
    const sl = tempDir.sizeLimit;
    if (
      sl !== undefined &&
      sl !== null &&
      !(typeof sl === 'number' && sl >= 0) &&
      !(typeof sl === 'string' && QUANTITY.test(sl))
    ) {
      c.add(`${path}.tempDir.sizeLimit`, `must be a quantity such as 1Gi, got ${describe(sl)}`);
    }
  }
  const rs = c.record(m, 'runtimeSettings', path);
  const container = rs ? c.record(rs, 'container', `${path}.runtimeSettings`) : undefined;
  if (container) {
    const p = `${path}.runtimeSettings.container`;
    const nice = c.record(container, 'nice', p);
    if (
      nice &&
      nice.adjustment !== undefined &&
      !(Number.isInteger(nice.adjustment) && (nice.adjustment as number) >= -20 && (nice.adjustment as number) <= 19)
    ) {
      c.add(`${p}.nice.adjustment`, 'must be an integer from -20 to 19');
    }
    const ionice = c.record(container, 'ionice', p);
    if (
      ionice &&
      ionice.class !== undefined &&
      !(Number.isInteger(ionice.class) && (ionice.class as number) >= 0 && (ionice.class as number) <= 3)
    ) {
      c.add(`${p}.ionice.class`, 'must be 0, 1, 2 or 3');
    }
    c.list(container, 'env', p)?.forEach((e, i) => {
      if (!isRecord(e) || typeof e.name !== 'string' || e.name === '') c.add(`${p}.env[${i}].name`, 'is required');
    });
  }
  return task;
}

function checkBackupMember(c: Checker, m: Obj, path: string, ns: string, refRequired: boolean): Obj | undefined {
  const task = checkMemberCommon(c, m, path);
  const target = c.record(m, 'target', path, refRequired);
  let ref: Obj | undefined;
  if (target) {
    const p = `${path}.target`;
    ref = checkRef(c, target, p, ns, task, true);
    c.strings(target, 'paths', p);
    c.strings(target, 'exclude', p);
    c.strings(target, 'args', p);
    c.str(target, 'alias', p);
    c.int(target, 'replicas', p);
    checkVolumeMounts(c, target, p);
  }
  checkHooks(c, m, path, 'preBackup', 'postBackup', BACKUP_POLICIES);
  return ref;
}

/** docs/api.md §2.3 rule constraints. */
function checkRules(c: Checker, rules: unknown[], path: string): void {
  let fallback: number | undefined;
  const hostRule = new Map<string, number>();
  rules.forEach((r, i) => {
    const p = `${path}[${i}]`;
    if (!isRecord(r)) return c.add(p, 'must be an object');
    const hosts = c.strings(r, 'targetHosts', p) ?? [];
    if (hosts.length === 0) {
      if (fallback !== undefined)
        c.add(`${p}.targetHosts`, `only one rule may leave targetHosts empty; ${path}[${fallback}] already does`);
      else fallback = i;
    }
    for (const h of hosts) {
      const prev = hostRule.get(h);
      if (prev !== undefined && prev !== i)
        c.add(`${p}.targetHosts`, `host "${h}" already appears in ${path}[${prev}].targetHosts`);
      else if (prev === i) c.add(`${p}.targetHosts`, `host "${h}" is listed twice`);
      else hostRule.set(h, i);
    }
    c.str(r, 'sourceHost', p);
    const paths = c.strings(r, 'paths', p) ?? [];
    const snaps = c.strings(r, 'snapshots', p) ?? [];
    if (paths.length > 0 && snaps.length > 0) c.add(p, 'paths and snapshots are mutually exclusive; set only one');
    c.strings(r, 'include', p);
    c.strings(r, 'exclude', p);
  });
}

function checkRestoreMember(c: Checker, m: Obj, path: string, ns: string): Obj | undefined {
  const task = checkMemberCommon(c, m, path);
  const target = c.record(m, 'target', path, true);
  let ref: Obj | undefined;
  if (target) {
    const p = `${path}.target`;
    const vcts = c.list(target, 'volumeClaimTemplates', p);
    ref = checkRef(c, target, p, ns, task, !vcts || vcts.length === 0);
    c.str(target, 'alias', p);
    c.int(target, 'replicas', p);
    c.strings(target, 'args', p);
    checkVolumeMounts(c, target, p);
    const rules = c.list(target, 'rules', p);
    if (rules) checkRules(c, rules, `${p}.rules`);
  }
  checkHooks(c, m, path, 'preRestore', 'postRestore', RESTORE_POLICIES);
  return ref;
}

function checkRepositoryRef(c: Checker, spec: Obj, ns: string, ctx: ValidationContext, required: boolean): void {
  const repo = c.record(spec, 'repository', 'spec', required);
  if (!repo) return;
  const name = c.str(repo, 'name', 'spec.repository', true);
  const repoNs = c.str(repo, 'namespace', 'spec.repository') || ns;
  if (!name || !repoNs || repoNs === ns) return;
  const found = ctx.repository(repoNs, name);
  if (!found) return;
  const from = found.spec?.usagePolicy?.allowedNamespaces?.from ?? 'Same';
  if (from === 'Same') {
    c.add(
      'spec.repository.namespace',
      `Repository ${repoNs}/${name} allows use only from its own namespace (usagePolicy.allowedNamespaces.from: Same)`,
    );
  }
  // `Selector` needs the namespace's labels, which admission does not hold; the operator's ValidationPassed
  // condition reports that case.
}

/** A batch's members: present, each an object checked by `check`, no target named twice. */
function checkMembers(
  c: Checker,
  spec: Obj,
  ns: string,
  check: (m: Obj, path: string) => Obj | undefined,
): unknown[] | undefined {
  const members = c.list(spec, 'members', 'spec');
  if (!members || members.length === 0) {
    c.add('spec.members', 'must list at least one member');
    return undefined;
  }
  const refs = members.map((m, i) => {
    if (isRecord(m)) return check(m, `spec.members[${i}]`);
    c.add(`spec.members[${i}]`, 'must be an object');
    return undefined;
  });
  uniqueRefs(c, refs, ns, (i) => `spec.members[${i}]`);
  return members;
}

function uniqueRefs(c: Checker, refs: Array<Obj | undefined>, ns: string, memberPath: (i: number) => string): void {
  const seen = new Map<string, number>();
  refs.forEach((ref, i) => {
    if (!ref) return;
    const key = targetKey(ref as Partial<TargetRef>, ns);
    const prev = seen.get(key);
    if (prev !== undefined) {
      c.add(
        `${memberPath(i)}.target.ref`,
        `targets ${String(ref.kind)} ${String(ref.namespace || ns)}/${String(ref.name)} already targeted by ${memberPath(prev)}`,
      );
    } else {
      seen.set(key, i);
    }
  });
}

function sameJson(a: unknown, b: unknown): boolean {
  return stableStringify(a) === stableStringify(b);
}

// ---------------------------------------------------------------------------------------------------- kinds

function validateRepository(c: Checker, spec: Obj): void {
  const backend = c.record(spec, 'backend', 'spec', true);
  if (!backend) return;
  const providers = ['local', 's3', 'gcs', 'azure', 'swift', 'b2', 'rest'].filter(
    (p) => backend[p] !== undefined && backend[p] !== null,
  );
  if (providers.length !== 1) {
    c.add(
      'spec.backend',
      providers.length === 0
        ? 'must set one storage provider (local, s3, gcs, azure, swift, b2 or rest)'
        : `must set only one storage provider, found ${providers.join(', ')}`,
    );
  }
  c.str(backend, 'storageSecretName', 'spec.backend');
  const local = c.record(backend, 'local', 'spec.backend');
  if (local) {
    const mp = c.str(local, 'mountPath', 'spec.backend.local', true);
    if (mp !== undefined && mp !== '') {
      const clean = mp.replace(/\/+$/, '') || '/';
      if (!mp.startsWith('/')) c.add('spec.backend.local.mountPath', `must be an absolute path, got "${mp}"`);
      else if (clean === '/stash' || clean.startsWith('/stash/'))
        c.add('spec.backend.local.mountPath', `must not be /stash or under it (reserved for the agent), got "${mp}"`);
    }
    c.str(local, 'subPath', 'spec.backend.local');
    if (!Object.keys(local).some((k) => k !== 'mountPath' && k !== 'subPath')) {
      c.add('spec.backend.local', 'must name a volume source (hostPath, persistentVolumeClaim, nfs, ...)');
    }
  }
  const required: Array<[string, string]> = [
    ['s3', 'bucket'],
    ['gcs', 'bucket'],
    ['azure', 'container'],
    ['swift', 'container'],
    ['b2', 'bucket'],
  ];
  for (const [provider, field] of required) {
    const block = c.record(backend, provider, 'spec.backend');
    if (block) c.str(block, field, `spec.backend.${provider}`, true);
  }
  for (const provider of ['gcs', 'azure', 'b2']) {
    const block = isRecord(backend[provider]) ? (backend[provider] as Obj) : undefined;
    if (block) c.int(block, 'maxConnections', `spec.backend.${provider}`);
  }
  if (spec.wipeOut === true) {
    for (const p of ['local', 'b2'])
      if (isRecord(backend[p])) c.add('spec.wipeOut', `is not supported for the ${p} backend`);
  } else if (spec.wipeOut !== undefined && typeof spec.wipeOut !== 'boolean') {
    c.add('spec.wipeOut', 'must be true or false');
  }
  const up = c.record(spec, 'usagePolicy', 'spec');
  const an = up ? c.record(up, 'allowedNamespaces', 'spec.usagePolicy') : undefined;
  if (an) {
    c.oneOf(an, 'from', 'spec.usagePolicy.allowedNamespaces', ['Same', 'All', 'Selector']);
    if (an.from === 'Selector' && !isRecord(an.selector))
      c.add('spec.usagePolicy.allowedNamespaces.selector', 'is required when from is Selector');
  }
}

function validateBackupInvoker(c: Checker, kind: string, spec: Obj, ns: string, ctx: ValidationContext): void {
  c.oneOf(spec, 'driver', 'spec', DRIVERS);
  const restic = spec.driver === undefined || spec.driver === '' || spec.driver === 'Restic';
  checkRepositoryRef(c, spec, ns, ctx, restic);
  checkRetention(c, spec);
  if (spec.schedule !== undefined && spec.schedule !== null) {
    if (typeof spec.schedule !== 'string') c.add('spec.schedule', 'must be a string');
    else if (spec.schedule !== '') {
      const p = cronProblem(spec.schedule);
      if (p) c.add('spec.schedule', p);
    }
  }
  if (spec.paused !== undefined && typeof spec.paused !== 'boolean') c.add('spec.paused', 'must be true or false');
  c.int(spec, 'backupHistoryLimit', 'spec');
  c.duration(spec, 'timeOut', 'spec');
  const retry = c.record(spec, 'retryConfig', 'spec');
  if (retry) {
    c.int(retry, 'maxRetry', 'spec.retryConfig');
    c.duration(retry, 'delay', 'spec.retryConfig');
  }
  // A target may change at any time (upstream refuses it while Ready; users fix a wrong target with `kubectl
  // apply`): the invoker loop moves the sidecar from the old workload to the new one.
  if (kind === KINDS.BackupBatch.kind) {
    c.oneOf(spec, 'executionOrder', 'spec', ORDERS);
    checkHooks(c, spec, 'spec', 'preBackup', 'postBackup', BACKUP_POLICIES);
    checkMembers(c, spec, ns, (m, path) => checkBackupMember(c, m, path, ns, true));
  } else {
    checkBackupMember(c, spec, 'spec', ns, false);
  }
}

function validateRestoreInvoker(c: Checker, kind: string, spec: Obj, ns: string, ctx: ValidationContext): void {
  c.oneOf(spec, 'driver', 'spec', DRIVERS);
  const restic = spec.driver === undefined || spec.driver === '' || spec.driver === 'Restic';
  checkRepositoryRef(c, spec, ns, ctx, restic);
  c.duration(spec, 'timeOut', 'spec');
  if (kind === KINDS.RestoreBatch.kind) {
    c.oneOf(spec, 'executionOrder', 'spec', ORDERS);
    checkHooks(c, spec, 'spec', 'preRestore', 'postRestore', RESTORE_POLICIES);
    if (!checkMembers(c, spec, ns, (m, path) => checkRestoreMember(c, m, path, ns))) return;
  } else {
    checkRestoreMember(c, spec, 'spec', ns);
    const rules = c.list(spec, 'rules', 'spec');
    if (rules) checkRules(c, rules, 'spec.rules');
  }
}

function validateBackupSession(c: Checker, spec: Obj): void {
  const inv = c.record(spec, 'invoker', 'spec', true);
  if (inv) {
    const kind = c.str(inv, 'kind', 'spec.invoker', true);
    if (kind && kind !== KINDS.BackupConfiguration.kind && kind !== KINDS.BackupBatch.kind) {
      c.add('spec.invoker.kind', `must be BackupConfiguration or BackupBatch, got "${kind}"`);
    }
    c.str(inv, 'name', 'spec.invoker', true);
    c.str(inv, 'apiGroup', 'spec.invoker');
  }
  c.int(spec, 'retryLeft', 'spec');
}

const KNOWN = new Set<string>(Object.keys(KINDS));
const IMMUTABLE_SPEC = new Set<string>([KINDS.BackupSession.kind, KINDS.RestoreSession.kind, KINDS.RestoreBatch.kind]);

/**
 * Where the object disagrees with its kind's schema, for the fields the rules below did not already report (their
 * messages say more). The apiserver checks the schema before it calls a validating webhook; this check is for
 * clients that skip it (dry runs against older CRDs, tests, tools) and makes the rules' input typed.
 */
function schemaProblems(c: Checker, kind: string, obj: Obj): void {
  const reported = new Set(c.problems.map((p) => p.field));
  for (const p of schemaCheck(SCHEMAS[kind as StashKind], obj)) {
    if (reported.has(p.path)) continue;
    reported.add(p.path);
    c.add(p.path, p.message.startsWith(`${p.path}: `) ? p.message.slice(p.path.length + 2) : p.message);
  }
}

/** All problems with a create or update of one of our kinds; empty means admit. */
export function validateStash(input: ValidationInput, ctx: ValidationContext): Problem[] {
  const c = new Checker();
  if (!KNOWN.has(input.kind)) return c.problems;
  if (input.operation !== 'CREATE' && input.operation !== 'UPDATE') return c.problems;
  const obj = input.object;
  if (!isRecord(obj)) {
    c.add('object', 'is missing');
    return c.problems;
  }
  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  const ns = typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : (input.namespace ?? '');
  const spec = obj.spec;
  if (!isRecord(spec)) {
    c.add('spec', spec === undefined || spec === null ? 'is required' : 'must be an object');
    return c.problems;
  }
  const old = input.operation === 'UPDATE' && isRecord(input.oldObject) ? input.oldObject : undefined;
  if (old && IMMUTABLE_SPEC.has(input.kind)) {
    if (!sameJson(old.spec, obj.spec))
      c.add('spec', `is immutable: a ${input.kind} cannot be changed after creation; create a new one`);
    return c.problems;
  }
  switch (input.kind) {
    case KINDS.Repository.kind:
      validateRepository(c, spec);
      break;
    case KINDS.BackupConfiguration.kind:
    case KINDS.BackupBatch.kind:
      validateBackupInvoker(c, input.kind, spec, ns, ctx);
      break;
    case KINDS.RestoreSession.kind:
    case KINDS.RestoreBatch.kind:
      validateRestoreInvoker(c, input.kind, spec, ns, ctx);
      break;
    case KINDS.BackupSession.kind:
      validateBackupSession(c, spec);
      break;
  }
  schemaProblems(c, input.kind, obj);
  return c.problems;
}

export function problemsMessage(kind: string, name: string, problems: Problem[]): string {
  return `${kind} ${name} is invalid: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`;
}
