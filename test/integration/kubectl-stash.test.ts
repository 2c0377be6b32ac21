// The kubectl-stash plugin (cli/kubectl-stash) run as a user runs it — the executable, with the test world's
// kubeconfig — against a real BackupBatch backed up by the agent into a local-directory Repository (hostPath,
// reachable from this machine). Each subcommand is checked by what it should change: a triggered session
// Succeeds, pause/resume suspend and resume the trigger CronJob, download gives the backed-up files byte for byte
// (the snapshot named by its Snapshot object), check writes integrity into the Repository status, unlock removes
// a dead pod's lock and keeps a live pod's, delete snapshot forgets it in the backend, key add + remove of the old
// key leaves the repository opening with the new password only, and no output ever carries a password.
// Runs on the pod-runner world (a kubelet stand-in; application containers are not run).
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { apiVersionOf } from '../../shared/api/constants.ts';
import { SNAPSHOT_API_VERSION, SNAPSHOT_KIND, type Snapshot } from '../../shared/api/snapshot.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { WrongPasswordError } from '../../shared/restic/errors.ts';
import { REPO_ROOT } from '../world/bins.ts';
import { makeRestic } from '../backends/restic.ts';
import { restic as resticBin } from '../support/agent-world.ts';
import {
  DATA_PATH,
  backupBatch,
  createApp,
  e2eWorld,
  finished,
  namespaceWithRepo,
  readTree,
  sidecarsRunning,
  until,
  type SessionObj,
} from '../support/e2e-world.ts';

t.setTimeout(600_000);
// The periodic resync is 10 minutes here: every Snapshot this file sees comes from the event-driven sync (the
// Repository status the agent writes after a session, a session reaching a final phase, a Snapshot deleted).
const w = await e2eWorld(t, 'kubectl-stash', {
  operatorEnv: { STASH_SNAPSHOT_RESYNC: '10m', STASH_RESTIC_BINARY: resticBin() },
});
const ns = 'cli';
const PLUGIN = join(REPO_ROOT, 'cli', 'kubectl-stash');
const outputs: string[] = [];
const passwords: string[] = [];

async function plugin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return await pluginIn(ns, ...args);
}

async function pluginIn(
  namespace: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(PLUGIN, [...args, '-n', namespace, '--kubeconfig', w.state.kubeconfig], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, STASH_RESTIC_BINARY: resticBin() },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  outputs.push(stdout, stderr);
  return { code, stdout, stderr };
}

const repoDir = await namespaceWithRepo(w, ns);
const secret = await w.kube.get<KubeObject & { data: Record<string, string> }>('v1', 'Secret', ns, 'repo-secret');
const oldPassword = Buffer.from(secret.data.RESTIC_PASSWORD!, 'base64').toString();
const files = {
  'index.html': '<h1>hello</h1>\n',
  'uploads/photo.bin': Buffer.from([0, 1, 2, 255, 254]),
  'x/y/z.txt': 'deep\n',
};
const claimDir = await createApp(w, ns, 'app', files);
await w.kube.create(backupBatch(ns, 'nightly', ['app']));
await sidecarsRunning(w, ns, ['app']);
const direct = (password: string) =>
  makeRestic(resticBin(), { local: { mountPath: repoDir } }, { RESTIC_PASSWORD: password });

t.test('--help lists every subcommand; bad input has its own exit codes', async (t) => {
  const h = await plugin('--help');
  t.equal(h.code, 0);
  for (const c of [
    'cp secret|repository|backupconfig',
    'gen rules',
    'debug backup',
    'debug restore',
    'trigger',
    'pause backup',
    'resume backup',
    'unlock',
    'check',
    'download',
    'delete snapshot',
    'key list',
    'key add',
    'key update',
    'key remove',
  ])
    t.match(h.stdout, c, `help names ${c}`);
  t.equal((await plugin('frobnicate')).code, 2, 'unknown command: 2');
  t.equal((await plugin('check', 'no-such-repo')).code, 3, 'missing Repository: 3');
});

t.test('trigger --backupbatch makes a session that Succeeds', async (t) => {
  const r = await plugin('trigger', '--backupbatch', 'nightly');
  t.equal(r.code, 0, r.stderr);
  const name = /BackupSession cli\/(\S+) created/.exec(r.stdout)?.[1];
  t.ok(name, `session named in the output: ${r.stdout.trim()}`);
  const s = await finished<SessionObj>(w, apiVersionOf('BackupSession'), 'BackupSession', ns, name!, 120_000);
  t.equal(s.status?.phase, 'Succeeded', 'Succeeded');
});

t.test('pause backup / resume backup suspend and resume the trigger CronJob', async (t) => {
  const suspended = async (want: boolean) =>
    await until(`CronJob suspend=${want}`, async () => {
      const cj = await w.kube.getOrNull<KubeObject & { spec?: { suspend?: boolean } }>(
        'batch/v1',
        'CronJob',
        ns,
        'stash-trigger-nightly',
      );
      return cj && (cj.spec?.suspend === true) === want ? cj : undefined;
    });
  t.equal((await plugin('pause', 'backup', '--backupbatch', 'nightly')).code, 0);
  t.equal((await suspended(true)).spec?.suspend, true, 'suspended');
  t.equal((await plugin('resume', 'backup', '--backupbatch', 'nightly')).code, 0);
  t.notOk((await suspended(false)).spec?.suspend, 'resumed');
});

let snapshotName = '';

t.test('download REPO --snapshots <Snapshot name> gives the files byte for byte', async (t) => {
  const [snap] = await until('a Snapshot of the backup (synced after the session, not by the resync)', async () => {
    const l = await w.kube.list<Snapshot & KubeObject>(SNAPSHOT_API_VERSION, SNAPSHOT_KIND, ns);
    return l.items.length > 0 ? l.items : undefined;
  });
  snapshotName = snap!.metadata.name!;
  const dest = mkdtempSync(join(tmpdir(), 'stash-download-'));
  t.teardown(() => import('node:fs').then((fs) => fs.rmSync(dest, { recursive: true, force: true })));
  const r = await plugin('download', 'repo', '--destination', dest, '--snapshots', snapshotName);
  t.equal(r.code, 0, r.stderr);
  const got = readTree(join(dest, snap!.status!.id!.slice(0, 8), DATA_PATH.slice(1)));
  t.same(got, readTree(claimDir), 'byte-identical to the backed-up volume');
});

t.test('gen rules gives rules a RestoreSession accepts', async (t) => {
  const r = await plugin('gen', 'rules', 'repo');
  t.equal(r.code, 0, r.stderr);
  const { rules } = parse(r.stdout) as { rules: Array<{ targetHosts: string[]; snapshots: string[] }> };
  t.same(
    rules.map((x) => x.targetHosts),
    [['app']],
    'one rule for the host app',
  );
  t.match(rules[0]!.snapshots[0], /^[0-9a-f]{64}$/, 'naming a full snapshot id');
  const rs = await w.kube.create(
    {
      apiVersion: apiVersionOf('RestoreSession'),
      kind: 'RestoreSession',
      metadata: { name: 'from-rules', namespace: ns },
      spec: {
        repository: { name: 'repo' },
        target: {
          ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'app' },
          volumeMounts: [{ name: 'data', mountPath: DATA_PATH }],
          rules,
        },
      },
    },
    { dryRun: true },
  );
  t.equal(rs.metadata?.name, 'from-rules', 'admitted (server dry run)');
  t.equal((await plugin('gen', 'rules', 'repo', '--timestamp', '2000-01-01T00:00:00Z')).code, 3, 'nothing that old: 3');
});

t.test('check writes integrity into the Repository status', async (t) => {
  await w.kube.patch(
    apiVersionOf('Repository'),
    'Repository',
    ns,
    'repo',
    { status: { integrity: false } },
    { subresource: 'status' },
  );
  const r = await plugin('check', 'repo', '--read-data');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /integrity ok/);
  const repo = await w.kube.get<KubeObject & { status?: { integrity?: boolean } }>(
    apiVersionOf('Repository'),
    'Repository',
    ns,
    'repo',
  );
  t.equal(repo.status?.integrity, true, 'status.integrity true');
});

t.test('unlock removes a dead pod lock and keeps a live pod lock', async (t) => {
  const { restic, cleanup } = await direct(oldPassword);
  t.teardown(cleanup);
  // Two "pods'" restic processes, each in a UTS namespace named after its pod, as in a real pod.
  const holder = (pod: string) => {
    const c = spawn(
      'unshare',
      [
        '--uts',
        '/bin/sh',
        '-c',
        'hostname "$0" && exec "$@"',
        pod,
        resticBin(),
        ...restic.argv(['backup', '--host', pod, '--stdin', '--stdin-filename', 'x']),
      ],
      {
        env: restic.buildEnv(),
        stdio: ['pipe', 'ignore', 'ignore'],
      },
    );
    c.stdin.write('data\n');
    return c;
  };
  await w.kube.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'live-pod', namespace: ns },
    spec: { containers: [{ name: 'app', image: 'busybox', command: ['sleep', 'infinity'] }] },
  });
  const dead = holder('gone-pod');
  const live = holder('live-pod');
  t.teardown(() => {
    live.kill('SIGKILL');
  });
  await until('both to hold a lock', async () => ((await restic.locks()).length === 2 ? true : undefined));
  dead.kill('SIGKILL');
  await once(dead, 'exit');
  const r = await plugin('unlock', 'repo');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /removed .*gone-pod/, 'the dead pod lock is removed');
  t.match(r.stdout, /kept .*live-pod/, 'the live pod lock is kept');
  const left = await restic.locks();
  t.same(
    left.map((l) => l.hostname),
    ['live-pod'],
    'only the live holder lock is left',
  );
  live.stdin.end();
  await once(live, 'exit');
});

t.test('delete snapshot forgets it in the backend', async (t) => {
  const r = await plugin('delete', 'snapshot', snapshotName);
  t.equal(r.code, 0, r.stderr);
  const { restic, cleanup } = await direct(oldPassword);
  t.teardown(cleanup);
  const ids = (await restic.snapshots()).map((s) => s.id.slice(0, 8));
  t.notOk(ids.includes(snapshotName.slice(-8)), `snapshot ${snapshotName} is gone from restic snapshots`);
});

t.test('key add with --update-secret, then remove the old key: only the new password opens it', async (t) => {
  const keys = await plugin('key', 'list', 'repo');
  t.equal(keys.code, 0, keys.stderr);
  const oldId = /^\* ([0-9a-f]{8})/m.exec(keys.stdout)?.[1];
  t.ok(oldId, 'the current key is marked');
  t.equal((await plugin('key', 'remove', 'repo', '--id', oldId!)).code, 4, 'the last key is refused (4)');
  const newPassword = `new-${Date.now()}-pw`;
  const pwFile = join(mkdtempSync(join(tmpdir(), 'stash-pw-')), 'pw');
  writeFileSync(pwFile, `${newPassword}\n`, { mode: 0o600 });
  const add = await plugin('key', 'add', 'repo', '--new-password-file', pwFile, '--update-secret');
  t.equal(add.code, 0, add.stderr);
  const s = await w.kube.get<KubeObject & { data: Record<string, string> }>('v1', 'Secret', ns, 'repo-secret');
  t.equal(Buffer.from(s.data.RESTIC_PASSWORD!, 'base64').toString(), newPassword, 'the Secret holds the new password');
  const rm = await plugin('key', 'remove', 'repo', '--id', oldId!);
  t.equal(rm.code, 0, rm.stderr);
  const withNew = await direct(newPassword);
  const withOld = await direct(oldPassword);
  t.teardown(() => Promise.all([withNew.cleanup(), withOld.cleanup()]));
  t.ok((await withNew.restic.snapshots()).length >= 0, 'the new password opens the repository');
  await t.rejects(withOld.restic.snapshots(), WrongPasswordError, 'the old password no longer does');
  passwords.push(oldPassword, newPassword);
  t.ok(readFileSync(pwFile, 'utf8').length > 0);
});

t.test('key update changes the current key and the Secret: only the newest password opens it', async (t) => {
  const before = passwords.at(-1)!;
  const newest = `newest-${Date.now()}-pw`;
  const pwFile = join(mkdtempSync(join(tmpdir(), 'stash-pw-')), 'pw');
  writeFileSync(pwFile, `${newest}\n`, { mode: 0o600 });
  const u = await plugin('key', 'update', 'repo', '--new-password-file', pwFile);
  t.equal(u.code, 0, u.stderr);
  const s = await w.kube.get<KubeObject & { data: Record<string, string> }>('v1', 'Secret', ns, 'repo-secret');
  t.equal(Buffer.from(s.data.RESTIC_PASSWORD!, 'base64').toString(), newest, 'the Secret holds the updated password');
  const keys = await plugin('key', 'list', 'repo');
  t.equal(keys.stdout.trim().split('\n').length, 1, 'still one key');
  t.match(keys.stdout, /^\* /, 'and the Secret opens it');
  const withNewest = await direct(newest);
  const withBefore = await direct(before);
  t.teardown(() => Promise.all([withNewest.cleanup(), withBefore.cleanup()]));
  t.ok((await withNewest.restic.snapshots()).length > 0, 'the updated password opens the repository');
  await t.rejects(withBefore.restic.snapshots(), WrongPasswordError, 'the one before no longer does');
  passwords.push(newest);
  t.equal((await plugin('key', 'update', 'repo')).code, 2, 'without --new-password-file: 2');
});

t.test('cp secret copies the Secret; a second copy leaves it as it is', async (t) => {
  await w.kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'cli-secret' } });
  const r = await plugin('cp', 'secret', 'repo-secret', '--to-namespace', 'cli-secret');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /Secret cli-secret\/repo-secret created/);
  const [a, b] = await Promise.all(
    [ns, 'cli-secret'].map((n) =>
      w.kube.get<KubeObject & { data: Record<string, string> }>('v1', 'Secret', n, 'repo-secret'),
    ),
  );
  t.same(b!.data, a!.data, 'the same data');
  const again = await plugin('cp', 'secret', 'repo-secret', '--to-namespace', 'cli-secret');
  t.match(again.stdout, /exists already: left as it is/);
  t.equal((await plugin('cp', 'secret', 'repo-secret', '--to-namespace', ns)).code, 2, 'same namespace: 2');
  t.equal((await plugin('cp', 'secret', 'no-such', '--to-namespace', 'cli-secret')).code, 3, 'missing: 3');
});

t.test('cp backupconfig brings its Repository and Secret; the copy backs up in the other namespace', async (t) => {
  await w.kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name: 'copyme', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      schedule: '0 0 1 1 *',
      // The workload lives only in the namespace it is copied to.
      target: {
        alias: 'copied',
        ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'copied-app' },
        paths: [DATA_PATH],
        volumeMounts: [{ name: 'data', mountPath: DATA_PATH }],
      },
      retentionPolicy: { name: 'keep-5', keepLast: 5, prune: true },
    },
  });
  await w.kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'cli-bc' } });
  const copied = await createApp(w, 'cli-bc', 'copied-app', { 'copied.txt': 'copied\n' });
  const r = await plugin('cp', 'backupconfig', 'copyme', '--to-namespace', 'cli-bc');
  t.equal(r.code, 0, r.stderr);
  for (const what of ['Secret cli-bc/repo-secret', 'Repository cli-bc/repo', 'BackupConfiguration cli-bc/copyme'])
    t.match(r.stdout, `${what} created`, `${what} created`);
  await sidecarsRunning(w, 'cli-bc', ['copied-app']);
  const tr = await pluginIn('cli-bc', 'trigger', '--backupconfig', 'copyme');
  t.equal(tr.code, 0, tr.stderr);
  const name = /BackupSession cli-bc\/(\S+) created/.exec(tr.stdout)![1]!;
  const s = await finished<SessionObj>(w, apiVersionOf('BackupSession'), 'BackupSession', 'cli-bc', name, 120_000);
  t.equal(s.status?.phase, 'Succeeded', 'the copy backs up', { status: s.status });
  const { restic, cleanup } = await direct(passwords.at(-1)!);
  t.teardown(cleanup);
  const snap = (await restic.snapshots({ host: 'copied' })).at(-1);
  t.ok(snap, "a snapshot of the copy's host in the shared repository");
  const dest = mkdtempSync(join(tmpdir(), 'stash-download-'));
  t.teardown(() => rmSync(dest, { recursive: true, force: true }));
  const d = await pluginIn('cli-bc', 'download', 'repo', '--destination', dest, '--host', 'copied');
  t.equal(d.code, 0, d.stderr);
  t.same(readTree(join(dest, snap!.id.slice(0, 8), DATA_PATH.slice(1))), readTree(copied), 'its files, byte for byte');
});

t.test('cp repository makes a working copy in another namespace', async (t) => {
  await w.kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'cli-copy' } });
  const r = await plugin('cp', 'repository', 'repo', '--to-namespace', 'cli-copy');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /Secret cli-copy\/repo-secret created/);
  t.match(r.stdout, /Repository cli-copy\/repo created/);
  const c = await pluginIn('cli-copy', 'check', 'repo');
  t.equal(c.code, 0, `the copy opens the repository: ${c.stderr}`);
  t.equal((await plugin('cp', 'repository', 'repo', '--to-namespace', 'cli-copy')).code, 0, 'again: left as it is');
});

t.test('debug backup shows the failing host error', async (t) => {
  await createApp(w, ns, 'broken', { 'a.txt': 'a\n' });
  await w.kube.create(backupBatch(ns, 'broken-backup', [['broken', { paths: ['/no/such/path'] }]]));
  await sidecarsRunning(w, ns, ['broken']);
  const r = await plugin('trigger', '--backupbatch', 'broken-backup');
  t.equal(r.code, 0, r.stderr);
  const name = /BackupSession cli\/(\S+) created/.exec(r.stdout)![1]!;
  const s = await finished<SessionObj>(w, apiVersionOf('BackupSession'), 'BackupSession', ns, name, 120_000);
  t.equal(s.status?.phase, 'Failed', 'the session Failed');
  const hostError = s.status?.targets?.[0]?.stats?.[0]?.error ?? '';
  t.ok(hostError, `the host reports why: ${hostError}`);
  const d = await plugin('debug', 'backup', '--backupbatch', 'broken-backup');
  t.equal(d.code, 0, d.stderr);
  t.match(d.stdout, `BackupSession ${name}: Failed`, 'the session and its phase');
  t.match(d.stdout, `host broken: Failed`, 'the failing host');
  t.ok(d.stdout.includes(hostError), 'its error, as in the session status');
  t.match(d.stdout, /stash log of pod broken-\S+: (not available|\(last 20 lines\))/, 'the agent log, or why not');
});

t.test('debug restore shows the failing host error', async (t) => {
  await w.kube.create({
    apiVersion: apiVersionOf('RestoreSession'),
    kind: 'RestoreSession',
    metadata: { name: 'broken-restore', namespace: ns },
    spec: {
      repository: { name: 'repo' },
      target: {
        ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'broken' },
        volumeMounts: [{ name: 'data', mountPath: DATA_PATH }],
        rules: [{ snapshots: ['deadbeef'] }],
      },
    },
  });
  type Restore = KubeObject & { status?: { phase?: string; stats?: Array<{ hostname?: string; error?: string }> } };
  const rs = await finished<Restore>(
    w,
    apiVersionOf('RestoreSession'),
    'RestoreSession',
    ns,
    'broken-restore',
    120_000,
  );
  t.equal(rs.status?.phase, 'Failed', 'the restore Failed');
  const host = rs.status?.stats?.[0];
  t.ok(host?.error, `the host reports why: ${host?.error}`);
  const d = await plugin('debug', 'restore', '--restoresession', 'broken-restore');
  t.equal(d.code, 0, d.stderr);
  t.match(d.stdout, 'RestoreSession cli/broken-restore: phase Failed', 'the session and its phase');
  t.match(d.stdout, `host ${host?.hostname}: Failed`, 'the failing host');
  t.ok(d.stdout.includes(host?.error ?? '?'), 'its error, as in the session status');
  t.match(d.stdout, /stash-init log of pod broken-\S+: (not available|\(last 20 lines\))/, 'the agent log, or why not');
  t.equal((await plugin('debug', 'restore', '--restoresession', 'no-such')).code, 3, 'missing: 3');
});

t.test('no output carried a password', async (t) => {
  t.ok(passwords.length === 3, 'the three passwords known');
  t.notOk(
    outputs.some((o) => passwords.some((p) => o.includes(p))),
    'no password in any stdout or stderr',
  );
});
