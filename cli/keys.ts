// key list|add|update|remove: restic's repository keys. A new password is read from a file the user names
// (--new-password-file, as restic takes it) and handed to restic as that file, never on a command line; with
// --update-secret (always for update, whose old password stops working) the storage Secret's RESTIC_PASSWORD
// follows, so sessions keep opening the repository. The last key is never removed.
import { readFile } from 'node:fs/promises';
import type { Restic } from '../shared/restic/command.ts';
import type { RepositoryObject } from '../shared/repository/open.ts';
import { CliError, EXIT, type Cli } from './context.ts';
import { withRepository } from './repository.ts';

export interface KeyInfo {
  id: string;
  current: boolean;
  userName: string;
  hostName: string;
  created: string;
}

async function restic(r: Restic, args: string[]): Promise<string> {
  const out = await r.exec(args, { timeoutMs: 5 * 60_000 });
  if (out.error) throw new CliError(EXIT.failed, `restic ${args[0]} ${args[1] ?? ''}: ${out.error.message}`);
  return out.stdout;
}

export async function listKeys(r: Restic): Promise<KeyInfo[]> {
  const stdout = await restic(r, ['key', 'list']);
  const line = stdout.split('\n').find((l) => l.trim().startsWith('['));
  const raw = line ? (JSON.parse(line) as Array<Record<string, unknown>>) : [];
  return raw.map((k) => ({
    id: String(k.id ?? ''),
    current: k.current === true,
    userName: String(k.userName ?? ''),
    hostName: String(k.hostName ?? ''),
    created: String(k.created ?? ''),
  }));
}

async function newPassword(file: string | undefined): Promise<string> {
  if (!file)
    throw new CliError(EXIT.usage, '--new-password-file is required (the password is never taken on the command line)');
  const text = (
    await readFile(file, 'utf8').catch(() => {
      throw new CliError(EXIT.usage, `cannot read --new-password-file ${file}`);
    })
  ).replace(/\r?\n$/, '');
  if (!text) throw new CliError(EXIT.usage, `--new-password-file ${file} is empty`);
  return text;
}

async function updateSecret(cli: Cli, repo: RepositoryObject, password: string): Promise<void> {
  const name = repo.spec.backend.storageSecretName;
  if (!name) throw new CliError(EXIT.failed, 'the Repository names no storageSecretName to update');
  await cli.kube.patch('v1', 'Secret', cli.namespace, name, {
    data: { RESTIC_PASSWORD: Buffer.from(password).toString('base64') },
  });
  cli.out(`Secret ${cli.namespace}/${name}: RESTIC_PASSWORD updated`);
}

export async function keyCommand(
  cli: Cli,
  action: string,
  repoName: string,
  o: { newPasswordFile?: string; updateSecret?: boolean; id?: string; user?: string; host?: string },
): Promise<void> {
  // restic reads a new password from a file; in a repository pod that file is not there, and the plugin puts no
  // password into a pod's spec or an exec's command line.
  const notInPod =
    action === 'add' || action === 'update'
      ? `key ${action} through a short-lived pod is not implemented; run it where the volume is mounted`
      : undefined;
  await withRepository(
    cli,
    repoName,
    async ({ restic: r }, repo) => {
      switch (action) {
        case 'list': {
          for (const k of await listKeys(r))
            cli.out(`${k.current ? '*' : ' '} ${k.id.slice(0, 8)}  ${k.userName}@${k.hostName}  ${k.created}`);
          return;
        }
        case 'add': {
          const pw = await newPassword(o.newPasswordFile);
          const before = new Set((await listKeys(r)).map((k) => k.id));
          const extra = [...(o.user ? ['--user', o.user] : []), ...(o.host ? ['--host', o.host] : [])];
          await restic(r, ['key', 'add', '--new-password-file', o.newPasswordFile!, ...extra]);
          const added = (await listKeys(r)).find((k) => !before.has(k.id));
          cli.out(`key ${added?.id.slice(0, 8) ?? '?'} added`);
          if (o.updateSecret) await updateSecret(cli, repo, pw);
          return;
        }
        case 'update': {
          const pw = await newPassword(o.newPasswordFile);
          await restic(r, ['key', 'passwd', '--new-password-file', o.newPasswordFile!]);
          cli.out('the current key now opens with the new password');
          await updateSecret(cli, repo, pw);
          return;
        }
        case 'remove': {
          if (!o.id) throw new CliError(EXIT.usage, 'key remove needs the key id (see key list)');
          const keys = await listKeys(r);
          const victim = keys.filter((k) => k.id.startsWith(o.id!));
          if (victim.length !== 1) throw new CliError(EXIT.notFound, `no single key matches ${o.id}`);
          if (keys.length === 1)
            throw new CliError(
              EXIT.refused,
              'refusing to remove the last key: the repository could never be opened again',
            );
          if (victim[0]!.current)
            throw new CliError(
              EXIT.refused,
              `key ${o.id} is the one the Secret's RESTIC_PASSWORD opens: add a new key with --update-secret first`,
            );
          await restic(r, ['key', 'remove', victim[0]!.id]);
          cli.out(`key ${victim[0]!.id.slice(0, 8)} removed`);
          return;
        }
        default:
          throw new CliError(EXIT.usage, `unknown key action "${action}": list, add, update or remove`);
      }
    },
    { writable: true, notInPod },
  );
}
