// kubectl-stash: the `kubectl stash` plugin (docs/kubectl-stash.md). Reads the Repository and its Secret through
// the API with the user's kubeconfig (--kubeconfig, else $KUBECONFIG, else ~/.kube/config); runs restic here for
// the work that needs the backend. Exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 refused (cli/context.ts).
import { parseArgs } from 'node:util';
import { errorMessage } from '../shared/errors.ts';
import { invokerOf, setPaused, trigger } from './backup.ts';
import { CliError, EXIT, makeCli } from './context.ts';
import { cp } from './cp.ts';
import { debug, debugTarget } from './debug.ts';
import { keyCommand } from './keys.ts';
import { check, download, unlock } from './repository.ts';
import { genRules } from './rules.ts';
import { deleteSnapshot } from './snapshot.ts';

export const HELP = `kubectl stash — operate Stash backups (stash-ts)

Usage: kubectl stash COMMAND [ARGS] [-n NAMESPACE] [--kubeconfig FILE]

Commands:
  trigger NAME | --backupconfig NAME | --backupbatch NAME
                               start a backup now (creates a BackupSession)
  pause backup  --backupconfig NAME | --backupbatch NAME
                               pause scheduled backups (the trigger CronJob is suspended)
  resume backup --backupconfig NAME | --backupbatch NAME
                               resume scheduled backups
  unlock REPO [--pod-namespace NS]
                               remove stale restic locks whose holder pod is gone; live holders' locks are kept
  check REPO [--read-data | --read-data-subset N/M|P%]
                               restic check; the result goes into the Repository's status.integrity
  download REPO --destination DIR [--snapshots ID|NAME,...] [--paths P,...] [--host H]
                               restore snapshots (default: latest) into DIR/<short id>/
  delete snapshot NAME         forget a snapshot in the backend (deletes its Snapshot object)
  key list REPO                list the repository's keys (* = the key the Secret's password opens)
  key add REPO --new-password-file F [--update-secret] [--user U] [--host H]
                               add a key; --update-secret makes the Secret's RESTIC_PASSWORD the new one
  key update REPO --new-password-file F
                               change the current key's password and the Secret's RESTIC_PASSWORD
  key remove REPO --id ID      remove a key; never the last one, nor the one the Secret opens
  cp secret|repository|backupconfig NAME --to-namespace NS
                               copy into another namespace (a Repository with its Secret, a BackupConfiguration
                               with its Repository and Secret)
  gen rules REPO [--timestamp T] [--hosts H,...]
                               restore rules for every host as it was at T (default now), as YAML
  debug backup  --backupconfig NAME | --backupbatch NAME
  debug restore --restoresession NAME | --restorebatch NAME
                               one report: phase, conditions, sessions with every host's error, Events,
                               the agents' recent log lines
  help                         this text

Global flags: -n/--namespace NS (default "default"), --kubeconfig FILE, --agent-image IMAGE (for the short-lived pod
that reaches a local volume only a pod can mount; default the operator's STASH_AGENT_IMAGE).
Passwords are read from files, never from the command line; no credential is printed.
Exit codes: 0 ok, 1 the work failed, 2 bad command line, 3 not found, 4 refused (in use, last key).
`;

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  kubeconfig: { type: 'string' },
  backupconfig: { type: 'string' },
  backupbatch: { type: 'string' },
  'pod-namespace': { type: 'string' },
  'read-data': { type: 'boolean' },
  'read-data-subset': { type: 'string' },
  destination: { type: 'string' },
  snapshots: { type: 'string' },
  paths: { type: 'string' },
  host: { type: 'string' },
  user: { type: 'string' },
  id: { type: 'string' },
  'new-password-file': { type: 'string' },
  'update-secret': { type: 'boolean' },
  'to-namespace': { type: 'string' },
  restoresession: { type: 'string' },
  restorebatch: { type: 'string' },
  timestamp: { type: 'string' },
  hosts: { type: 'string' },
  'agent-image': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const list = (v: string | undefined) =>
  v
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];

function need(args: string[], i: number, what: string): string {
  const v = args[i];
  if (!v) throw new CliError(EXIT.usage, `missing ${what}; see kubectl stash --help`);
  return v;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\nsee kubectl stash --help\n`);
    return EXIT.usage;
  }
  const { values: f, positionals: p } = parsed;
  if (f.help || p.length === 0 || p[0] === 'help') {
    process.stdout.write(HELP);
    return p.length === 0 && !f.help ? EXIT.usage : EXIT.ok;
  }
  // Ctrl-C stops the work and still cleans up (a repository pod is deleted); a second one is not waited for.
  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) process.exit(130);
    process.stderr.write('interrupted: stopping and cleaning up …\n');
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const cli = makeCli({
    kubeconfig: f.kubeconfig,
    namespace: f.namespace,
    agentImage: f['agent-image'],
    signal: stop.signal,
  });
  try {
    switch (p[0]) {
      case 'trigger': {
        const [kind, name] = invokerOf(f, p.slice(1));
        await trigger(cli, kind, name);
        break;
      }
      case 'pause':
      case 'resume': {
        if (p[1] !== 'backup')
          throw new CliError(EXIT.usage, `${p[0]} what? kubectl stash ${p[0]} backup --backupconfig NAME`);
        const [kind, name] = invokerOf(f, p.slice(2));
        await setPaused(cli, kind, name, p[0] === 'pause');
        break;
      }
      case 'unlock':
        await unlock(cli, need(p, 1, 'REPO'), f['pod-namespace']);
        break;
      case 'check':
        if (
          !(await check(cli, need(p, 1, 'REPO'), { readData: f['read-data'], readDataSubset: f['read-data-subset'] }))
        )
          return EXIT.failed;
        break;
      case 'download':
        await download(cli, need(p, 1, 'REPO'), {
          destination: f.destination ?? '',
          snapshots: list(f.snapshots),
          paths: list(f.paths),
          host: f.host,
        });
        break;
      case 'delete':
        if (p[1] !== 'snapshot') throw new CliError(EXIT.usage, 'kubectl stash delete snapshot NAME');
        await deleteSnapshot(cli, need(p, 2, 'NAME'));
        break;
      case 'key':
        await keyCommand(cli, need(p, 1, 'list|add|update|remove'), need(p, 2, 'REPO'), {
          newPasswordFile: f['new-password-file'],
          updateSecret: f['update-secret'],
          id: f.id,
          user: f.user,
          host: f.host,
        });
        break;
      case 'debug': {
        const [kind, name] = debugTarget(f);
        await debug(cli, need(p, 1, 'backup|restore'), kind, name, f.kubeconfig);
        break;
      }
      case 'cp':
        await cp(cli, need(p, 1, 'secret|repository|backupconfig'), need(p, 2, 'NAME'), f['to-namespace']);
        break;
      case 'gen':
        if (p[1] !== 'rules') throw new CliError(EXIT.usage, 'kubectl stash gen rules REPO');
        await genRules(cli, need(p, 2, 'REPO'), { timestamp: f.timestamp, hosts: list(f.hosts) });
        break;
      default:
        throw new CliError(EXIT.usage, `unknown command "${p[0]}"; see kubectl stash --help`);
    }
    return EXIT.ok;
  } catch (err) {
    const code = stop.signal.aborted ? 130 : err instanceof CliError ? err.code : EXIT.failed;
    cli.err(`error: ${errorMessage(err)}`);
    return code;
  } finally {
    cli.kube.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
