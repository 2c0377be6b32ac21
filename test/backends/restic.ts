// Builds a Restic wrapper for a backend block + Secret data the way the agent would, with private
// scratch and cache directories that the returned cleanup removes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveRepository, type BackendSpec, type SecretData } from '../../shared/restic/backend.ts';
import { Restic, type ResticOptions } from '../../shared/restic/command.ts';
import { makeLocalBackend } from './local.ts';

export interface TestRestic {
  restic: Restic;
  scratch: string;
  cleanup(): Promise<void>;
}

export async function makeRestic(
  bin: string,
  backend: BackendSpec,
  secret: SecretData,
  extra: Partial<ResticOptions> = {},
): Promise<TestRestic> {
  const scratch = await mkdtemp(join(tmpdir(), 'stash-ts-restic-'));
  const repo = await resolveRepository(backend, secret, { scratchDir: join(scratch, 'secrets') });
  const restic = new Restic({
    repo,
    bin,
    cache: { dir: join(scratch, 'cache') },
    tmpDir: scratch,
    graceMs: 20_000,
    ...extra,
  });
  return { restic, scratch, cleanup: () => rm(scratch, { recursive: true, force: true }) };
}

/** An initialised repository in a fresh local directory, removed with its scratch space at the test's teardown. */
export async function localRepo(
  t: { teardown(fn: () => unknown): void },
  bin: string,
  extra: Partial<ResticOptions> = {},
): Promise<Restic> {
  const local = await makeLocalBackend();
  const { restic, cleanup } = await makeRestic(bin, local.backend, local.secret, extra);
  t.teardown(async () => {
    await cleanup();
    await local.stop();
  });
  await restic.init();
  return restic;
}
