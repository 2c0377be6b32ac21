// The held tick object must keep process.nextTick's object literal on one hidden class through full collections.
// A child process queues ticks, runs several full collections with no tick alive, queues more, and prints V8's
// feedback for nextTick (%DebugPrint): its DefineKeyedOwnPropertyInLiteral slots say MONOMORPHIC or MEGAMORPHIC.
// Optimisation runs on the main thread there (--no-concurrent-recompilation): with background compilation the
// unprotected case turns megamorphic only about half the time, depending on when nextTick's optimised code lands.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { tickShapeHeld } from './tick-shape.ts';

const MODULE = fileURLToPath(new URL('./tick-shape.ts', import.meta.url));

function childProgram(hold: boolean): string {
  return `
    ${hold ? `await import(${JSON.stringify(MODULE)});` : ''}
    const noop = () => {};
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 3000; i++) process.nextTick(noop);
      await new Promise((resolve) => setImmediate(resolve));
      for (let g = 0; g < 8; g++) globalThis.gc();
    }
    for (let i = 0; i < 3000; i++) process.nextTick(noop);
    await new Promise((resolve) => setImmediate(resolve));
    eval('%DebugPrint(process.nextTick)');
  `;
}

/** The states of nextTick's literal-definition feedback slots after the collections. */
function literalSlots(hold: boolean): string[] {
  // A plain process, as the operator runs. tap adds its coverage loader to every node it sees spawned (through
  // NODE_OPTIONS), and V8's coverage mode keeps feedback and maps its own way, so node is started through env(1).
  const node = [process.execPath, '--allow-natives-syntax', '--expose-gc', '--no-concurrent-recompilation', '--input-type=module', '-e', childProgram(hold)];
  const out = execFileSync('/usr/bin/env', ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', ...node], { encoding: 'utf8' });
  return [...out.matchAll(/DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((m) => m[1]!);
}

t.test('a tick object is held from import on', async (t) => {
  t.ok(tickShapeHeld());
});

t.test('without it, full collections turn the cache megamorphic; with it, they do not', async (t) => {
  t.ok(literalSlots(false).includes('MEGAMORPHIC'), 'without: megamorphic (if not, this Node may no longer need the module)');
  for (let i = 0; i < 3; i++) {
    const slots = literalSlots(true);
    t.ok(slots.length > 0, 'feedback printed');
    t.notOk(slots.includes('MEGAMORPHIC'), `run ${i + 1}: ${slots.join(' ')}`);
  }
});
