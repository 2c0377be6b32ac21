// Database members (job model): task names, AppBinding connections, dump/restore clients, and the runs.
export { databaseTask, requireDatabaseTask, type DatabaseTask, type Engine, type DatabaseAction } from './tasks.ts';
export { connectionFromAppBinding, type AppBinding, type DatabaseConnection, type SecretValues } from './connection.ts';
export { splitArgs, paramValue, argsParam, type TaskParam } from './args.ts';
export {
  buildDumpCommand,
  buildRestoreCommand,
  prepareDump,
  prepareRestore,
  type DbCommand,
  type PreparedCommand,
  type CommandOptions,
} from './commands.ts';
export {
  backupDatabase,
  restoreDatabase,
  DatabaseError,
  DUMP_FILENAME,
  dumpFilename,
  type DatabaseBackupOptions,
  type DatabaseRestoreOptions,
} from './run.ts';
