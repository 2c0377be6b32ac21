// `§` references: every section reference in the tree must name a numbered section of a page in docs/. One
// belongs to the nearest page named before it on the same line (`docs/api.md §14.3, §16.1`); inside docs/, a
// bare `§` means the page itself and `other.md §N` a sibling page.
import { posix } from 'node:path';

/** Section numbers of a Markdown page: "## 14. Title" gives 14, "### 14.3 Title" gives 14.3. */
export function sectionsOf(markdown: string): Set<string> {
  const found = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s/gm)) found.add(m[1]!);
  return found;
}

export interface DocRef {
  file: string;
  line: number;
  /** The page the reference points into (tree-relative), undefined when no page is named. */
  doc: string | undefined;
  section: string;
}

const PAGE = /(?:[\w.-]+\/)*[\w.-]+\.md\b/g;
const SECTION = /§(\d+(?:\.\d+)*)/g;

/** Every `§` reference of one file, each resolved to the page it points into. */
export function referencesIn(file: string, text: string): DocRef[] {
  const inDocs = file.startsWith('docs/');
  const refs: DocRef[] = [];
  text.split('\n').forEach((lineText, i) => {
    const pages = [...lineText.matchAll(PAGE)].map((m) => ({ at: m.index, page: m[0] }));
    for (const m of lineText.matchAll(SECTION)) {
      const named = pages.filter((p) => p.at < m.index).at(-1)?.page;
      refs.push({ file, line: i + 1, doc: resolvePage(file, inDocs, named), section: m[1]! });
    }
  });
  return refs;
}

function resolvePage(file: string, inDocs: boolean, named: string | undefined): string | undefined {
  if (named === undefined) return inDocs ? file : undefined;
  if (named.startsWith('docs/')) return posix.normalize(named);
  return inDocs ? posix.join(posix.dirname(file), named) : named;
}

/** What is wrong with each reference, given the sections of every page under docs/. */
export function problems(refs: readonly DocRef[], pages: ReadonlyMap<string, Set<string>>): string[] {
  const out: string[] = [];
  for (const r of refs) {
    const where = `${r.file}:${r.line}`;
    if (r.doc === undefined) out.push(`${where}: §${r.section} names no page (write docs/<page>.md §${r.section})`);
    else if (!pages.has(r.doc)) out.push(`${where}: §${r.section} points into ${r.doc}, which is not a page in docs/`);
    else if (!pages.get(r.doc)!.has(r.section)) out.push(`${where}: ${r.doc} has no section ${r.section}`);
  }
  return out;
}
