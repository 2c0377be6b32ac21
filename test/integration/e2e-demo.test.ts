// The demo's story end to end, without the narration: its own local world (control plane, operator, pod
// runner), WordPress + MySQL backed up by one BackupBatch on schedule and on demand, damaged, restored by
// one RestoreBatch, verified byte for byte; and with DB=mariadb, where the database is a real MariaDB server
// backed up and restored by Jobs through an AppBinding. The demo exits 0 only on PASS. It runs on the pod-runner
// world (DEMO_POD_RUNNER=1): the machine holds one real-kubelet world at a time and the kubelet tier
// (test/kubelet/) owns it during make test; `make demo` itself runs on real pods.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../world/bins.ts';

// Two whole demos in one file, each waiting up to a minute for its schedule slot: together they can pass the
// 120 s per-file default (a run measured 76 s + 61 s), so the file gets the room its two subtests have.
t.setTimeout(1_200_000);

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

t.test('make demo story passes on the local backend', { timeout: 600_000 }, async (t) => {
  const { code, out } = await runDemo({ BACKEND: 'local' });
  t.equal(code, 0, 'demo exits 0');
  t.match(out, /^PASS: batch backup and restore of WordPress \+ MySQL/m, `demo says PASS:\n${out.slice(-3000)}`);
});

t.test('DB=mariadb: the mysql component is a real MariaDB member (REST backend)', { timeout: 600_000 }, async (t) => {
  const { code, out } = await runDemo({ BACKEND: 'rest', DB: 'mariadb' });
  t.equal(code, 0, 'demo exits 0');
  t.match(
    out,
    /^PASS: batch backup and restore of WordPress \+ MariaDB on the rest backend/m,
    `demo says PASS:\n${out.slice(-3000)}`,
  );
});
