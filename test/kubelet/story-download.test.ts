// Story on real pods: `kubectl stash` against a Repository whose local backend is a PersistentVolumeClaim — a
// volume only a pod can mount (its hostPath PersistentVolume is on the node; the Repository names only the
// claim, so the plugin cannot reach it from this machine). A Deployment's sidecar backs its volume up into that
// claim; `kubectl stash download` then runs restic in a short-lived pod of the agent image that mounts the claim
// read-only under the restricted Pod Security level the namespace enforces, and the files come out byte for
// byte. The pod is gone when the command ends: after a download, after a wrong snapshot id (exit 3, a clear
// message) and after a Ctrl-C while it starts. `gen rules` and `check` run through such a pod too. The operator,
// which cannot see the volume either, lists and forgets the Repository's snapshots through a short-lived Job.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { apiVersionOf } from '../../shared/api/index.ts';
import { SNAPSHOT_API_VERSION, SNAPSHOT_KIND } from '../../shared/api/snapshot.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { REPO_ROOT, binary } from '../world/bins.ts';
import { AGENT_IMAGE } from '../world/entrypoints.ts';
import { until } from '../support/e2e-world.ts';
import {
  appWorkload,
  backupNow,
  finalPhase,
  hostPathClaim,
  invokerReady,
  openStory,
  podsWithSidecar,
  treeSums,
  type Session,
} from './story-kit.ts';

t.setTimeout(900_000);
const st = await openStory(t, 'download');
const PLUGIN = join(REPO_ROOT, 'cli', 'kubectl-stash');
const POD_SELECTOR = 'app.kubernetes.io/component=kubectl-stash-repository';

type RepoPod = KubeObject & {
  spec?: {
    securityContext?: Record<string, unknown>;
    containers?: Array<{
      image?: string;
      securityContext?: Record<string, unknown>;
      volumeMounts?: Array<{ name: string; readOnly?: boolean }>;
    }>;
    volumes?: Array<{ name: string; persistentVolumeClaim?: { claimName?: string; readOnly?: boolean } }>;
  };
  status?: { phase?: string };
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function plugin(args: string[], onStart?: (pid: number) => void): Promise<Run> {
  const t0 = Date.now();
  const child = spawn(PLUGIN, [...args, '-n', st.ns, '--kubeconfig', st.world.kubeconfig], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, KUBECTL: st.world.kubectl },
  });
  onStart?.(child.pid!);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return once(child, 'close').then(([code]) => ({ code: code as number | null, stdout, stderr, ms: Date.now() - t0 }));
}

type SnapshotObj = KubeObject & { status?: { id?: string } };
const snapshotObjects = async () =>
  (await st.kube.list<SnapshotObj>(SNAPSHOT_API_VERSION, SNAPSHOT_KIND, st.ns)).items.filter(
    (s) => s.metadata?.labels?.repository === 'pvc-repo' && !s.metadata.deletionTimestamp,
  );
const syncJobs = async () =>
  (
    await st.kube.list<KubeObject>('batch/v1', 'Job', st.ns, {
      labelSelector: 'app.kubernetes.io/component=stash-snapshots',
    })
  ).items;
const repoPods = async () => (await st.kube.list<RepoPod>('v1', 'Pod', st.ns, { labelSelector: POD_SELECTOR })).items;

// The repository's volume and the application's volume: both claims on hostPath PersistentVolumes of the node.
const repoDir = await hostPathClaim(st, 'backups', {});
const files = {
  'index.html': '<h1>download story</h1>\n',
  'uploads/photo.bin': randomBytes(3 * 1024 * 1024),
  'deep/a/b/c.txt': 'deep\n',
  'empty.txt': '',
};
const dataDir = await hostPathClaim(st, 'data', files);
await st.kube.create({
  apiVersion: apiVersionOf('Repository'),
  kind: 'Repository',
  metadata: { name: 'pvc-repo', namespace: st.ns },
  spec: {
    backend: {
      storageSecretName: 'repo-secret',
      local: { mountPath: '/stash-repo', persistentVolumeClaim: { claimName: 'backups' } },
    },
  },
});

let snapshotId = '';
let snapshotHost = '';
const password = async () =>
  Buffer.from(
    (await st.kube.get<KubeObject & { data: Record<string, string> }>('v1', 'Secret', st.ns, 'repo-secret')).data
      .RESTIC_PASSWORD!,
    'base64',
  ).toString();

t.test('the sidecar backs up into a claim only a pod can mount', async (t) => {
  const app = appWorkload('Deployment', st.ns, 'app', 'while true; do sleep 3600; done') as KubeObject & {
    spec: { template: { spec: { volumes: unknown[] } } };
  };
  app.spec.template.spec.volumes = [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }];
  await st.kube.create(app);
  await st.kube.create({
    apiVersion: apiVersionOf('BackupConfiguration'),
    kind: 'BackupConfiguration',
    metadata: { name: 'app-backup', namespace: st.ns },
    spec: {
      repository: { name: 'pvc-repo' },
      schedule: '0 0 1 1 *',
      target: {
        ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'app' },
        paths: ['/data'],
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
      },
      retentionPolicy: { name: 'keep-3', keepLast: 3, prune: true },
    },
  });
  await invokerReady(st, 'BackupConfiguration', 'app-backup');
  await podsWithSidecar(st, 'app');
  await backupNow(st, 'app-backup-1', { kind: 'BackupConfiguration', name: 'app-backup' });
  const s = await finalPhase<Session>(st, 'BackupSession', 'app-backup-1');
  t.equal(s.status?.phase, 'Succeeded', 'the backup succeeded', { status: s.status });
  t.ok(existsSync(join(repoDir, 'config')), "the repository is on the claim's volume");
  // restic from this machine, straight on the PersistentVolume's directory: what the backup wrote.
  const snaps = JSON.parse(
    execFileSync(binary('restic'), ['-r', repoDir, '--no-cache', '--no-lock', 'snapshots', '--json'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, RESTIC_PASSWORD: await password() },
    }),
  ) as Array<{ id: string; hostname: string }>;
  t.equal(snaps.length, 1, 'one snapshot');
  snapshotId = snaps[0]!.id;
  snapshotHost = snaps[0]!.hostname;
  // The operator cannot see the volume either: its Snapshot sync lists the repository through a short-lived Job.
  const objs = await until(
    'the Snapshot of the backup, synced through a Job',
    async () => {
      const l = await snapshotObjects();
      return l.length === 1 ? l : undefined;
    },
    180_000,
  );
  t.equal(objs[0]!.metadata?.name, `pvc-repo-${snapshotId.slice(0, 8)}`, 'Snapshot pvc-repo-<8 hex>');
  t.equal(objs[0]!.status?.id, snapshotId, 'its id is the one restic lists');
});

t.test('download runs restic in a short-lived restricted pod and gives the files byte for byte', async (t) => {
  // From here on, pods of this namespace must pass the restricted Pod Security level.
  await st.kube.patch('v1', 'Namespace', undefined, st.ns, {
    metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
  });
  const dest = mkdtempSync(join(tmpdir(), 'stash-story-download-'));
  t.teardown(() => rmSync(dest, { recursive: true, force: true }));
  let seen: RepoPod | undefined;
  let done = false;
  const watching = (async () => {
    while (!seen && !done) {
      seen = (await repoPods())[0];
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const r = await plugin(['download', 'pvc-repo', '--destination', dest]);
  done = true;
  await watching;
  t.comment(r.stderr.trim());
  t.equal(r.code, 0, `exit 0: ${r.stderr}`);
  t.ok(seen, 'a pod labelled as the plugin labels its repository pods ran');
  const c = seen?.spec?.containers?.[0];
  t.equal(c?.image, AGENT_IMAGE, 'the agent image, as the operator names it');
  t.same(
    seen?.spec?.volumes?.find((v) => v.name === 'repository')?.persistentVolumeClaim,
    { claimName: 'backups', readOnly: true },
    'the claim, read-only',
  );
  t.equal(c?.volumeMounts?.find((m) => m.name === 'repository')?.readOnly, true, 'mounted read-only');
  t.match(c?.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  t.same(seen?.metadata?.ownerReferences?.[0]?.kind, 'Repository', 'owned by the Repository');
  const short = snapshotId.slice(0, 8);
  t.match(r.stdout, `snapshot ${short} → ${join(dest, short)}`, 'the latest snapshot, into DEST/<short id>');
  t.same(treeSums(join(dest, short, 'data')), treeSums(dataDir), 'byte-identical to the backed-up volume');
  t.equal(statSync(join(dest, short, 'data', 'empty.txt')).size, 0, 'the empty file too');
  t.same(await repoPods(), [], 'the pod is gone when the command ends');
  const started = /running ([\d.]+) s after it was created/.exec(r.stderr)?.[1];
  const restored = /\) in ([\d.]+) s/.exec(r.stdout)?.[1];
  const deleted = /deleted \(([\d.]+) s\)/.exec(r.stderr)?.[1];
  t.comment(
    `download-figure: pod running after ${started} s, restore + copy out ${restored} s, pod deletion ${deleted} s, ` +
      `command ${(r.ms / 1000).toFixed(1)} s start to done`,
  );
});

t.test('a wrong snapshot id exits 3 with a clear message and leaves no pod', async (t) => {
  const dest = mkdtempSync(join(tmpdir(), 'stash-story-download-'));
  t.teardown(() => rmSync(dest, { recursive: true, force: true }));
  const r = await plugin(['download', 'pvc-repo', '--destination', dest, '--snapshots', 'deadbeef']);
  t.equal(r.code, 3, `exit 3 (not found): ${r.stderr}`);
  t.match(r.stderr, /error: no snapshot deadbeef in Repository pvc-repo/, 'the error names the snapshot');
  t.same(await repoPods(), [], 'no pod is left');
});

t.test('Ctrl-C while the pod starts: exit 130 and no pod left', async (t) => {
  const dest = mkdtempSync(join(tmpdir(), 'stash-story-download-'));
  t.teardown(() => rmSync(dest, { recursive: true, force: true }));
  let pid = 0;
  const running = plugin(['download', 'pvc-repo', '--destination', dest], (p) => (pid = p));
  await until('the repository pod to be created', async () => ((await repoPods()).length > 0 ? true : undefined));
  process.kill(pid, 'SIGINT');
  const r = await running;
  t.equal(r.code, 130, `exit 130: ${r.stderr}`);
  t.match(r.stderr, /interrupted/);
  t.same(await repoPods(), [], 'the pod was deleted');
});

t.test('gen rules and check run through such a pod too', async (t) => {
  const g = await plugin(['gen', 'rules', 'pvc-repo']);
  t.equal(g.code, 0, g.stderr);
  const { rules } = parse(g.stdout) as { rules: Array<{ targetHosts: string[]; snapshots: string[] }> };
  t.same(
    rules,
    [{ targetHosts: [snapshotHost], sourceHost: snapshotHost, snapshots: [snapshotId] }],
    `the rule of host ${snapshotHost}`,
  );
  const c = await plugin(['check', 'pvc-repo']);
  t.equal(c.code, 0, c.stderr);
  t.match(c.stdout, /integrity ok/);
  const repo = await st.kube.get<KubeObject & { status?: { integrity?: boolean } }>(
    apiVersionOf('Repository'),
    'Repository',
    st.ns,
    'pvc-repo',
  );
  t.equal(repo.status?.integrity, true, 'status.integrity written');
  t.same(await repoPods(), [], 'no pod is left');
});

t.test('delete snapshot forgets it through a sync Job; no Job is left', async (t) => {
  await backupNow(st, 'app-backup-2', { kind: 'BackupConfiguration', name: 'app-backup' });
  const s = await finalPhase<Session>(st, 'BackupSession', 'app-backup-2');
  t.equal(s.status?.phase, 'Succeeded', 'a second backup');
  await until('two Snapshots', async () => ((await snapshotObjects()).length === 2 ? true : undefined), 180_000);
  const victim = `pvc-repo-${snapshotId.slice(0, 8)}`;
  const r = await plugin(['delete', 'snapshot', victim]);
  t.equal(r.code, 0, `exit 0: ${r.stderr}`);
  const left = JSON.parse(
    execFileSync(binary('restic'), ['-r', repoDir, '--no-cache', '--no-lock', 'snapshots', '--json'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, RESTIC_PASSWORD: await password() },
    }),
  ) as Array<{ id: string }>;
  t.equal(left.length, 1, 'one snapshot left in the repository');
  t.not(left[0]?.id, snapshotId, 'the deleted one is gone from the backend');
  await until('no sync Job left', async () => ((await syncJobs()).length === 0 ? true : undefined), 60_000);
  t.pass('the sync Jobs are deleted');
});
