// Checks on our own kinds (docs/api.md §18, plus the batch checks the open-source operator never had): the object
// against its kind's schema (shared/api/schema, the source of the CRDs), then the rules a schema cannot say. Every
// problem names the field path, and all problems are reported at once so a user fixes a manifest in one round.
import { CronExpressionParser } from 'cron-parser';
import { KINDS, type StashKind } from '../../shared/api/constants.ts';
import { check as schemaCheck, SCHEMAS, withoutNulls, type SchemaProblem } from '../../shared/api/schema/index.ts';
import { apiVersionProblem, isWorkloadKind, targetKey } from '../../shared/api/target.ts';
import type {
  BackupBatch,
  BackupConfiguration,
  BackupConfigurationTemplateSpec,
  BackupSession,
  Handler,
  Repository as ApiRepository,
  RestoreBatch,
  RestoreSession,
  RestoreTargetSpec,
  RetentionPolicy,
  Rule,
  TargetRef,
} from '../../shared/api/types.ts';
import { isRecord } from '../../shared/is-record.ts';
import { WIPEABLE_BACKENDS, wipeOutUnsupported } from '../repository-deletion.ts';
import { stableStringify } from './inject.ts';
import type { Obj, Repository } from './types.ts';

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
  /** Go text/template's parse error of a hook template (shared/template), or undefined when it parses. */
  templateError?(text: string): string | undefined;
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
  templateError: ((text: string) => string | undefined) | undefined;
  add(field: string, message: string): void {
    this.problems.push({ field, message });
  }
  /** A field a rule needs: present and not empty. */
  required(value: string | undefined, field: string): void {
    if (value === undefined) this.add(field, 'is required');
    else if (value === '') this.add(field, 'must not be empty');
  }
  nonNegative(value: number | undefined, field: string): void {
    if (value !== undefined && value < 0) this.add(field, `must be an integer >= 0, got ${value}`);
  }
  duration(value: string | undefined, field: string): void {
    if (value && !isGoDuration(value))
      this.add(field, `must be a duration such as 30s, 10m or 1h30m, got ${describe(value)}`);
  }
  nonEmptyItems(list: readonly string[] | undefined, field: string): void {
    list?.forEach((s, i) => {
      if (s === '') this.add(`${field}[${i}]`, 'must be a non-empty string');
    });
  }
}

// ---------------------------------------------------------------------------------------------- shared pieces

const HANDLER_ACTIONS = ['exec', 'httpGet', 'httpPost', 'tcpSocket'] as const;
const KEEP_FIELDS = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;

type AnyHandler = Handler & { executionPolicy?: string };
type Hooks = Partial<Record<'preBackup' | 'postBackup' | 'preRestore' | 'postRestore', AnyHandler>>;
type Port = number | string | undefined;

function checkHandler(c: Checker, h: AnyHandler, path: string): void {
  const set = HANDLER_ACTIONS.filter((a) => h[a] !== undefined);
  if (set.length !== 1) {
    c.add(
      path,
      set.length === 0
        ? `must set exactly one action (${HANDLER_ACTIONS.join(', ')}), found none`
        : `must set exactly one action (${HANDLER_ACTIONS.join(', ')}), found ${set.join(' and ')}`,
    );
  }
  if (h.exec) {
    if (!h.exec.command?.length) c.add(`${path}.exec.command`, 'must list the command to run');
    c.nonEmptyItems(h.exec.command, `${path}.exec.command`);
    h.exec.command?.forEach((arg, i) => {
      if (typeof arg === 'string') checkTemplate(c, arg, `${path}.exec.command[${i}]`);
    });
  }
  const body = (h.httpPost as { body?: unknown } | undefined)?.body;
  if (typeof body === 'string') checkTemplate(c, body, `${path}.httpPost.body`);
  for (const a of ['httpGet', 'httpPost', 'tcpSocket'] as const) {
    const action = h[a] as { port?: Port; scheme?: string } | undefined;
    if (!action) continue;
    const port = action.port;
    if (port === undefined || port === '') c.add(`${path}.${a}.port`, 'is required');
    else if (typeof port === 'string' && !h.containerName)
      c.add(`${path}.containerName`, `is required to resolve the named port "${port}"`);
    else if (typeof port === 'number' && (port < 1 || port > 65535))
      c.add(`${path}.${a}.port`, `must be a port number 1-65535, got ${port}`);
    if (a !== 'tcpSocket' && action.scheme && !['HTTP', 'HTTPS'].includes(action.scheme))
      c.add(`${path}.${a}.scheme`, `must be one of HTTP, HTTPS, got ${describe(action.scheme)}`);
  }
}

/** Stash renders exec arguments and httpPost bodies containing `{{` as Go templates: they must parse. */
function checkTemplate(c: Checker, text: string, path: string): void {
  if (!text.includes('{{') || !c.templateError) return;
  const err = c.templateError(text);
  if (err !== undefined) c.add(path, `is not a valid Go template: ${err}`);
}

function checkHooks(c: Checker, hooks: Hooks | undefined, path: string): void {
  for (const [name, h] of Object.entries(hooks ?? {})) if (h) checkHandler(c, h, `${path}.hooks.${name}`);
}

function checkRetention(c: Checker, rp: RetentionPolicy | undefined): void {
  const p = 'spec.retentionPolicy';
  if (!rp) return c.add(p, 'is required');
  c.required(rp.name, `${p}.name`);
  let keeps = (rp.keepTags?.length ?? 0) > 0;
  for (const k of KEEP_FIELDS) {
    c.nonNegative(rp[k], `${p}.${k}`);
    if ((rp[k] ?? 0) > 0) keeps = true;
  }
  c.nonEmptyItems(rp.keepTags, `${p}.keepTags`);
  if (!keeps) c.add(p, `keeps no snapshot: set one of ${KEEP_FIELDS.join(', ')} above 0, or keepTags`);
}

/** TargetRef checks; returns the ref when it is usable for identity comparison. */
function checkRef(
  c: Checker,
  ref: TargetRef | undefined,
  path: string,
  ns: string,
  taskName: string,
  required: boolean,
): TargetRef | undefined {
  const p = `${path}.ref`;
  if (!ref) {
    if (required) c.add(p, 'is required');
    return undefined;
  }
  c.required(ref.kind, `${p}.kind`);
  c.required(ref.name, `${p}.name`);
  // docs/api.md §2.1: a ref that spells a group its kind is not served by would name nothing, silently.
  const versionProblem = apiVersionProblem(ref);
  if (versionProblem) c.add(`${p}.apiVersion`, versionProblem);
  const sidecarOrPvc = isWorkloadKind(ref.kind) || ref.kind === 'PersistentVolumeClaim';
  if (ref.namespace && ns && ref.namespace !== ns && sidecarOrPvc && !taskName.startsWith('kubedump')) {
    c.add(
      `${p}.namespace`,
      `a ${ref.kind} in another namespace (${ref.namespace}) cannot be a target of an invoker in ${ns}`,
    );
  }
  return ref.kind && ref.name ? ref : undefined;
}

function checkVolumeMounts(
  c: Checker,
  mounts: ReadonlyArray<{ mountPath?: string; name?: string }> | undefined,
  path: string,
): void {
  mounts?.forEach((m, i) => {
    if (!isRecord(m)) return;
    const p = `${path}.volumeMounts[${i}]`;
    c.required(m.name, `${p}.name`);
    c.required(m.mountPath, `${p}.mountPath`);
    if (m.mountPath && !m.mountPath.startsWith('/'))
      c.add(`${p}.mountPath`, `must be an absolute path, got "${m.mountPath}"`);
  });
}

type MemberSpec = BackupConfigurationTemplateSpec | RestoreTargetSpec;

function checkMemberCommon(c: Checker, m: MemberSpec, path: string): string {
  m.task?.params?.forEach((param, i) => {
    if (isRecord(param)) c.required(param.name, `${path}.task.params[${i}].name`);
  });
  const sl = m.tempDir?.sizeLimit;
  if (sl !== undefined && !(typeof sl === 'number' ? sl >= 0 : QUANTITY.test(sl)))
    c.add(`${path}.tempDir.sizeLimit`, `must be a quantity such as 1Gi, got ${describe(sl)}`);
  const container = m.runtimeSettings?.container;
  if (container) {
    const p = `${path}.runtimeSettings.container`;
    const adjustment = container.nice?.adjustment;
    if (adjustment !== undefined && (adjustment < -20 || adjustment > 19))
      c.add(`${p}.nice.adjustment`, 'must be an integer from -20 to 19');
    const ioClass = container.ionice?.class;
    if (ioClass !== undefined && (ioClass < 0 || ioClass > 3)) c.add(`${p}.ionice.class`, 'must be 0, 1, 2 or 3');
    container.env?.forEach((e, i) => {
      if (isRecord(e) && !e.name) c.add(`${p}.env[${i}].name`, 'is required');
    });
  }
  return m.task?.name ?? '';
}

function checkBackupMember(
  c: Checker,
  m: BackupConfigurationTemplateSpec,
  path: string,
  ns: string,
  refRequired: boolean,
): TargetRef | undefined {
  const taskName = checkMemberCommon(c, m, path);
  const target = m.target;
  let ref: TargetRef | undefined;
  if (!target) {
    if (refRequired) c.add(`${path}.target`, 'is required');
  } else {
    const p = `${path}.target`;
    ref = checkRef(c, target.ref, p, ns, taskName, true);
    for (const list of ['paths', 'exclude', 'args'] as const) c.nonEmptyItems(target[list], `${p}.${list}`);
    checkVolumeMounts(c, target.volumeMounts, p);
  }
  checkHooks(c, m.hooks as Hooks | undefined, path);
  return ref;
}

/** docs/api.md §2.3 rule constraints. */
function checkRules(c: Checker, rules: readonly Rule[], path: string): void {
  let fallback: number | undefined;
  const hostRule = new Map<string, number>();
  rules.forEach((r, i) => {
    if (!isRecord(r)) return;
    const p = `${path}[${i}]`;
    const hosts = r.targetHosts ?? [];
    c.nonEmptyItems(hosts, `${p}.targetHosts`);
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
    if ((r.paths?.length ?? 0) > 0 && (r.snapshots?.length ?? 0) > 0)
      c.add(p, 'paths and snapshots are mutually exclusive; set only one');
    for (const list of ['paths', 'snapshots', 'include', 'exclude'] as const) c.nonEmptyItems(r[list], `${p}.${list}`);
  });
}

function checkRestoreMember(c: Checker, m: RestoreTargetSpec, path: string, ns: string): TargetRef | undefined {
  const taskName = checkMemberCommon(c, m, path);
  const target = m.target;
  let ref: TargetRef | undefined;
  if (!target) c.add(`${path}.target`, 'is required');
  else {
    const p = `${path}.target`;
    ref = checkRef(c, target.ref, p, ns, taskName, !target.volumeClaimTemplates?.length);
    c.nonEmptyItems(target.args, `${p}.args`);
    checkVolumeMounts(c, target.volumeMounts, p);
    if (target.rules) checkRules(c, target.rules, `${p}.rules`);
  }
  checkHooks(c, m.hooks as Hooks | undefined, path);
  return ref;
}

function checkRepositoryRef(
  c: Checker,
  repo: { name?: string; namespace?: string } | undefined,
  ns: string,
  ctx: ValidationContext,
  required: boolean,
): void {
  if (!repo) {
    if (required) c.add('spec.repository', 'is required');
    return;
  }
  c.required(repo.name, 'spec.repository.name');
  const repoNs = repo.namespace || ns;
  if (!repo.name || !repoNs || repoNs === ns) return;
  const found = ctx.repository(repoNs, repo.name);
  if (!found) return;
  const from = found.spec?.usagePolicy?.allowedNamespaces?.from ?? 'Same';
  if (from === 'Same') {
    c.add(
      'spec.repository.namespace',
      `Repository ${repoNs}/${repo.name} allows use only from its own namespace (usagePolicy.allowedNamespaces.from: Same)`,
    );
  }
  // `Selector` needs the namespace's labels, which admission does not hold; the operator's ValidationPassed
  // condition reports that case.
}

/** A batch's members: present, each checked by `check`, no target named twice. */
function checkMembers<M>(
  c: Checker,
  members: readonly M[] | undefined,
  ns: string,
  check: (m: M, path: string) => TargetRef | undefined,
): boolean {
  if (!members || members.length === 0) {
    c.add('spec.members', 'must list at least one member');
    return false;
  }
  const refs = members.map((m, i) => (isRecord(m) ? check(m, `spec.members[${i}]`) : undefined));
  const seen = new Map<string, number>();
  refs.forEach((ref, i) => {
    if (!ref) return;
    const key = targetKey(ref, ns);
    const prev = seen.get(key);
    if (prev === undefined) return void seen.set(key, i);
    c.add(
      `spec.members[${i}].target.ref`,
      `targets ${ref.kind} ${ref.namespace || ns}/${ref.name} already targeted by spec.members[${prev}]`,
    );
  });
  return true;
}

function sameJson(a: unknown, b: unknown): boolean {
  return stableStringify(a) === stableStringify(b);
}

// ---------------------------------------------------------------------------------------------------- kinds

const PROVIDERS = ['local', 's3', 'gcs', 'azure', 'swift', 'b2', 'rest'] as const;

function validateRepository(c: Checker, spec: ApiRepository['spec']): void {
  const backend = spec.backend;
  if (!backend) return c.add('spec.backend', 'is required');
  const providers = PROVIDERS.filter((p) => backend[p] !== undefined);
  if (providers.length !== 1) {
    c.add(
      'spec.backend',
      providers.length === 0
        ? 'must set one storage provider (local, s3, gcs, azure, swift, b2 or rest)'
        : `must set only one storage provider, found ${providers.join(', ')}`,
    );
  }
  const local = backend.local;
  if (local) {
    const mp = local.mountPath;
    c.required(mp, 'spec.backend.local.mountPath');
    if (mp) {
      const clean = mp.replace(/\/+$/, '') || '/';
      if (!mp.startsWith('/')) c.add('spec.backend.local.mountPath', `must be an absolute path, got "${mp}"`);
      else if (clean === '/stash' || clean.startsWith('/stash/'))
        c.add('spec.backend.local.mountPath', `must not be /stash or under it (reserved for the agent), got "${mp}"`);
    }
    if (!Object.keys(local).some((k) => k !== 'mountPath' && k !== 'subPath'))
      c.add('spec.backend.local', 'must name a volume source (hostPath, persistentVolumeClaim, nfs, ...)');
  }
  const named: Array<[string, { bucket?: string; container?: string } | undefined, 'bucket' | 'container']> = [
    ['s3', backend.s3, 'bucket'],
    ['gcs', backend.gcs, 'bucket'],
    ['azure', backend.azure, 'container'],
    ['swift', backend.swift, 'container'],
    ['b2', backend.b2, 'bucket'],
  ];
  for (const [provider, block, field] of named)
    if (block) c.required(block[field], `spec.backend.${provider}.${field}`);
  // The operator deletes the data of a deleted Repository only where it can reach the backend itself
  // (docs/api.md §3); accepting wipeOut elsewhere would leave the user believing the data is gone.
  if (spec.wipeOut === true && providers.length === 1) {
    const why = wipeOutUnsupported(providers[0]!);
    if (why)
      c.add(
        'spec.wipeOut',
        `true is not supported for the ${providers[0]} backend: ${why}; leave it unset or false (the data is kept) and remove the data with restic or the storage tools, or use an ${WIPEABLE_BACKENDS.join(' or ')} backend`,
      );
  }
  const an = spec.usagePolicy?.allowedNamespaces;
  if (an?.from === 'Selector' && !an.selector)
    c.add('spec.usagePolicy.allowedNamespaces.selector', 'is required when from is Selector');
}

/** What every invoker kind checks: its repository (required with the Restic driver) and its timeOut. */
function checkInvoker(
  c: Checker,
  spec: { driver?: string; repository?: { name?: string; namespace?: string }; timeOut?: string },
  ns: string,
  ctx: ValidationContext,
): void {
  checkRepositoryRef(c, spec.repository, ns, ctx, !spec.driver || spec.driver === 'Restic');
  c.duration(spec.timeOut, 'spec.timeOut');
}

function validateBackupInvoker(
  c: Checker,
  inv: BackupConfiguration | BackupBatch,
  ns: string,
  ctx: ValidationContext,
): void {
  const spec = inv.spec;
  checkInvoker(c, spec, ns, ctx);
  checkRetention(c, spec.retentionPolicy);
  if (spec.schedule) {
    const p = cronProblem(spec.schedule);
    if (p) c.add('spec.schedule', p);
  }
  c.nonNegative(spec.backupHistoryLimit, 'spec.backupHistoryLimit');
  c.nonNegative(spec.retryConfig?.maxRetry, 'spec.retryConfig.maxRetry');
  c.duration(spec.retryConfig?.delay, 'spec.retryConfig.delay');
  // A target may change at any time (upstream refuses it while Ready; users fix a wrong target with `kubectl
  // apply`): the invoker loop moves the sidecar from the old workload to the new one.
  if (inv.kind === KINDS.BackupBatch.kind) {
    const batch = (inv as BackupBatch).spec;
    checkHooks(c, batch.hooks as Hooks | undefined, 'spec');
    checkMembers(c, batch.members, ns, (m, path) => checkBackupMember(c, m, path, ns, true));
  } else {
    checkBackupMember(c, (inv as BackupConfiguration).spec, 'spec', ns, false);
  }
}

function validateRestoreInvoker(
  c: Checker,
  inv: RestoreSession | RestoreBatch,
  ns: string,
  ctx: ValidationContext,
): void {
  checkInvoker(c, inv.spec, ns, ctx);
  if (inv.kind === KINDS.RestoreBatch.kind) {
    const batch = (inv as RestoreBatch).spec;
    checkHooks(c, batch.hooks as Hooks | undefined, 'spec');
    checkMembers(c, batch.members, ns, (m, path) => checkRestoreMember(c, m, path, ns));
  } else {
    const single = (inv as RestoreSession).spec;
    checkRestoreMember(c, single, 'spec', ns);
    if (single.rules) checkRules(c, single.rules, 'spec.rules');
  }
}

function validateBackupSession(c: Checker, spec: BackupSession['spec']): void {
  const inv = spec.invoker;
  if (!inv) return c.add('spec.invoker', 'is required');
  c.required(inv.kind, 'spec.invoker.kind');
  if (inv.kind && inv.kind !== KINDS.BackupConfiguration.kind && inv.kind !== KINDS.BackupBatch.kind)
    c.add('spec.invoker.kind', `must be BackupConfiguration or BackupBatch, got "${inv.kind}"`);
  c.required(inv.name, 'spec.invoker.name');
}

const KNOWN = new Set<string>(Object.keys(KINDS));
const IMMUTABLE_SPEC = new Set<string>([KINDS.BackupSession.kind, KINDS.RestoreSession.kind, KINDS.RestoreBatch.kind]);

/**
 * The object with every value the schema rejected taken out, so the rules below read it as its API type. A
 * removed list item leaves a hole (`undefined`) so indexes in messages stay those of the manifest.
 */
function conforming(obj: unknown, problems: readonly SchemaProblem[]): unknown {
  const out = withoutNulls(obj);
  for (const p of problems) {
    if (p.kind === 'required' || p.pointer === '') continue;
    const segs = p.pointer
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = segs.pop()!;
    let parent: unknown = out;
    for (const s of segs) parent = isRecord(parent) || Array.isArray(parent) ? (parent as Obj)[s] : undefined;
    if (Array.isArray(parent)) parent[Number(last)] = undefined;
    else if (isRecord(parent)) delete parent[last];
  }
  return out;
}

/** All problems with a create or update of one of our kinds; empty means admit. */
export function validateStash(input: ValidationInput, ctx: ValidationContext): Problem[] {
  const c = new Checker();
  c.templateError = ctx.templateError;
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
  // A Repository update that leaves the spec alone (the operator's finalizer, labels) is admitted as it is:
  // refusing it for a rule added later would leave a Repository that can be neither finalized nor deleted.
  if (old && input.kind === KINDS.Repository.kind && sameJson(old.spec, obj.spec)) return c.problems;
  if (old && IMMUTABLE_SPEC.has(input.kind)) {
    if (!sameJson(old.spec, obj.spec))
      c.add('spec', `is immutable: a ${input.kind} cannot be changed after creation; create a new one`);
    return c.problems;
  }
  // The schema first (the apiserver checks it before it calls us; this is for clients that skip it), then the
  // rules a schema cannot say, on the object as its API type.
  const schema = schemaCheck(SCHEMAS[input.kind as StashKind], obj);
  const typed = conforming(obj, schema);
  switch (input.kind) {
    case KINDS.Repository.kind:
      validateRepository(c, (typed as ApiRepository).spec);
      break;
    case KINDS.BackupConfiguration.kind:
    case KINDS.BackupBatch.kind:
      validateBackupInvoker(c, typed as BackupConfiguration | BackupBatch, ns, ctx);
      break;
    case KINDS.RestoreSession.kind:
    case KINDS.RestoreBatch.kind:
      validateRestoreInvoker(c, typed as RestoreSession | RestoreBatch, ns, ctx);
      break;
    case KINDS.BackupSession.kind:
      validateBackupSession(c, (typed as BackupSession).spec);
      break;
  }
  // A rule's message says more than the schema's for the same field; outer fields first.
  const reported = new Set(c.problems.map((p) => p.field));
  const depth = (p: SchemaProblem): number => p.pointer.split('/').length;
  for (const p of [...schema].sort((a, b) => depth(a) - depth(b))) {
    if (reported.has(p.path)) continue;
    reported.add(p.path);
    c.add(p.path, p.message.startsWith(`${p.path}: `) ? p.message.slice(p.path.length + 2) : p.message);
  }
  return c.problems;
}

export function problemsMessage(kind: string, name: string, problems: Problem[]): string {
  return `${kind} ${name} is invalid: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`;
}
