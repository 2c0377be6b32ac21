// cp secret|repository|backupconfig NAME --to-namespace NS: a working copy in another namespace. A Repository
// brings its storage Secret, a BackupConfiguration its Repository and Secret; each copy is the object's spec
// (and a Secret's data) under the same name, without status, ownership or server-set metadata. An object that
// already exists in the target namespace is left as it is, and said so.
import { apiVersionOf } from '../shared/api/constants.ts';
import type { KubeObject } from '../shared/kube/client.ts';
import { CliError, EXIT, getOrFail, type Cli } from './context.ts';

type Loose = KubeObject & {
  spec?: { backend?: { storageSecretName?: string }; repository?: { name?: string; namespace?: string } };
  data?: Record<string, string>;
  type?: string;
};

function copyOf(o: Loose, namespace: string): KubeObject {
  const { apiVersion, kind, spec, data, type } = o;
  const m = o.metadata ?? {};
  return {
    apiVersion,
    kind,
    metadata: { name: m.name, namespace, labels: m.labels, annotations: m.annotations },
    ...(spec !== undefined ? { spec } : {}),
    ...(data !== undefined ? { data } : {}),
    ...(type !== undefined ? { type } : {}),
  };
}

async function put(cli: Cli, o: Loose, to: string): Promise<void> {
  const what = `${o.kind} ${to}/${o.metadata?.name}`;
  if (await cli.kube.getOrNull(o.apiVersion ?? '', o.kind ?? '', to, o.metadata?.name ?? '')) {
    cli.out(`${what} exists already: left as it is`);
    return;
  }
  await cli.kube.create(copyOf(o, to));
  cli.out(`${what} created`);
}

export async function cp(cli: Cli, what: string, name: string, to: string | undefined): Promise<void> {
  if (!to) throw new CliError(EXIT.usage, '--to-namespace is required');
  if (to === cli.namespace) throw new CliError(EXIT.usage, '--to-namespace must differ from the source namespace');
  const copySecret = async (n: string) => put(cli, await getOrFail<Loose>(cli, 'v1', 'Secret', n), to);
  const copyRepository = async (n: string) => {
    const repo = await getOrFail<Loose>(cli, apiVersionOf('Repository'), 'Repository', n);
    const secret = repo.spec?.backend?.storageSecretName;
    if (secret) await copySecret(secret);
    await put(cli, repo, to);
  };
  switch (what) {
    case 'secret':
      return await copySecret(name);
    case 'repository':
      return await copyRepository(name);
    case 'backupconfig': {
      const bc = await getOrFail<Loose>(cli, apiVersionOf('BackupConfiguration'), 'BackupConfiguration', name);
      const repo = bc.spec?.repository;
      // A Repository of another namespace is shared already: the copy keeps pointing at it.
      if (repo?.name && (!repo.namespace || repo.namespace === cli.namespace)) await copyRepository(repo.name);
      return await put(cli, bc, to);
    }
    default:
      throw new CliError(EXIT.usage, `cp what? secret, repository or backupconfig (got "${what}")`);
  }
}
