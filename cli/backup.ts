// trigger, pause backup, resume backup: what a user does to a BackupConfiguration or BackupBatch.
import { apiVersionOf } from '../shared/api/constants.ts';
import { createBackupSession } from '../agent/create-session.ts';
import { CliError, EXIT, getOrFail, type Cli } from './context.ts';

export type InvokerKind = 'BackupConfiguration' | 'BackupBatch';

/** `--backupconfig NAME` or `--backupbatch NAME` (or a bare name, a BackupConfiguration as upstream). */
export function invokerOf(
  flags: { backupconfig?: string; backupbatch?: string },
  positional: string[],
): [InvokerKind, string] {
  const given = [flags.backupconfig, flags.backupbatch, positional[0]].filter((x) => x !== undefined);
  if (given.length !== 1)
    throw new CliError(EXIT.usage, 'name exactly one invoker: NAME, --backupconfig NAME or --backupbatch NAME');
  return flags.backupbatch !== undefined ? ['BackupBatch', flags.backupbatch] : ['BackupConfiguration', given[0]!];
}

export async function trigger(cli: Cli, kind: InvokerKind, name: string): Promise<void> {
  await getOrFail(cli, apiVersionOf(kind), kind, name);
  const s = await createBackupSession(cli.kube, cli.namespace, kind, name);
  cli.out(`BackupSession ${cli.namespace}/${s.metadata?.name} created for ${kind} ${name}`);
}

export async function setPaused(cli: Cli, kind: InvokerKind, name: string, paused: boolean): Promise<void> {
  await getOrFail(cli, apiVersionOf(kind), kind, name);
  await cli.kube.patch(apiVersionOf(kind), kind, cli.namespace, name, { spec: { paused } });
  cli.out(`${kind} ${cli.namespace}/${name} ${paused ? 'paused' : 'resumed'}`);
}
