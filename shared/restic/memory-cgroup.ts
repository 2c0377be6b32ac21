// The OOM-kill counter and memory limit of the container the agent runs in, so that a restic child the kernel
// killed for memory is reported as such instead of as "signal SIGKILL" (docs/restic.md §2.5).
// - cgroup v1: memory.oom_control carries `oom_kill N` (Linux ≥ 4.13), memory.limit_in_bytes the limit (a
//   number near 2^63 when there is none). Inside a runc container /sys/fs/cgroup/memory is the container's own
//   cgroup while /proc/self/cgroup still names its path on the host, so the path is used only where it exists.
// - cgroup v2: memory.events carries `oom_kill N`, memory.max the limit or "max"; /proc/self/cgroup's `0::`
//   path is relative to the mount (with a cgroup namespace, "/": the mount is the container's own cgroup).
// The kernel counts an OOM kill in the victim's cgroup whichever limit (container, pod, node) ran out, so a
// rise of the counter across a child that died of SIGKILL is the kernel's word that it was the victim.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Any cgroup v1 limit at or above this is "no limit" (the kernel's unlimited is 2^63-1 rounded to a page). */
const V1_UNLIMITED = 2 ** 62;

/** `oom_kill N` of memory.oom_control (v1) or memory.events (v2); undefined when the kernel has no counter. */
export function parseOomKillCount(text: string): number | undefined {
  const m = /^oom_kill\s+(\d+)\s*$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** memory.limit_in_bytes (v1) or memory.max (v2) in bytes; undefined for no limit or unreadable text. */
export function parseMemoryLimit(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return undefined; // "max" (v2), empty, garbage
  const n = Number(t);
  return n >= V1_UNLIMITED ? undefined : n;
}

/** Bytes as a Kubernetes quantity where it is exact (64Mi, 1Gi, 1500Ki), else in bytes. */
export function quantity(bytes: number): string {
  for (const [unit, size] of [
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

export interface MemoryCgroupFiles {
  version: 1 | 2;
  /** The file holding `oom_kill N`. */
  counter: string;
  /** The file holding the limit. */
  limit: string;
}

/**
 * Where this process's memory cgroup files are, from /proc/self/cgroup's text and what exists under `root`
 * (/sys/fs/cgroup); undefined when there is no memory controller to read.
 */
export function locateMemoryCgroup(
  procSelfCgroup: string,
  root: string,
  exists: (path: string) => boolean = existsSync,
): MemoryCgroupFiles | undefined {
  const lines = procSelfCgroup.split('\n').map((l) => l.split(':'));
  const v1 = lines.find((p) => p.length >= 3 && (p[1] ?? '').split(',').includes('memory'));
  const candidates = (base: string, path: string | undefined) =>
    [...(path && path !== '/' ? [join(base, path)] : []), base].filter((d, i, all) => all.indexOf(d) === i);
  if (v1 || exists(join(root, 'memory', 'memory.oom_control'))) {
    for (const dir of candidates(join(root, 'memory'), v1?.slice(2).join(':'))) {
      if (exists(join(dir, 'memory.oom_control')))
        return { version: 1, counter: join(dir, 'memory.oom_control'), limit: join(dir, 'memory.limit_in_bytes') };
    }
    return undefined;
  }
  const v2 = lines.find((p) => p[0] === '0' && p[1] === '');
  for (const dir of candidates(root, v2?.slice(2).join(':'))) {
    if (exists(join(dir, 'memory.events')))
      return { version: 2, counter: join(dir, 'memory.events'), limit: join(dir, 'memory.max') };
  }
  return undefined;
}

/** What a restic run needs to tell an OOM kill: the counter now, and the limit for the message. */
export interface MemoryCounters {
  /** The container's OOM-kill count now; undefined when it cannot be read. */
  oomKills(): number | undefined;
  /** The container's memory limit in bytes; undefined when there is none or it cannot be read. */
  limitBytes(): number | undefined;
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function memoryCounters(files: MemoryCgroupFiles): MemoryCounters {
  return {
    oomKills: () => {
      const t = readOr(files.counter);
      return t === undefined ? undefined : parseOomKillCount(t);
    },
    limitBytes: () => {
      const t = readOr(files.limit);
      return t === undefined ? undefined : parseMemoryLimit(t);
    },
  };
}

/** The counters of this process's own memory cgroup, or undefined where there are none (not Linux, no controller). */
export function ownMemoryCounters(
  root = '/sys/fs/cgroup',
  procSelfCgroup = '/proc/self/cgroup',
): MemoryCounters | undefined {
  const text = readOr(procSelfCgroup);
  if (text === undefined) return undefined;
  const files = locateMemoryCgroup(text, root);
  if (!files) return undefined;
  const c = memoryCounters(files);
  // A kernel before 4.13 (v1) has no counter: nothing to compare, so nothing to claim.
  return c.oomKills() === undefined ? undefined : c;
}

/**
 * True when a child that ended as `outcome` was killed by the kernel's OOM killer: it died of SIGKILL that we
 * did not send (not stopped by us) and the cgroup's OOM-kill counter rose while it ran.
 */
export function wasOomKilled(
  before: number | undefined,
  after: number | undefined,
  outcome: { signal: string | undefined; stoppedByUs: boolean },
): boolean {
  if (outcome.signal !== 'SIGKILL' || outcome.stoppedByUs) return false;
  return before !== undefined && after !== undefined && after > before;
}

/** The text for an OOM-killed child: what it was and the limit it ran into. */
export function oomKilledText(what: string, limitBytes: number | undefined): string {
  return `${what} was OOM-killed (${limitBytes !== undefined ? `container memory limit ${quantity(limitBytes)}` : 'no container memory limit: the pod or node ran out of memory'})`;
}
