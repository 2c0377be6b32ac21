// The demo's pod-runner path end to end, without the narration: its own pod-runner world (control plane,
// operator, pod runner), WordPress + a real MariaDB server (DB=mariadb, backed up and restored by Jobs through an
// AppBinding) on the REST backend, backed up by one BackupBatch on schedule and on demand, damaged, restored by one
// RestoreBatch, verified; the demo exits 0 only on PASS. This is the path `make demo` falls back to where the
// real-kubelet world cannot be used (not root, no network namespaces; DB=mariadb and BACKEND=rest|s3, whose
// servers listen on this machine's loopback). The local-backend story on real pods is `make demo` itself, and its
// parts (sidecar backup, stash-init RestoreBatch, job model, MariaDB) are the kubelet tier's stories (test/kubelet/).
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../world/bins.ts';

// A whole demo waits up to a minute for its schedule slot: more than the 120 s per-file default may be needed.
t.setTimeout(600_000);

async function runDemo(env: Record<string, string>): Promise<{ code: number; out: string }> {
  const world = mkdtempSync(join(tmpdir(), 'stash-ts-e2e-'));
  try {
    return await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(
        join(REPO_ROOT, 'node_modules', '.bin', 'node'),
        ['demo/demo.ts'],
        {
          cwd: REPO_ROOT,
          timeout: 580_000,
          maxBuffer: 16 * 1024 * 1024,
          env: { ...process.env, DEMO_QUIET: '1', DEMO_POD_RUNNER: '1', DEMO_WORLD_DIR: world, ...env },
        },
        (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` }),
      );
    });
  } finally {
    rmSync(world, { recursive: true, force: true });
  }
}

t.test('DB=mariadb: the mysql component is a real MariaDB member (REST backend)', { timeout: 600_000 }, async (t) => {
  const { code, out } = await runDemo({ BACKEND: 'rest', DB: 'mariadb' });
  t.equal(code, 0, 'demo exits 0');
  t.match(
    out,
    /^PASS: batch backup and restore of WordPress \+ MariaDB on the rest backend/m,
    `demo says PASS:\n${out.slice(-3000)}`,
  );
  t.match(out, /on the POD-RUNNER world \(no application containers\)/, 'and says plainly which world it ran on');
});
