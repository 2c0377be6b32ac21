// What every kubectl-stash subcommand gets: the user's kubeconfig connection, the namespace, where restic is,
// how to print, and the exit codes a script can test (docs/kubectl-stash.md "Exit codes").
import { Kube } from '../shared/kube/client.ts';

export const EXIT = {
  ok: 0,
  /** The work failed: backend, restic or API error. */
  failed: 1,
  /** Bad command line. */
  usage: 2,
  /** The named object does not exist. */
  notFound: 3,
  /** Refused on purpose: the repository is in use, the last key, a live lock holder. */
  refused: 4,
} as const;

export class CliError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

export interface Cli {
  kube: Kube;
  namespace: string;
  resticBinary: string;
  /** The user's kubectl (KUBECTL, else from PATH): logs and the exec into a repository pod (cli/repository-pod.ts). */
  kubectl: string;
  /** --agent-image; else the operator's (cli/repository-pod.ts). */
  agentImage: string | undefined;
  /** Aborted on SIGINT/SIGTERM: long work stops and what the command started (a pod) is cleaned up. */
  signal: AbortSignal;
  out(line: string): void;
  err(line: string): void;
}

export function makeCli(flags: {
  kubeconfig?: string;
  namespace?: string;
  agentImage?: string;
  signal?: AbortSignal;
}): Cli {
  return {
    kube: Kube.load(flags.kubeconfig, 'kubectl-stash'),
    namespace: flags.namespace || 'default',
    resticBinary: process.env.STASH_RESTIC_BINARY || 'restic',
    kubectl: process.env.KUBECTL || 'kubectl',
    agentImage: flags.agentImage || undefined,
    signal: flags.signal ?? new AbortController().signal,
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
  };
}

export async function getOrFail<T extends object>(
  cli: Cli,
  apiVersion: string,
  kind: string,
  name: string,
): Promise<T> {
  const o = await cli.kube.getOrNull(apiVersion, kind, cli.namespace, name);
  if (!o) throw new CliError(EXIT.notFound, `${kind} ${cli.namespace}/${name} not found`);
  return o as T;
}
