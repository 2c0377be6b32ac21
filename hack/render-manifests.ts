// The raw manifests come from the chart (docs/chart.md, one source): writes manifests/webhook/*.yaml from
// `helm template charts/stash-ts` with the values of a plain `kubectl apply` install, and copies manifests/crds/
// (generated from the schemas by hack/gen-crds.ts) into charts/stash-ts/crds/. `--check` writes nothing and
// exits 1 when a committed file differs, so CI catches an edit made on one side only.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { binary } from '../test/world/bins.ts';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const chart = path.join(root, 'charts', 'stash-ts');
const checkOnly = process.argv.includes('--check');

/** Values of the raw manifests: the namespace object included, no certificate (certs/ or a CA injector fills it). */
export const MANIFEST_VALUES = ['createNamespace=true', 'apiserver.servingCerts.generate=false'];

/** Chart template → file of manifests/webhook it is rendered into. */
const TARGET: Record<string, string> = {
  'namespace.yaml': 'operator.yaml',
  'operator.yaml': 'operator.yaml',
  'rbac.yaml': 'rbac.yaml',
  'agent-rbac.yaml': 'agent-rbac.yaml',
  'webhook-configurations.yaml': 'webhook-configurations.yaml',
};
const HEADER = '# Rendered from charts/stash-ts by hack/render-manifests.ts (npm run gen:manifests): edit the chart.\n';

export function renderManifests(): Map<string, string> {
  const out = execFileSync(
    binary('helm'),
    ['template', 'stash-ts', chart, '--namespace', 'stash-system', ...MANIFEST_VALUES.flatMap((v) => ['--set', v])],
    { encoding: 'utf8' },
  );
  const files = new Map<string, string[]>();
  for (const doc of out.split(/^---\n/m)) {
    const m = doc.match(/^# Source: stash-ts\/templates\/(\S+)\n/);
    if (!m) continue;
    const target = TARGET[m[1]!];
    if (!target) throw new Error(`template ${m[1]} has no manifests/webhook file; add it to TARGET`);
    const body = doc.slice(m[0].length).trim();
    if (!body) continue;
    files.set(target, [...(files.get(target) ?? []), `${body}\n`]);
  }
  const result = new Map<string, string>();
  for (const [f, docs] of files) result.set(path.join('manifests', 'webhook', f), HEADER + docs.join('---\n'));
  for (const f of readdirSync(path.join(root, 'manifests', 'crds'))
    .filter((x) => x.endsWith('.yaml'))
    .sort()) {
    result.set(
      path.join('charts', 'stash-ts', 'crds', f),
      readFileSync(path.join(root, 'manifests', 'crds', f), 'utf8'),
    );
  }
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let stale = 0;
  for (const [rel, text] of renderManifests()) {
    const file = path.join(root, rel);
    let current: string | undefined;
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === text) continue;
    stale++;
    if (checkOnly) console.error(`${rel}: ${current === undefined ? 'missing' : 'differs from the chart'}`);
    else {
      writeFileSync(file, text);
      console.log(`wrote ${rel}`);
    }
  }
  if (checkOnly && stale > 0) {
    console.error('manifests and chart have drifted: edit charts/stash-ts, then run `npm run gen:manifests`');
    process.exit(1);
  }
}
