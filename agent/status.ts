// Status writes of the agent: read-modify-write on the status subresource with conflict retry (Kube.update),
// merged by key and with phases recomputed in the same write (shared/status), plus Events on the session.
import { randomBytes } from 'node:crypto';
import { apiVersionOf } from '../shared/api/constants.ts';
import type { BackupSession, RestoreBatch, RestoreSession } from './types.ts';
import type { Kube, KubeObject } from '../shared/kube/client.ts';
import type { Condition, Handler, HookExecutionPolicy, TargetRef } from '../shared/api/index.ts';
import { postHookSkipReason, type HookSummary } from './hooks.ts';
import {
  findTarget,
  mergeBackupSessionStatus,
  mergeRestoreBatchStatus,
  mergeRestoreSessionStatus,
  rfc3339,
  type BackupSessionPatch,
  type MemberPatch,
  type RestoreSessionPatch,
} from '../shared/status/index.ts';
import { errorMessage } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';

const ATTEMPTS = 20;

export async function patchBackupSession(
  kube: Kube,
  namespace: string,
  name: string,
  patch: BackupSessionPatch,
  known?: BackupSession,
): Promise<BackupSession | null> {
  return await kube.update<BackupSession>(
    apiVersionOf('BackupSession'),
    'BackupSession',
    namespace,
    name,
    (cur) => {
      cur.status = mergeBackupSessionStatus(cur.status, patch, {
        namespace,
        creationTimestamp: cur.metadata?.creationTimestamp as string | undefined,
      });
      return cur;
    },
    { subresource: 'status', attempts: ATTEMPTS, current: known },
  );
}

/**
 * A host whose run could not finish, recorded Failed with the reason, unless it has stats already (what it
 * wrote itself wins). Returns false when there was nothing to record.
 */
export async function recordBackupHostFailure(
  kube: Kube,
  namespace: string,
  name: string,
  ref: TargetRef,
  host: string,
  error: string,
): Promise<boolean> {
  let recorded = false;
  await kube.update<BackupSession>(
    apiVersionOf('BackupSession'),
    'BackupSession',
    namespace,
    name,
    (cur) => {
      if (findTarget(cur.status, ref, namespace)?.stats?.some((x) => x.hostname === host)) return null;
      recorded = true;
      cur.status = mergeBackupSessionStatus(
        cur.status,
        { targets: [{ ref, stats: [{ hostname: host, phase: 'Failed', error }] }] },
        { namespace, creationTimestamp: cur.metadata?.creationTimestamp as string | undefined },
      );
      return cur;
    },
    { subresource: 'status', attempts: ATTEMPTS },
  );
  return recorded;
}

export async function patchRestoreSession(
  kube: Kube,
  namespace: string,
  name: string,
  patch: RestoreSessionPatch,
  known?: RestoreSession,
): Promise<RestoreSession | null> {
  return await kube.update<RestoreSession>(
    apiVersionOf('RestoreSession'),
    'RestoreSession',
    namespace,
    name,
    (cur) => {
      cur.status = mergeRestoreSessionStatus(cur.status, patch, {
        creationTimestamp: cur.metadata?.creationTimestamp as string | undefined,
      });
      return cur;
    },
    { subresource: 'status', attempts: ATTEMPTS, current: known },
  );
}

export async function patchRestoreBatchMember(
  kube: Kube,
  namespace: string,
  name: string,
  member: MemberPatch,
  known?: RestoreBatch,
): Promise<RestoreBatch | null> {
  return await kube.update<RestoreBatch>(
    apiVersionOf('RestoreBatch'),
    'RestoreBatch',
    namespace,
    name,
    (cur) => {
      cur.status = mergeRestoreBatchStatus(
        cur.status,
        { members: [member] },
        { namespace, creationTimestamp: cur.metadata?.creationTimestamp as string | undefined },
      );
      return cur;
    },
    { subresource: 'status', attempts: ATTEMPTS, current: known },
  );
}

/** A condition one host writes; a False one carries severity Error. */
export function hostCondition(
  type: string,
  ok: boolean,
  reasons: { true: string; false: string },
  message: string,
): Condition {
  return {
    type,
    status: ok ? 'True' : 'False',
    reason: ok ? reasons.true : reasons.false,
    message,
    lastTransitionTime: rfc3339(new Date()),
    ...(ok ? {} : { severity: 'Error' }),
  };
}

/**
 * Runs a local post hook (postBackup/postRestore) unless its executionPolicy skips it for this outcome, and
 * says how it went as the condition `type` (a skipped hook is True, with the skip as its message).
 */
export async function postHookCondition(
  hook: Handler & { executionPolicy?: HookExecutionPolicy },
  o: {
    type: string;
    reasons: { true: string; false: string };
    name: string;
    retryLeft: number;
    error: string | undefined;
  },
  run: (status: HookSummary['Status']) => Promise<unknown>,
  duration: string,
): Promise<Condition> {
  const skip = postHookSkipReason(hook.executionPolicy, !o.error, o.retryLeft);
  if (skip) return hostCondition(o.type, true, o.reasons, skip);
  try {
    await run({ Phase: o.error ? 'Failed' : 'Succeeded', Duration: duration, Error: o.error });
    return hostCondition(o.type, true, o.reasons, `Successfully executed ${o.name} hook.`);
  } catch (err) {
    return hostCondition(o.type, false, o.reasons, `${o.name} hook failed: ${errorMessage(err)}`);
  }
}

export interface EventInput {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** A core/v1 Event about `obj`; a failure to record it is logged, never fatal. */
export async function emitEvent(
  kube: Kube,
  obj: KubeObject,
  ev: EventInput,
  component: string,
  host: string,
  log?: Logger,
): Promise<void> {
  const ns = obj.metadata?.namespace ?? 'default';
  const now = new Date().toISOString();
  try {
    await kube.create({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        name: `${obj.metadata?.name ?? 'stash'}.${Date.now().toString(16)}${randomBytes(3).toString('hex')}`,
        namespace: ns,
      },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata?.name,
        namespace: ns,
        uid: obj.metadata?.uid,
        resourceVersion: obj.metadata?.resourceVersion,
      },
      type: ev.type,
      reason: ev.reason,
      message: ev.message.slice(0, 1024),
      source: { component, host },
      reportingComponent: component,
      reportingInstance: host,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  } catch (err) {
    log?.warn({ err: errorMessage(err), reason: ev.reason }, 'could not record event');
  }
}
