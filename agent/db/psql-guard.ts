// Runs psql on a dump read from stdin and fails when the dump did not apply. psql reports a failing
// statement and carries on (exit 0), and a pg_dumpall dump cannot run with ON_ERROR_STOP because it
// always re-creates roles that exist (the bootstrap superuser at least). So psql runs as usual and every
// `ERROR:` it prints is checked: the collisions a full dump always meets on a live server are expected;
// anything else makes this exit 3 with the first such errors as the last lines of stderr.
// Usage: node psql-guard.ts <psql> [psql args…]; stdin and the environment pass through unchanged.
import { createInterface } from 'node:readline';

/** Errors a full dump meets on a server that already has its bootstrap roles and databases. */
export const EXPECTED_ERRORS: RegExp[] = [
  /^role ".+" already exists$/,
  /^database ".+" already exists$/,
  /^current user cannot be dropped$/,
  /^cannot drop role .+ because it is required by the database system$/,
  /^cannot drop the currently open database$/,
];

/** The message of a psql ERROR line, or undefined for other lines. */
export function errorOf(line: string): string | undefined {
  const m = /(?:^|:\s)ERROR:\s+(.*)$/.exec(line);
  return m?.[1]?.trim();
}

export function unexpected(message: string): boolean {
  return !EXPECTED_ERRORS.some((re) => re.test(message));
}

async function main(): Promise<number> {
  const [file, ...args] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: psql-guard <psql> [args…]\n');
    return 2;
  }
  // Through the agent's process runner: psql dies with this guard even when the guard is SIGKILLed. Loaded
  // here, not at import: the agent imports this module's rules, and an idle sidecar should not load execa.
  const { startChild } = await import('../../shared/restic/child.ts');
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  const stop = new AbortController();
  const child = startChild({
    file,
    args,
    env,
    stdin: 'inherit',
    stdout: 'ignore',
    stderr: 'pipe',
    stopSignal: 'SIGTERM',
    graceMs: 10_000,
    signal: stop.signal,
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => stop.abort());
  const bad: string[] = [];
  let count = 0;
  if (child.stderr) {
    const rl = createInterface({ input: child.stderr, crlfDelay: Infinity });
    rl.on('line', (line) => {
      process.stderr.write(`${line}\n`);
      const msg = errorOf(line);
      if (msg !== undefined && unexpected(msg)) {
        count++;
        if (bad.length < 3) bad.push(msg);
      }
    });
  }
  const r = await child.done;
  if (r.spawnError) {
    process.stderr.write(`cannot run ${file}: ${r.spawnError.message}\n`);
    return 127;
  }
  const code = r.exitCode ?? (r.signal ? 128 + 15 : 1);
  if (code !== 0) return code;
  if (count > 0) {
    process.stderr.write(`${count} statement(s) of the dump failed, first: ${bad.join(' | ')}\n`);
    return 3;
  }
  return 0;
}

if (import.meta.main) process.exitCode = await main();
