// One-off, kept so it can be re-run after merges: rewrites the `§` references of the old design notes (which
// lived outside the repository) into references to docs/. `DESIGN.md §N` becomes `docs/architecture.md §N`,
// `stash-api.md §N` `docs/api.md §N`, `restic.md §N` `docs/restic.md §N`, and a bare `§N` — which always
// meant the API digest — gets `docs/api.md ` in front of the first one on its line. docs/ itself is left alone.
// Usage: node hack/rewrite-doc-refs.ts [--check]
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

export function rewriteLine(line: string): string {
  let out = line
    .replace(/\bDESIGN(?:\.md)? §/g, 'docs/architecture.md §')
    .replace(/(?<![\w/])stash-api\.md §/g, 'docs/api.md §')
    .replace(/(?<![\w/-])restic\.md §/g, 'docs/restic.md §');
  const first = out.indexOf('§');
  if (first >= 0 && !/(?:[\w.-]+\/)*[\w.-]+\.md\b/.test(out.slice(0, first))) {
    out = `${out.slice(0, first)}docs/api.md ${out.slice(first)}`;
  }
  return out;
}

if (import.meta.main) {
  const check = process.argv.includes('--check');
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' })
    .split('\n')
    .filter((f) => /\.(ts|js|md|ya?ml)$/.test(f) && !f.startsWith('docs/') && !f.startsWith('node_modules/'))
    .filter((f) => !/^hack\/(check-|rewrite-)?doc-refs/.test(f));
  let changed = 0;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    if (!text.includes('§')) continue;
    const next = text.split('\n').map(rewriteLine).join('\n');
    if (next === text) continue;
    changed++;
    if (check) console.log(`would rewrite ${file}`);
    else writeFileSync(file, next);
  }
  console.log(`${check ? 'would rewrite' : 'rewrote'} § references in ${changed} files`);
}
