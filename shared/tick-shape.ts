// Keeps Node's process.nextTick on V8's fast path for the life of the process. Imported first by the admission server
// (webhook/app.ts), whose every request costs several ticks inside node:http and node:stream.
//
// nextTick queues each callback as an object literal with symbol keys. Optimised code builds that literal quickly
// only while its inline cache has seen a single hidden class (map) for it, and V8 holds those maps weakly: when a full
// garbage collection finds no tick object alive (the usual moment, since collections run between callbacks, when
// the queue is empty), the maps go, the next tick makes new ones, and the cache turns megamorphic for good. From then
// on every nextTick takes V8's runtime path: measured 0.40–0.70 µs a call against 0.07–0.14 µs, about 3 µs of CPU
// per admission (bench/webhook). Whether it happens depends on when the first full collection falls during start-up,
// so one process has it and the next does not. One tick object held here keeps its maps alive, and with them the
// cache's one map.
//
// The object is taken from a real nextTick through an init hook enabled for that one call, so its shape is whatever
// this Node version builds; if a later version builds ticks differently, this holds a harmless small object.
import { createHook } from 'node:async_hooks';

const held: object[] = [];

function holdOneTickObject(): void {
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject' && held.length === 0 && typeof resource === 'object' && resource !== null) held.push(resource);
    },
  });
  hook.enable();
  try {
    process.nextTick(noop);
  } finally {
    hook.disable();
  }
}

function noop(): void {}

holdOneTickObject();

/** True when a tick object is held (tests). */
export function tickShapeHeld(): boolean {
  return held.length === 1;
}
