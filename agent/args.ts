// Command-line parsing for the agent. Upstream's flag set is large and partly irrelevant here (pushgateway,
// AKS quirks, glog flags); accepting every `--x`/`--x=v` and reading only what we need keeps injected pod
// specs from any Stash version working.

export interface ParsedArgs {
  command: string | undefined;
  flags: Map<string, string>;
  positionals: string[];
}

/** Flags that never take a separate value (so `--flag next` does not eat `next`). */
const BOOLEAN_FLAGS = new Set(['help', 'alsologtostderr', 'logtostderr', 'restic-hostname-isolation']);

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const flags = new Map<string, string>();
  const positionals: string[] = [];
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('-') && a.length > 1) {
      const body = a.replace(/^--?/, '');
      const eq = body.indexOf('=');
      if (eq >= 0) {
        flags.set(body.slice(0, eq), body.slice(eq + 1));
        continue;
      }
      const next = argv[i + 1];
      if (!BOOLEAN_FLAGS.has(body) && next !== undefined && !next.startsWith('-')) {
        flags.set(body, next);
        i++;
      } else {
        flags.set(body, 'true');
      }
      continue;
    }
    if (command === undefined) command = a;
    else positionals.push(a);
  }
  return { command, flags, positionals };
}

export function flagBool(flags: Map<string, string>, name: string, fallback: boolean): boolean {
  const v = flags.get(name);
  if (v === undefined || v === '') return fallback;
  return !['false', '0', 'no', 'off'].includes(v.toLowerCase());
}

export function flagInt(flags: Map<string, string>, name: string, fallback: number): number {
  const v = flags.get(name);
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  return Number.isFinite(n) ? n : fallback;
}
