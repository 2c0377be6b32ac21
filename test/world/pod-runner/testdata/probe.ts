// A stand-in container for the pod runner's own tests: reports what it sees (argv, env, mounted files)
// into $PROBE_OUT/<name>.json, then exits with --exit=N or, with --sleep, runs until SIGTERM.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';

const args = process.argv.slice(2);
const name = process.env.PROBE_NAME ?? 'probe';
const out = process.env.PROBE_OUT ?? '/probe-out';
const look = (process.env.PROBE_LOOK ?? '').split(',').filter(Boolean);
const report = {
  argv: args,
  env: Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(POD_|NODE_|MY_|KUBECONFIG|HOSTNAME)/.test(k))),
  files: Object.fromEntries(
    look.map((p) => [
      p,
      existsSync(p) ? readdirSync(p).map((f) => `${f}=${readFileSync(join(p, f), 'utf8').trim()}`) : null,
    ]),
  ),
  namespaceFile: existsSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace')
    ? readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8')
    : null,
  hostname: hostname(),
  at: Date.now(),
};
writeFileSync(join(out, `${name}.json`), JSON.stringify(report));
const exit = args.find((a) => a.startsWith('--exit='));
if (args.includes('--sleep')) {
  process.on('SIGTERM', () => {
    writeFileSync(join(out, `${name}.terminated`), String(Date.now()));
    process.exit(0);
  });
  setInterval(() => undefined, 1 << 30);
} else {
  process.exit(exit ? Number(exit.slice(7)) : 0);
}
