// gen rules REPO [--timestamp T] [--hosts h1,h2]: restore rules that bring every host back to what it had at
// time T (default now): per host, the newest snapshot of each of its paths taken at or before T. Printed as the
// YAML of `spec.target.rules`, for a RestoreSession (or a RestoreBatch member) to take as it is.
import { stringify } from 'yaml';
import type { Snapshot } from '../shared/restic/output.ts';
import { CliError, EXIT, type Cli } from './context.ts';
import { withRepository } from './repository.ts';

export interface GeneratedRule {
  targetHosts: string[];
  sourceHost: string;
  snapshots: string[];
}

/** Pure: the rules for `at` from a snapshot list. */
export function rulesAt(snapshots: readonly Snapshot[], at: Date, hosts: readonly string[] = []): GeneratedRule[] {
  const latest = new Map<string, Map<string, Snapshot>>();
  for (const s of snapshots) {
    if (new Date(s.time).getTime() > at.getTime()) continue;
    if (hosts.length > 0 && !hosts.includes(s.hostname)) continue;
    const byPath = latest.get(s.hostname) ?? new Map<string, Snapshot>();
    const key = s.paths.join(',');
    const cur = byPath.get(key);
    if (!cur || new Date(cur.time).getTime() < new Date(s.time).getTime()) byPath.set(key, s);
    latest.set(s.hostname, byPath);
  }
  return [...latest.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([host, byPath]) => ({
      targetHosts: [host],
      sourceHost: host,
      snapshots: [...byPath.values()].map((s) => s.id),
    }));
}

export async function genRules(cli: Cli, repo: string, o: { timestamp?: string; hosts: string[] }): Promise<void> {
  const at = o.timestamp ? new Date(o.timestamp) : new Date();
  if (Number.isNaN(at.getTime())) throw new CliError(EXIT.usage, `--timestamp: not a time: ${o.timestamp}`);
  await withRepository(
    cli,
    repo,
    async ({ restic }) => {
      const rules = rulesAt(await restic.snapshots({}, { signal: cli.signal }), at, o.hosts);
      if (rules.length === 0)
        throw new CliError(EXIT.notFound, `no snapshot of Repository ${repo} at or before ${at.toISOString()}`);
      cli.out(stringify({ rules }).trimEnd());
    },
    { writable: false },
  );
}
