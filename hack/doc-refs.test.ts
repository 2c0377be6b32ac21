// Built with S = the section sign, so this file holds no references the tree's own check would read.
import t from 'tap';
import { problems, referencesIn, sectionsOf } from './doc-refs.ts';
import { rewriteLine } from './rewrite-doc-refs.ts';

const S = '\u00a7';

t.test('sectionsOf reads numbered headings only', async (t) => {
  const page = [
    '# Title',
    '## 1. Kinds',
    '### 2.10 Hooks',
    '## 14. Backup',
    '### 14.3 Loop',
    '#### Notes',
    'text 15.',
  ].join('\n');
  t.same([...sectionsOf(page)].sort(), ['1', '14', '14.3', '2.10']);
});

t.test('a reference belongs to the nearest page named before it on its line', async (t) => {
  const refs = referencesIn(
    'webhook/x.ts',
    `// (docs/architecture.md ${S}4, docs/api.md ${S}13, ${S}18)\n// bare ${S}2`,
  );
  t.same(
    refs.map((r) => [r.line, r.doc, r.section]),
    [
      [1, 'docs/architecture.md', '4'],
      [1, 'docs/api.md', '13'],
      [1, 'docs/api.md', '18'],
      [2, undefined, '2'],
    ],
  );
  const inDocs = referencesIn('docs/decisions/0003.md', `see ${S}2, and ../api.md ${S}14.3`);
  t.same(
    inDocs.map((r) => r.doc),
    ['docs/decisions/0003.md', 'docs/api.md'],
  );
});

t.test('problems name the file, the line and what is missing', async (t) => {
  const pages = new Map([['docs/api.md', new Set(['13', '14.3'])]]);
  const refs = [
    ...referencesIn('a.ts', `docs/api.md ${S}14.3 fine`),
    ...referencesIn('b.ts', `docs/api.md ${S}14.4`),
    ...referencesIn('c.ts', `stash-api.md ${S}13`),
    ...referencesIn('d.ts', `x\n(${S}13)`),
  ];
  t.same(problems(refs, pages), [
    `b.ts:1: docs/api.md has no section 14.4`,
    `c.ts:1: ${S}13 points into stash-api.md, which is not a page in docs/`,
    `d.ts:2: ${S}13 names no page (write docs/<page>.md ${S}13)`,
  ]);
});

t.test('rewriteLine maps the old notes onto docs/ and prefixes the first bare reference', async (t) => {
  t.equal(
    rewriteLine(`// (DESIGN.md ${S}4, stash-api.md ${S}13, ${S}18)`),
    `// (docs/architecture.md ${S}4, docs/api.md ${S}13, ${S}18)`,
  );
  t.equal(rewriteLine(`// DESIGN ${S}6 and restic.md ${S}8`), `// docs/architecture.md ${S}6 and docs/restic.md ${S}8`);
  t.equal(rewriteLine(`/** ${S}14.3 step 2, ${S}16.1 */`), `/** docs/api.md ${S}14.3 step 2, ${S}16.1 */`);
  t.equal(rewriteLine(`see docs/api.md ${S}3`), `see docs/api.md ${S}3`, 'already rewritten: unchanged');
  t.equal(rewriteLine('no reference'), 'no reference');
});
