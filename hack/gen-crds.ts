// Writes manifests/crds/*.yaml from the TypeBox schemas. `--check` writes nothing and exits 1 when a committed
// file differs from what the schemas produce (or is missing, or is stale), so CI catches a forgotten regeneration.
// `--dir <path>` points it at another directory (tests use a scratch copy).

import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCrds } from '../shared/api/schema/crd.ts';
import { structuralProblems } from '../shared/api/schema/structural.ts';
import { SCHEMAS } from '../shared/api/schema/index.ts';

const args = process.argv.slice(2);
const dirFlag = args.indexOf('--dir');
const dir =
  dirFlag >= 0 && args[dirFlag + 1]
    ? path.resolve(args[dirFlag + 1]!)
    : path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'manifests', 'crds');
const checkOnly = args.includes('--check');

const problems = Object.entries(SCHEMAS).flatMap(([kind, schema]) =>
  structuralProblems(schema).map((p) => `${kind}: ${p}`),
);
if (problems.length > 0) {
  console.error(`schemas are not valid CRD schemas:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}

const files = renderCrds();
const existing = await readdir(dir).catch(() => [] as string[]);
let stale = 0;
for (const [name, text] of files) {
  const target = path.join(dir, name);
  const current = await readFile(target, 'utf8').catch(() => undefined);
  if (current === text) continue;
  stale++;
  if (checkOnly) {
    console.error(
      `${path.relative(process.cwd(), target)}: ${current === undefined ? 'missing' : 'differs from the schema'}`,
    );
  } else {
    await mkdir(dir, { recursive: true });
    await writeFile(target, text);
    console.log(`wrote ${path.relative(process.cwd(), target)}`);
  }
}
// Only our group's files are generated; other CRDs kept beside them (AppBinding) are written by hand.
for (const name of existing) {
  if (name.endsWith('.stash.appscode.com.yaml') && !files.has(name)) {
    stale++;
    console.error(`${path.relative(process.cwd(), path.join(dir, name))}: not generated from any schema; remove it`);
  }
}
if (checkOnly && stale > 0) {
  console.error('CRDs are out of date: run `npm run gen:crds`');
  process.exit(1);
}
