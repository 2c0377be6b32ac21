// What an integration test gets: the run's one control plane (started by the tap `before` hook, or on
// first use when a single file is run by hand) and a fresh namespace of its own, so files can run in
// parallel without seeing each other's objects.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kube } from '../../shared/kube/client.ts';
import { REPO_ROOT } from './bins.ts';
import {
  isHealthy,
  readState,
  startControlPlane,
  stopControlPlane,
  type ControlPlaneState,
  type StartOptions,
} from './controlplane.ts';

export const TEST_WORLD_DIR = process.env.STASH_TS_TEST_WORLD ?? join(REPO_ROOT, '.cluster', 'test');

export interface ClusterHandle {
  kube: Kube;
  kubeconfigPath: string;
  namespace: string;
  kubectl: string;
  state: ControlPlaneState;
}

interface TapLike {
  name: string;
  teardown(fn: () => unknown): void;
}

/** Starts the test control plane unless it already runs; one caller at a time (a lock directory). */
export async function ensureTestWorld(log?: (m: string) => void): Promise<ControlPlaneState> {
  const existing = readState(TEST_WORLD_DIR);
  if (existing && (await isHealthy(existing))) return existing;
  mkdirSync(TEST_WORLD_DIR, { recursive: true });
  const lock = join(TEST_WORLD_DIR, '.starting');
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Someone else is starting it; a lock older than 3 minutes belongs to a dead starter.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 180_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        /* raced with its removal */
      }
      await sleep(250);
      const s = readState(TEST_WORLD_DIR);
      if (s && (await isHealthy(s))) return s;
    }
  }
  try {
    return await startControlPlane(TEST_WORLD_DIR, { withControllerManager: true, log });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/\.test\.ts$/, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
}

export async function useCluster(t: TapLike): Promise<ClusterHandle> {
  const state = await ensureTestWorld();
  const kube = Kube.load(state.kubeconfig, 'stash-ts-test');
  const file = process.argv[1] ? basename(process.argv[1]) : t.name;
  const namespace = `${slug(file) || 'test'}-${randomBytes(3).toString('hex')}`;
  await kube.create({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace, labels: { 'stash-ts.test/namespace': 'true' } },
  });
  t.teardown(async () => {
    await kube.delete('v1', 'Namespace', undefined, namespace).catch(() => undefined);
    kube.close();
  });
  return { kube, kubeconfigPath: state.kubeconfig, namespace, kubectl: state.kubectl, state };
}

/**
 * A control plane of the calling file's own, for tests that restart or reconfigure it: restarting the run's shared
 * one would fail every file running beside it. `start` brings it up (again, after a restart test stopped a part);
 * the file's teardown stops it and removes its directory.
 */
export function privateControlPlane(
  t: Pick<TapLike, 'teardown'>,
  name: string,
): { dir: string; start(opts?: StartOptions): Promise<ControlPlaneState> } {
  const dir = mkdtempSync(join(tmpdir(), `stash-ts-${name}-`));
  t.teardown(async () => {
    await stopControlPlane(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, start: (opts) => startControlPlane(dir, opts) };
}
