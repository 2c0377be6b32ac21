// The generated CRDs on a real kube-apiserver: every valid fixture is accepted as written by a Stash user (kubectl,
// strict field validation), every invalid one is rejected with a message that names the field, defaults are
// applied, status is a validated subresource, and `kubectl explain` / `kubectl get` show what the schema says.

import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { KINDS, type StashKind } from '../../shared/api/constants.ts';
import { invalidFixtures, validFixtures, type Fixture } from '../fixtures/manifests/load.ts';
import { useCluster, type ClusterHandle } from '../world/harness.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const crdDir = path.join(repo, 'manifests', 'crds');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectlRunner(c: ClusterHandle, cacheDir: string) {
  return (args: string[], stdin?: string): Promise<Result> =>
    new Promise((resolve) => {
      const child = execFile(
        c.kubectl,
        ['--kubeconfig', c.kubeconfigPath, '--cache-dir', cacheDir, ...args],
        { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err
            ? typeof (err as { code?: unknown }).code === 'number'
              ? (err as { code: number }).code
              : 1
            : 0;
          resolve({ code, stdout, stderr });
        },
      );
      child.stdin?.end(stdin ?? '');
    });
}

/** The fixture as the user wrote it, moved into the test's namespace. */
function inNamespace(f: Fixture, namespace: string): Record<string, unknown> {
  return { ...f.object, metadata: { ...f.object.metadata, namespace } };
}

t.test('stash CRDs on a real apiserver', async (t) => {
  const c = await useCluster(t);
  const cacheDir = mkdtempSync(path.join(tmpdir(), 'kubectl-cache-'));
  t.teardown(() => rmSync(cacheDir, { recursive: true, force: true }));
  const kubectl = kubectlRunner(c, cacheDir);
  const ns = c.namespace;

  // The harness installs manifests/crds when it starts the cluster; apply again so this file tests the CRDs of
  // this working tree even against a cluster started earlier. Identical content makes this a no-op.
  const applied = await kubectl([
    'apply',
    '--server-side',
    '--force-conflicts',
    '--field-manager',
    'stash-ts-tests',
    '-f',
    crdDir,
  ]);
  t.equal(applied.code, 0, `CRDs apply: ${applied.stderr}`);
  const crdNames = readdirSync(crdDir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => `crd/${f.replace(/\.yaml$/, '')}`);
  const established = await kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...crdNames]);
  t.equal(established.code, 0, `CRDs established: ${established.stderr}`);

  t.test('valid fixtures are accepted unchanged', async (t) => {
    for (const f of validFixtures()) {
      const wanted = inNamespace(f, ns);
      const res = await kubectl(['create', '--validate=strict', '-o', 'json', '-f', '-'], stringify(wanted));
      t.equal(res.code, 0, `${f.file} created: ${res.stderr}`);
      if (res.code !== 0) continue;
      t.notMatch(res.stderr, /Warning/, `${f.file}: no warnings (nothing pruned or unknown)`);
      const created = JSON.parse(res.stdout) as Record<string, unknown>;
      // Subset match: every field the user wrote is still there with its value (nothing pruned).
      t.match(created['spec'], wanted['spec'], `${f.file}: spec stored as written`);
    }
  });

  t.test('defaults are applied by the apiserver', async (t) => {
    const get = async (kind: StashKind, name: string) => {
      const res = await kubectl(['get', '-n', ns, '-o', 'json', `${KINDS[kind].plural}.stash.appscode.com/${name}`]);
      t.equal(res.code, 0, res.stderr);
      return JSON.parse(res.stdout || '{}') as { spec: Record<string, unknown> };
    };
    const ss = await get('BackupConfiguration', 'ss-backup');
    t.match(ss.spec, { driver: 'Restic', backupHistoryLimit: 1, paused: false });
    const pvc = await get('BackupConfiguration', 'nfs-pvc-backup');
    t.match(pvc.spec, { retryConfig: { maxRetry: 3 }, backupHistoryLimit: 5, tempDir: undefined });
    const wp = await get('BackupBatch', 'wordpress-backup');
    t.match(wp.spec, {
      executionOrder: 'Sequential',
      driver: 'Restic',
      members: [{ target: { alias: 'db' } }, { target: { alias: 'app' }, tempDir: { disableCaching: false } }],
    });
    const restore = await get('RestoreBatch', 'wordpress-restore');
    t.match(restore.spec, {
      driver: 'Restic',
      members: [{}, { hooks: { postRestore: { executionPolicy: 'OnSuccess' } } }],
    });
    const session = await get('RestoreSession', 'ss-restore');
    t.match(session.spec, { driver: 'Restic', hooks: { postRestore: { executionPolicy: 'OnFailure' } } });
    const rest = await get('Repository', 'rest-repo');
    t.match(rest.spec, { wipeOut: false, usagePolicy: { allowedNamespaces: { from: 'All' } } });
    const hostPath = await get('Repository', 'local-repo');
    t.match(hostPath.spec, { wipeOut: false });
    t.notOk('usagePolicy' in hostPath.spec, 'no usagePolicy is invented when none was written');
  });

  t.test('invalid fixtures are rejected naming the field', async (t) => {
    for (const f of invalidFixtures()) {
      const res = await kubectl(['create', '--validate=strict', '-f', '-'], stringify(inNamespace(f, ns)));
      t.not(res.code, 0, `${f.file} rejected`);
      t.ok(
        f.expectError && res.stderr.includes(f.expectError),
        `${f.file}: error names ${f.expectError}: ${res.stderr.trim()}`,
      );
    }
  });

  t.test('status is a subresource validated by the schema', async (t) => {
    const target = ['-n', ns, 'backupsessions.stash.appscode.com/wordpress-backup-1763942400'];
    const bad = await kubectl([
      'patch',
      ...target,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { phase: 'Exploded' } }),
    ]);
    t.not(bad.code, 0, 'unknown phase rejected');
    t.match(bad.stderr, /status\.phase/);
    const status = {
      phase: 'Running',
      sessionDeadline: '2026-11-24T00:30:00Z',
      conditions: [
        {
          type: 'BackendRepositoryInitialized',
          status: 'True',
          reason: 'BackendRepositoryFound',
          lastTransitionTime: '2026-11-23T23:30:00Z',
        },
      ],
      targets: [
        {
          ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wordpress' },
          totalHosts: 1,
          phase: 'Succeeded',
          stats: [
            {
              hostname: 'app',
              phase: 'Succeeded',
              duration: '831.018039ms',
              snapshots: [
                {
                  name: '3b2ac9d4',
                  path: '/var/www/html',
                  totalSize: '12.000 MiB',
                  uploaded: '1.250 KiB',
                  processingTime: '0:01',
                  fileStats: { totalFiles: 10, newFiles: 1, modifiedFiles: 2, unmodifiedFiles: 7 },
                },
              ],
            },
          ],
        },
      ],
    };
    const good = await kubectl([
      'patch',
      ...target,
      '--subresource=status',
      '--type=merge',
      '-o',
      'json',
      '-p',
      JSON.stringify({ status }),
    ]);
    t.equal(good.code, 0, `status accepted: ${good.stderr}`);
    if (good.code === 0) t.match(JSON.parse(good.stdout).status, status);
    const spec = await kubectl([
      'patch',
      ...target,
      '--type=merge',
      '-o',
      'json',
      '-p',
      JSON.stringify({ status: { phase: 'Failed' } }),
    ]);
    t.equal(spec.code, 0, spec.stderr);
    if (spec.code === 0)
      t.equal(JSON.parse(spec.stdout).status.phase, 'Running', 'status cannot be changed through the main resource');
  });

  t.test('kubectl explain describes the schema', async (t) => {
    const res = await kubectl(['explain', 'backupbatch.spec.members.target']);
    t.equal(res.code, 0, res.stderr);
    for (const field of ['alias', 'ref', 'paths', 'volumeMounts', 'exclude'])
      t.match(res.stdout, new RegExp(`^\\s+${field}\\s`, 'm'), `lists ${field}`);
    t.match(res.stdout, /becomes the restic\s+--host/, 'alias is explained');
    t.match(res.stdout, /^\s+ref\s+<Object> -required-/m, 'ref is required');
    const order = await kubectl(['explain', 'backupbatch.spec.executionOrder']);
    t.match(order.stdout, /Sequential/);
  });

  t.test('short names, categories and printer columns', async (t) => {
    const res = await kubectl(['get', '-n', ns, 'bc,repo,restore']);
    t.equal(res.code, 0, res.stderr);
    t.match(res.stdout, /backupconfiguration\.stash\.appscode\.com\/ss-backup/);
    t.match(res.stdout, /repository\.stash\.appscode\.com\/gcs-repo/);
    t.match(res.stdout, /restoresession\.stash\.appscode\.com\/ss-restore/);
    const bb = await kubectl(['get', '-n', ns, 'backupbatches']);
    t.match(bb.stdout, /^NAME\s+SCHEDULE\s+PAUSED\s+PHASE\s+AGE\s*$/m);
    t.match(bb.stdout, /^wordpress-backup\s+\*\/5 \* \* \* \*\s+/m);
    const bc = await kubectl(['get', '-n', ns, 'backupconfigurations', 'nfs-pvc-backup']);
    t.match(bc.stdout, /^NAME\s+TASK\s+SCHEDULE\s+PAUSED\s+PHASE\s+AGE\s*$/m);
    t.match(bc.stdout, /^nfs-pvc-backup\s+pvc-backup\s+0 \*\/6 \* \* \*\s+/m);
    const bs = await kubectl(['get', '-n', ns, 'backupsessions']);
    t.match(bs.stdout, /^NAME\s+INVOKER-TYPE\s+INVOKER-NAME\s+PHASE\s+PROGRESS\s+DURATION\s+AGE\s*$/m);
    t.match(bs.stdout, /BackupBatch\s+wordpress-backup\s+Running/);
    const rs = await kubectl(['get', '-n', ns, 'restorebatches']);
    t.match(rs.stdout, /^NAME\s+REPOSITORY\s+PHASE\s+DURATION\s+AGE\s*$/m);
    const repos = await kubectl(['get', '-n', ns, 'repositories']);
    t.match(repos.stdout, /^NAME\s+INTEGRITY\s+SIZE\s+SNAPSHOT-COUNT\s+LAST-SUCCESSFUL-BACKUP\s+AGE\s*$/m);
    const all = await kubectl(['get', '-n', ns, 'stash', '-o', 'name']);
    t.equal(all.code, 0, all.stderr);
    t.equal(all.stdout.trim().split('\n').length, validFixtures().length, 'category "stash" lists every object');
  });
});
