// Import circles between our own modules, found from the TypeScript sources themselves (no bundler, no
// extra dependency): every relative import and re-export, type-only ones included, because "no two modules
// import each other" is about how the code reads, not about what survives type stripping.
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import ts from 'typescript';

/** Module → the modules it imports (both as paths relative to the tree's root). */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

/** Relative imports of one file, resolved to root-relative paths. Package imports are not ours and are left out. */
export function importsOf(root: string, file: string, text: string): string[] {
  const found = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
  return found
    .filter((spec) => spec.startsWith('./') || spec.startsWith('../'))
    .map((spec) => relative(root, resolve(root, dirname(file), spec)));
}

export function buildGraph(root: string, files: readonly string[]): ImportGraph {
  const graph = new Map<string, string[]>();
  for (const file of files) graph.set(file, importsOf(root, file, readFileSync(resolve(root, file), 'utf8')));
  return graph;
}

/**
 * Strongly connected components with more than one module (or a module importing itself), each sorted, the
 * list sorted too so the report is stable. Tarjan's algorithm, iterative so deep chains cannot overflow.
 */
export function findCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let next = 0;
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work: { node: string; edge: number }[] = [{ node: start, edge: 0 }];
    index.set(start, next);
    low.set(start, next++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const edges = (graph.get(frame.node) ?? []).filter((n) => graph.has(n));
      if (frame.edge < edges.length) {
        const to = edges[frame.edge++]!;
        if (!index.has(to)) {
          index.set(to, next);
          low.set(to, next++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, edge: 0 });
        } else if (onStack.has(to)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(to)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) !== index.get(frame.node)) continue;
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== frame.node);
      const selfImport = (graph.get(frame.node) ?? []).includes(frame.node);
      if (component.length > 1 || selfImport) cycles.push(component.sort());
    }
  }
  return cycles.sort((a, b) => a[0]!.localeCompare(b[0]!));
}
