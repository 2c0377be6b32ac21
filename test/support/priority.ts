// What the kernel says of a running process's scheduling: niceness from /proc/<pid>/stat (field 19) and
// the I/O class and level as util-linux `ionice -p` reports them (ioprio_get).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface SeenPriority {
  nice: number;
  /** `ionice -p` output: "best-effort: prio 6", "idle", "none: prio 4", "realtime: prio 0". */
  io: string;
}

function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm may contain spaces and parentheses: the fields after it start behind the last ")", at field 3
  // (so index i holds field i+1: ppid is [3], nice [18]).
  return ['', '', ...stat.slice(stat.lastIndexOf(')') + 2).split(' ')];
}

export function priorityOf(pid: number): SeenPriority {
  const nice = Number(statFields(pid)[18]);
  const io = execFileSync('ionice', ['-p', String(pid)], { encoding: 'utf8' }).trim();
  return { nice, io };
}

/** Pids of the direct children of `parent` whose command name is `comm`. */
export function childrenNamed(parent: number, comm: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = statFields(Number(d));
      const name = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
      if (Number(f[3]) === parent && name === comm) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
