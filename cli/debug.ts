// debug backup|restore: one report of what a user needs when a backup or restore fails — the invoker's phase and
// conditions, its latest sessions with every host's phase and error, the Events of both, and the recent log
// lines of the agents (read with `kubectl logs`, which needs a kubelet; where logs are not served the report says
// so). Nothing in it is secret: status, conditions and Events never carry credentials.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { apiVersionOf, LABEL } from '../shared/api/constants.ts';
import type { KubeObject } from '../shared/kube/client.ts';
import { errorMessage } from '../shared/errors.ts';
import { CliError, EXIT, getOrFail, type Cli } from './context.ts';

const run = promisify(execFile);

type Host = { hostname?: string; phase?: string; error?: string; duration?: string };
type Cond = { type?: string; status?: string; reason?: string; message?: string };
type Loose = KubeObject & {
  status?: {
    phase?: string;
    conditions?: Cond[];
    targets?: Array<{ ref?: { kind?: string; name?: string }; phase?: string; stats?: Host[]; conditions?: Cond[] }>;
    members?: Array<{ ref?: { kind?: string; name?: string }; phase?: string; stats?: Host[]; conditions?: Cond[] }>;
    stats?: Host[];
  };
  spec?: { containers?: Array<{ name: string }>; initContainers?: Array<{ name: string }> };
};

function conditions(out: (l: string) => void, cs: Cond[] | undefined, indent: string): void {
  for (const c of cs ?? [])
    out(
      `${indent}${c.status === 'True' ? '✓' : '✗'} ${c.type}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}`,
    );
}

function hosts(out: (l: string) => void, hs: Host[] | undefined, indent: string): void {
  for (const h of hs ?? [])
    out(
      `${indent}host ${h.hostname ?? '?'}: ${h.phase ?? '?'}${h.duration ? ` in ${h.duration}` : ''}${h.error ? ` — error: ${h.error}` : ''}`,
    );
}

async function events(cli: Cli, o: KubeObject): Promise<void> {
  const list = await cli.kube.list<
    KubeObject & { type?: string; reason?: string; message?: string; lastTimestamp?: string }
  >('v1', 'Event', cli.namespace, {
    fieldSelector: `involvedObject.name=${o.metadata?.name},involvedObject.kind=${o.kind}`,
  });
  cli.out(`  Events of ${o.kind} ${o.metadata?.name}:${list.items.length === 0 ? ' none' : ''}`);
  for (const e of list.items.slice(-15)) cli.out(`    ${e.lastTimestamp ?? ''} ${e.type} ${e.reason}: ${e.message}`);
}

async function agentLogs(cli: Cli, container: string, kubeconfig: string | undefined): Promise<void> {
  const pods = (await cli.kube.list<Loose>('v1', 'Pod', cli.namespace)).items.filter((p) =>
    [...(p.spec?.containers ?? []), ...(p.spec?.initContainers ?? [])].some((c) => c.name === container),
  );
  for (const p of pods.slice(0, 5)) {
    const args = ['logs', '-n', cli.namespace, p.metadata!.name!, '-c', container, '--tail', '20'];
    if (kubeconfig) args.push('--kubeconfig', kubeconfig);
    try {
      const { stdout } = await run(cli.kubectl, args, { timeout: 20_000 });
      cli.out(`  ${container} log of pod ${p.metadata?.name} (last 20 lines):`);
      for (const l of stdout.trimEnd().split('\n')) cli.out(`    ${l}`);
    } catch (err) {
      const why = (err as { stderr?: string }).stderr?.trim() || errorMessage(err);
      cli.out(`  ${container} log of pod ${p.metadata?.name}: not available (${why.split('\n')[0]})`);
    }
  }
}

export async function debug(
  cli: Cli,
  what: string,
  kind: string,
  name: string,
  kubeconfig: string | undefined,
): Promise<void> {
  if (what !== 'backup' && what !== 'restore') throw new CliError(EXIT.usage, 'debug backup … or debug restore …');
  const apiVersion = apiVersionOf(kind as 'BackupBatch');
  const inv = await getOrFail<Loose>(cli, apiVersion, kind, name);
  cli.out(`${kind} ${cli.namespace}/${name}: phase ${inv.status?.phase ?? '-'}`);
  conditions(cli.out, inv.status?.conditions, '  ');
  await events(cli, inv);
  if (what === 'backup') {
    const sessions = (
      await cli.kube.list<Loose>(apiVersionOf('BackupSession'), 'BackupSession', cli.namespace, {
        labelSelector: `${LABEL.invokerName}=${name}`,
      })
    ).items.sort((a, b) => String(a.metadata?.creationTimestamp).localeCompare(String(b.metadata?.creationTimestamp)));
    cli.out(`Sessions (latest ${Math.min(3, sessions.length)} of ${sessions.length}):`);
    for (const s of sessions.slice(-3)) {
      cli.out(`  BackupSession ${s.metadata?.name}: ${s.status?.phase ?? 'Pending'}`);
      conditions(cli.out, s.status?.conditions, '    ');
      for (const tg of s.status?.targets ?? []) {
        cli.out(`    target ${tg.ref?.kind}/${tg.ref?.name}: ${tg.phase ?? '-'}`);
        hosts(cli.out, tg.stats, '      ');
      }
    }
    const last = sessions.at(-1);
    if (last) await events(cli, last);
    await agentLogs(cli, 'stash', kubeconfig);
  } else {
    for (const m of inv.status?.members ?? []) {
      cli.out(`  member ${m.ref?.kind}/${m.ref?.name}: ${m.phase ?? '-'}`);
      conditions(cli.out, m.conditions, '    ');
      hosts(cli.out, m.stats, '    ');
    }
    hosts(cli.out, inv.status?.stats, '  ');
    await agentLogs(cli, 'stash-init', kubeconfig);
  }
}

/** `--backupconfig`, `--backupbatch`, `--restoresession` or `--restorebatch` NAME. */
export function debugTarget(f: Record<string, string | boolean | undefined>): [string, string] {
  const flags: Array<[string, string]> = [
    ['backupconfig', 'BackupConfiguration'],
    ['backupbatch', 'BackupBatch'],
    ['restoresession', 'RestoreSession'],
    ['restorebatch', 'RestoreBatch'],
  ];
  const given = flags.filter(([flag]) => typeof f[flag] === 'string');
  if (given.length !== 1)
    throw new CliError(EXIT.usage, 'name one of --backupconfig, --backupbatch, --restoresession, --restorebatch');
  const [flag, kind] = given[0]!;
  return [kind, f[flag] as string];
}
