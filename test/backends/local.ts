// A local-directory repository for tests: what a Repository with a `local` block mounted at a
// directory would look like to the agent.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LocalBackend {
  dir: string;
  backend: { local: { mountPath: string; hostPath: { path: string } } };
  secret: Record<string, string>;
  stop(): Promise<void>;
}

export async function makeLocalBackend(opts: { password?: string } = {}): Promise<LocalBackend> {
  const root = await mkdtemp(join(tmpdir(), 'stash-ts-local-'));
  const dir = join(root, 'repo');
  return {
    dir,
    backend: { local: { mountPath: dir, hostPath: { path: dir } } },
    secret: { RESTIC_PASSWORD: opts.password ?? 'local-test-password' },
    async stop() {
      await rm(root, { recursive: true, force: true });
    },
  };
}
