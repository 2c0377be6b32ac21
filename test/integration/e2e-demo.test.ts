// The demo's story end to end, without the narration: its own local world (control plane, operator, pod
// runner), WordPress + MySQL backed up by one BackupBatch on schedule and on demand, damaged, restored by
// one RestoreBatch, verified byte for byte. The demo exits 0 only on PASS.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../world/bins.ts';

t.test('make demo story passes on the local backend', { timeout: 600_000 }, async (t) => {
  const world = mkdtempSync(join(tmpdir(), 'stash-ts-e2e-'));
  t.teardown(() => rmSync(world, { recursive: true, force: true }));
  const { code, out } = await new Promise<{ code: number; out: string }>((resolve) => {
    execFile(join(REPO_ROOT, 'node_modules', '.bin', 'node'), ['demo/demo.ts'], {
      cwd: REPO_ROOT, timeout: 580_000, maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, DEMO_QUIET: '1', DEMO_WORLD_DIR: world, BACKEND: 'local' },
    }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` }));
  });
  t.equal(code, 0, 'demo exits 0');
  t.match(out, /^PASS: batch backup and restore/m, `demo says PASS:\n${out.slice(-3000)}`);
});
