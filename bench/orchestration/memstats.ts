// Preloaded into the operator only when the bench runs with BENCH_HEAP_DIR (`node --import`): every 2 s it
// appends the process's memory breakdown (RSS, V8 heap spaces used and committed, external and ArrayBuffer
// memory) to $BENCH_MEMSTATS_FILE, so the bench can say which part of the RSS is live data, which is heap the
// collector has not handed back, and which is outside V8; and the time spent in garbage collection so far, so
// a smaller heap can be shown not to be paid for with collector thrash.
import { appendFileSync } from 'node:fs';
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import v8 from 'node:v8';

const gc = { scavenges: 0, scavengeMs: 0, majors: 0, majorMs: 0, other: 0, otherMs: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
      gc.scavenges++;
      gc.scavengeMs += e.duration;
    } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      gc.majors++;
      gc.majorMs += e.duration;
    } else {
      gc.other++;
      gc.otherMs += e.duration;
    }
  }
}).observe({ entryTypes: ['gc'] });

const file = process.env.BENCH_MEMSTATS_FILE;
if (file) {
  setInterval(() => {
    const m = process.memoryUsage();
    const spaces = Object.fromEntries(
      v8.getHeapSpaceStatistics().map((s) => [s.space_name, { used: s.space_used_size, size: s.space_size }]),
    );
    appendFileSync(
      file,
      `${JSON.stringify({ t: Date.now(), rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, spaces, gc: { ...gc } })}\n`,
    );
  }, 2_000).unref();
}
