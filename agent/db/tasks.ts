// Built-in database tasks, chosen by a member's `task.name` (docs/api.md §2.4). Upstream names carry the
// engine, the action and the addon's version (`mysql-backup-8.0.21`, `mariadb-restore-10.5.8`,
// `postgres-backup-16.1`, `redis-backup-7.0.5`, `mongodb-backup-4.4.6`, `etcd-backup-3.5.0`; early addons used `pg-`); the version names the upstream addon image and does not
// change what we run, since the dump and restore clients here talk to any server version they support.
import { ValidationError } from '../../shared/errors.ts';

export type Engine = 'mysql' | 'postgres' | 'redis' | 'mongodb' | 'etcd';
export type DatabaseAction = 'backup' | 'restore';

export interface DatabaseTask {
  engine: Engine;
  action: DatabaseAction;
  /** The upstream addon version in the name, when there is one (informational). */
  version: string | undefined;
}

const ENGINES: Record<string, Engine> = {
  mysql: 'mysql',
  mariadb: 'mysql',
  postgres: 'postgres',
  postgresql: 'postgres',
  pg: 'postgres',
  redis: 'redis',
  mongodb: 'mongodb',
  mongo: 'mongodb',
  etcd: 'etcd',
};

const TASK_NAME = /^([a-z]+)-(backup|restore)(?:-(\d+(?:\.\d+){0,3}(?:-[a-z0-9.]+)?))?$/;

/** The engine and action a task name selects, or undefined when it is not a database task we run. */
export function databaseTask(taskName: string): DatabaseTask | undefined {
  const m = TASK_NAME.exec(taskName.trim().toLowerCase());
  if (!m) return undefined;
  const engine = ENGINES[m[1]!];
  if (!engine) return undefined;
  return { engine, action: m[2] as DatabaseAction, version: m[3] };
}

/** Like databaseTask, but an unknown name is an error that says which names are understood. */
export function requireDatabaseTask(taskName: string, action?: DatabaseAction): DatabaseTask {
  const task = databaseTask(taskName);
  if (!task) {
    throw new ValidationError(
      'task.name',
      `unknown database task ${JSON.stringify(taskName)}: expected <engine>-<backup|restore>[-<version>] ` +
        `with engine one of mysql, mariadb, postgres (or pg), redis, mongodb (or mongo), etcd, e.g. mysql-backup-8.0.21 or mongodb-restore-4.4.6`,
    );
  }
  if (action && task.action !== action) {
    throw new ValidationError(
      'task.name',
      `task ${JSON.stringify(taskName)} is a ${task.action} task, but this member needs a ${action} task`,
    );
  }
  return task;
}
