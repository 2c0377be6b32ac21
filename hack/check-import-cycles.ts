// `make lint`: fails when modules of the tree import each other, directly or around a longer circle, and
// names every module of each circle with the imports that close it.
import { execFileSync } from 'node:child_process';
import { buildGraph, findCycles } from './import-cycles.ts';

const root = process.cwd();
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts'], {
  cwd: root,
  encoding: 'utf8',
})
  .split('\n')
  .filter((f) => f !== '' && !f.startsWith('node_modules/'));
const graph = buildGraph(root, files);
const cycles = findCycles(graph);
if (cycles.length === 0) {
  console.log(`import circles: none among ${files.length} modules`);
} else {
  console.error(`import circles: ${cycles.length} (modules that reach each other through imports):`);
  for (const cycle of cycles) {
    console.error(`  - ${cycle.join(' ↔ ')}`);
    for (const from of cycle) {
      const inside = (graph.get(from) ?? []).filter((to) => cycle.includes(to));
      for (const to of inside) console.error(`      ${from} imports ${to}`);
    }
  }
  process.exitCode = 1;
}
