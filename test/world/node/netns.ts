// The world's network namespace: loopback plus the CNI bridge holding the node IP, and no other link, so
// nothing started in it has a route off the machine. Processes join it with `nsenter --net` (not
// `ip netns exec`, which also gives each command a mount namespace of its own: kubelet's volume mounts would
// then be invisible to containerd and runc).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { BRIDGE, NETNS, NODE_IP, POD_CIDR, SERVICE_CIDR } from './layout.ts';

const ip = (args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });

export const netnsPath = (name = NETNS) => `/run/netns/${name}`;

export function netnsExists(name = NETNS): boolean {
  return existsSync(netnsPath(name));
}

export function createNetns(name = NETNS): void {
  ip(['netns', 'add', name]);
  ip(['-n', name, 'link', 'set', 'lo', 'up']);
  ip(['-n', name, 'link', 'add', BRIDGE, 'type', 'bridge']);
  ip(['-n', name, 'addr', 'add', `${NODE_IP}/${POD_CIDR.split('/')[1]}`, 'dev', BRIDGE]);
  ip(['-n', name, 'link', 'set', BRIDGE, 'up']);
  // Service IPs need a route for the apiserver's own connections (webhooks through their Service) to reach
  // kube-proxy's DNAT at all: without one, connect() fails with ENETUNREACH before netfilter sees the packet.
  // The bridge only leads to pods, so this adds no way off the machine.
  ip(['-n', name, 'route', 'add', SERVICE_CIDR, 'dev', BRIDGE]);
}

export function deleteNetns(name = NETNS): void {
  if (netnsExists(name)) {
    try {
      ip(['netns', 'del', name]);
    } catch {
      /* already gone */
    }
  }
}

/** argv that runs `cmd args` inside the namespace. */
export function inNetns(cmd: string, args: string[], name = NETNS): [string, string[]] {
  return ['nsenter', [`--net=${netnsPath(name)}`, '--', cmd, ...args]];
}

/** `ip route get ADDRESS` inside the namespace: the route, or the error ip prints when there is none. */
export function routeLookup(address: string, name = NETNS): { ok: boolean; output: string } {
  try {
    return { ok: true, output: ip(['-n', name, 'route', 'get', address]).trim() };
  } catch (e) {
    const err = e as { stderr?: string };
    return { ok: false, output: String(err.stderr ?? e).trim() };
  }
}
