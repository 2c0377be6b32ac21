import t from 'tap';
import { findCycles, importsOf } from './import-cycles.ts';

t.test('findCycles names each circle once, sorted, and ignores what leaves the tree', async (t) => {
  const graph = new Map([
    ['a.ts', ['b.ts', 'node:fs']],
    ['b.ts', ['c.ts']],
    ['c.ts', ['a.ts', 'd.ts']],
    ['d.ts', []],
    ['e.ts', ['e.ts']],
    ['f.ts', ['d.ts']],
  ]);
  t.same(findCycles(graph), [['a.ts', 'b.ts', 'c.ts'], ['e.ts']]);
  t.same(
    findCycles(
      new Map([
        ['x.ts', ['y.ts']],
        ['y.ts', []],
      ]),
    ),
    [],
    'a chain is no circle',
  );
});

t.test('findCycles copes with a long chain (no recursion limit)', async (t) => {
  const n = 20_000;
  const graph = new Map(Array.from({ length: n }, (_, i) => [`m${i}.ts`, [`m${(i + 1) % n}.ts`]]));
  t.equal(findCycles(graph)[0]?.length, n);
});

t.test('importsOf resolves relative imports, re-exports and type-only imports; packages are left out', async (t) => {
  const text = [
    "import { a } from './a.ts';",
    "import type { B } from '../shared/b.ts';",
    "export { c } from './sub/c.ts';",
    "import pino from 'pino';",
    "const lazy = await import('./lazy.ts');",
  ].join('\n');
  t.same(importsOf('/root', 'webhook/x.ts', text), [
    'webhook/a.ts',
    'shared/b.ts',
    'webhook/sub/c.ts',
    'webhook/lazy.ts',
  ]);
});
