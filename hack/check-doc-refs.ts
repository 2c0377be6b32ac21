// `make lint`: fails when a `docs/api.md §` reference anywhere in the tree names no section of a page in docs/.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { problems, referencesIn, sectionsOf, type DocRef } from './doc-refs.ts';

const TEXT = /\.(ts|js|md|ya?ml|sh|json)$|(^|\/)(Makefile|Dockerfile[\w.-]*)$/;
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' })
  .split('\n')
  .filter((f) => TEXT.test(f) && !f.startsWith('node_modules/') && f !== 'package-lock.json');
const pages = new Map<string, Set<string>>();
const refs: DocRef[] = [];
for (const file of files) {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    continue; // listed by git but deleted in the working tree
  }
  if (file.startsWith('docs/') && file.endsWith('.md')) pages.set(file, sectionsOf(text));
  if (text.includes('docs/api.md §')) refs.push(...referencesIn(file, text));
}
const found = problems(refs, pages);
if (found.length === 0) {
  console.log(`§ references: ${refs.length} in ${new Set(refs.map((r) => r.file)).size} files, all into docs/`);
} else {
  console.error(`§ references: ${found.length} of ${refs.length} name no section of docs/:`);
  for (const p of found) console.error(`  ${p}`);
  console.error('(hack/rewrite-doc-refs.ts turns the old DESIGN.md / stash-api.md / restic.md forms into docs/ ones)');
  process.exitCode = 1;
}
