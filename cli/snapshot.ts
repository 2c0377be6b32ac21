// delete snapshot NAME: deletes the Snapshot object, which forgets the snapshot in the backend
// (docs/decisions/0009), and waits until the operator has done so.
import { setTimeout as sleep } from 'node:timers/promises';
import { SNAPSHOT_API_VERSION, SNAPSHOT_KIND } from '../shared/api/snapshot-names.ts';
import { KubeError } from '../shared/errors.ts';
import { CliError, EXIT, getOrFail, type Cli } from './context.ts';

export async function deleteSnapshot(cli: Cli, name: string, waitMs = 120_000): Promise<void> {
  await getOrFail(cli, SNAPSHOT_API_VERSION, SNAPSHOT_KIND, name);
  try {
    await cli.kube.delete(SNAPSHOT_API_VERSION, SNAPSHOT_KIND, cli.namespace, name);
  } catch (err) {
    if (err instanceof KubeError && err.status === 409) throw new CliError(EXIT.refused, err.message);
    throw err;
  }
  cli.err(`Snapshot ${cli.namespace}/${name} deleted; waiting for the operator to forget it in the backend …`);
  const end = Date.now() + waitMs;
  while (await cli.kube.getOrNull(SNAPSHOT_API_VERSION, SNAPSHOT_KIND, cli.namespace, name)) {
    if (Date.now() > end)
      throw new CliError(
        EXIT.failed,
        `Snapshot ${name} is still being forgotten after ${waitMs / 1000} s: see its Events`,
      );
    await sleep(500);
  }
  cli.out(`snapshot ${name} forgotten`);
}
