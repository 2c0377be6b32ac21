// Removes what a real-kubelet world leaves on the host once its processes are gone — or what a crashed
// world left: container processes (found through the world's own cgroups), containerd shims (found by the
// socket of our containerd in their argv), mounts under the world's directory, the network namespace, the
// cgroups, and our entries in the host paths kubelet and libcni hard-wire.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CGROUP_ROOT, CNI_NETWORK, WORLD_INSTANCE, type NodeLayout } from './layout.ts';
import { deleteNetns } from './netns.ts';

function cgroupDirs(): string[] {
  const base = '/sys/fs/cgroup';
  const out: string[] = [];
  if (!existsSync(base)) return out;
  for (const h of readdirSync(base)) {
    const d = join(base, h, CGROUP_ROOT);
    if (existsSync(d)) out.push(d);
  }
  return out;
}

/** Every directory under `dir`, deepest first. */
function walkDirs(dir: string): string[] {
  const out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    try {
      if (lstatSync(p).isDirectory()) out.push(...walkDirs(p));
    } catch {
      /* raced with removal */
    }
  }
  out.push(dir);
  return out;
}

/** PIDs in the world's cgroups: container processes only (kubelet and containerd run outside them). */
function cgroupPids(): number[] {
  const pids = new Set<number>();
  for (const root of cgroupDirs()) {
    for (const d of walkDirs(root)) {
      try {
        for (const l of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l) pids.add(Number(l));
      } catch {
        /* gone */
      }
    }
  }
  return [...pids];
}

/** containerd-shim processes serving our containerd (their argv names its socket). */
export function shimPids(l: NodeLayout): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.includes('containerd-shim') && argv.includes(l.containerdSock)) out.push(Number(p));
    } catch {
      /* exited */
    }
  }
  return out;
}

function kill(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

function mountsUnder(prefixes: string[]): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp && prefixes.some((p) => mp === p || mp.startsWith(`${p}/`))) out.push(mp.replace(/\\040/g, ' '));
  }
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

export async function cleanupNodeHost(l: NodeLayout): Promise<void> {
  // Container processes first (they hold mounts and cgroups), then the shims that watched them.
  for (let i = 0; i < 20; i++) {
    const pids = [...cgroupPids(), ...shimPids(l)];
    if (!pids.length) break;
    kill(pids);
    await sleep(100);
  }
  for (const m of mountsUnder([l.node])) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
  deleteNetns();
  // `ip netns add` made /run/netns a bind mount of itself; undo it when no namespace is left there.
  if (existsSync('/run/netns') && readdirSync('/run/netns').length === 0) {
    try {
      execFileSync('umount', ['/run/netns'], { stdio: 'ignore' });
    } catch {
      /* not a mount */
    }
    try {
      rmdirSync('/run/netns');
    } catch {
      /* in use */
    }
  }
  for (const root of cgroupDirs())
    for (const d of walkDirs(root)) {
      try {
        rmdirSync(d);
      } catch {
        /* a process still in it: the next down tries again */
      }
    }
  // kubelet links every container log into /var/log/containers; libcni caches results in /var/lib/cni.
  removeMatching('/var/log/containers', (f) => {
    try {
      return readlinkSync(f).startsWith(l.podLogs);
    } catch {
      return false;
    }
  });
  removeMatching(
    '/var/lib/cni/results',
    // containerd's loopback results carry no network of ours: the plain world takes them all, a suffixed one
    // leaves them (they are small, and may belong to another world).
    (f) => f.includes(`/${CNI_NETWORK}-`) || (!WORLD_INSTANCE && f.includes('/cni-loopback-')),
  );
  for (const d of ['/var/lib/cni/results', '/var/lib/cni']) {
    try {
      rmdirSync(d);
    } catch {
      /* not empty or absent */
    }
  }
  // Shim sockets: containerd 1.6 puts them under /run/containerd/s whatever its config says.
  if (!otherContainerdRunning(l)) rmSync('/run/containerd', { recursive: true, force: true });
  for (const d of [l.containerdState, l.runcRoot, l.kubeletRoot, l.podLogs, l.cniIpam, l.etcdData])
    rmSync(d, { recursive: true, force: true });
}

function removeMatching(dir: string, match: (file: string) => boolean): void {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (match(p)) rmSync(p, { force: true });
  }
  try {
    rmdirSync(dir);
  } catch {
    /* not empty */
  }
}

function otherContainerdRunning(l: NodeLayout): boolean {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (/(^|\/)containerd$/.test(argv[0] ?? '') && !argv.some((a) => a.startsWith(l.node))) return true;
    } catch {
      /* exited */
    }
  }
  return false;
}
