// Database members (AppBinding targets, docs/api.md §12, §17) in the agent: read the AppBinding and its credentials Secret
// through the API, pick the engine from the member's task name (upstream names such as mysql-backup-8.0.21 or
// postgres-restore-16.1), and stream a dump into restic's stdin or a snapshot's dump back into the database
// client. The engine-specific commands live in ./db; credentials reach the client through its env/option
// file only.
import { APPBINDING_API_VERSION } from '../shared/api/constants.ts';
import type { Rule, TargetRef } from '../shared/api/index.ts';
import type { Kube, KubeObject } from '../shared/kube/client.ts';
import { snapshotStats, type SnapshotStats } from '../shared/restic/format.ts';
import type { BackupResult } from '../shared/restic/output.ts';
import { AgentError } from './common.ts';
import { secretValues } from '../shared/kube/secret-values.ts';
import type { Secret } from './types.ts';
import {
  dumpFilename,
  backupDatabase,
  connectionFromAppBinding,
  databaseTask,
  restoreDatabase,
  type AppBinding,
  type Engine,
} from './db/index.ts';
import type { RepoOps } from './repo.ts';

export function isDatabaseTarget(ref: TargetRef | undefined): boolean {
  return ref?.kind === 'AppBinding';
}

interface TaskLike {
  name?: string;
  params?: Array<{ name: string; value: string }>;
}

async function connection(kube: Kube, ref: TargetRef, namespace: string, engine: Engine | undefined) {
  const ns = ref.namespace || namespace;
  const ab = await kube.getOrNull<AppBinding & KubeObject>(
    ref.apiVersion || APPBINDING_API_VERSION,
    'AppBinding',
    ns,
    ref.name,
  );
  if (!ab) throw new AgentError(`AppBinding ${ns}/${ref.name} not found: create it or fix target.ref`);
  const secretName = ab.spec?.secret?.name;
  if (!secretName)
    throw new AgentError(`AppBinding ${ns}/${ref.name} has no spec.secret.name: the database credentials are needed`);
  const secret = await kube.getOrNull<Secret>('v1', 'Secret', ns, secretName);
  if (!secret) throw new AgentError(`Secret ${ns}/${secretName} named by AppBinding ${ref.name} not found`);
  return connectionFromAppBinding(ab, secretValues(secret), engine ? { engine } : {});
}

function taskFor(task: TaskLike | undefined, action: 'backup' | 'restore') {
  const name = task?.name ?? '';
  const t = databaseTask(name);
  if (!t)
    throw new AgentError(
      `task.name "${name}" is not a database task this agent knows (use e.g. mysql-${action}-8.0.21, mariadb-${action}-10.5.8, postgres-${action}-16.1, redis-${action}-7.0.5, mongodb-${action}-4.4.6 or etcd-${action}-3.5.0)`,
    );
  if (t.action !== action)
    throw new AgentError(`task.name "${name}" is a ${t.action} task, but this member is a ${action}`);
  return t;
}

export interface DatabaseBackupInput {
  kube: Kube;
  repo: RepoOps;
  ref: TargetRef;
  namespace: string;
  task: TaskLike | undefined;
  host: string;
  /** Scratch directory for the client's private option file. */
  tmpDir?: string;
  signal?: AbortSignal;
}

/** One snapshot holding the dump as a single file; a dump that fails leaves no snapshot. */
export async function backupDatabaseTarget(
  i: DatabaseBackupInput,
): Promise<{ result: BackupResult; stats: SnapshotStats }> {
  const task = taskFor(i.task, 'backup');
  const conn = await connection(i.kube, i.ref, i.namespace, task.engine);
  const result = await i.repo.withRestic((restic) =>
    backupDatabase(restic, conn, { host: i.host, params: i.task?.params, signal: i.signal, tmpDir: i.tmpDir }),
  );
  return { result, stats: snapshotStats(result, `/${dumpFilename(conn.engine)}`) };
}

export interface DatabaseRestoreInput extends DatabaseBackupInput {
  rule: Rule;
}

/** docs/api.md §16.2 for a database: the rule's snapshot (or the source host's latest dump) streamed into the client. */
export async function restoreDatabaseTarget(i: DatabaseRestoreInput): Promise<void> {
  const engine = i.task?.name ? taskFor(i.task, 'restore').engine : undefined;
  const conn = await connection(i.kube, i.ref, i.namespace, engine);
  const snapshot = i.rule.snapshots?.[0] ?? 'latest';
  const host = snapshot === 'latest' ? i.rule.sourceHost || i.host : i.host;
  await i.repo.withRestic((restic) =>
    restoreDatabase(restic, conn, { snapshot, host, params: i.task?.params, signal: i.signal, tmpDir: i.tmpDir }),
  );
}
