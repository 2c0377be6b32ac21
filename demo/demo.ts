// `make demo`: the seed's story on a real local control plane. An application of two co-related parts
// (WordPress and its MySQL database, each with data on a volume) is backed up together by ONE BackupBatch
// — on its schedule and on demand — then damaged and restored together by ONE RestoreBatch, and checked
// byte for byte. Env: BACKEND=local|rest|s3, DB=mariadb (the database is a real MariaDB server backed up by
// a Job through an AppBinding instead of a Deployment's data files), KEEP=1 to leave the world running,
// DEMO_QUIET=1 for the e2e test, DEMO_POD_RUNNER=1 for the pod-runner world.
// World: the real-kubelet world (test/world/node: kubelet + containerd, the application containers really run
// the small app image, serving their volumes) where this machine can run it; else — and for DB=mariadb or
// BACKEND=rest|s3, whose servers listen on this machine's loopback, which the node's own network namespace
// cannot reach — the pod-runner world, a stand-in for a kubelet that runs no application containers.
import { execFileSync } from 'node:child_process';
import { chown, cp, mkdtemp, rm, symlink, truncate, unlink, writeFile, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Kube, type KubeObject } from '../shared/kube/client.ts';
import { GROUP, LABEL } from '../shared/api/constants.ts';
import { REPO_ROOT } from '../test/world/bins.ts';
import { DEV_WORLD_DIR, worldDown, worldUp } from '../test/world/world.ts';
import { pvcDir } from '../test/world/pod-runner/volumes.ts';
import { installProduct } from '../test/world/node/install.ts';
import { nodeWorldUnsupported, startNodeWorld, stopNodeWorld } from '../test/world/node/world.ts';
import { APP_IMAGE } from '../test/world/images/build.ts';
import { diffTrees } from '../test/backends/tree.ts';
import { startRestServer, type RestServer } from '../test/backends/rest-server.ts';
import { startS3Server, type S3Server } from '../test/backends/s3-server.ts';
import { startMariaDb, type MariaDb } from '../test/backends/mariadb.ts';
import { until } from '../test/support/until.ts';

const NS = 'demo';
const BACKEND = (process.env.BACKEND ?? 'local') as 'local' | 'rest' | 's3';
const KEEP = process.env.KEEP === '1';
const DB = process.env.DB ?? '';
if (DB !== '' && DB !== 'mariadb') throw new Error(`DB=${DB}: only DB=mariadb (or unset) is known`);
const QUIET = process.env.DEMO_QUIET === '1';
const WORLD = process.env.DEMO_WORLD_DIR ?? DEV_WORLD_DIR;
const MANIFESTS = join(REPO_ROOT, 'demo', 'manifests');
const t0 = Date.now();
/** Why this run cannot use the real-kubelet world (undefined: it can). */
const NO_REAL_PODS =
  process.env.DEMO_POD_RUNNER === '1'
    ? 'asked for with DEMO_POD_RUNNER=1'
    : DB
      ? "DB=mariadb: the MariaDB server listens on this machine's loopback, which the node's network namespace (no uplink) cannot reach"
      : BACKEND !== 'local'
        ? `BACKEND=${BACKEND}: the ${BACKEND} server listens on this machine's loopback, which the node's network namespace (no uplink) cannot reach`
        : nodeWorldUnsupported();
const REAL = NO_REAL_PODS === undefined;
/** The agent image's user: the sidecar reads the application's files as this uid. */
const AGENT_UID = 65532;
/** Real pods: the application containers run the app image and serve their volume over HTTP. */
const APP_COMMAND = 'ls -R "$DATA" > /tmp/at-start; httpd -f -p 8080 -h "$DATA"';

const say = (m: string) => {
  if (!QUIET) console.log(m);
};
const step = (m: string) => console.log(`\n\u25b6 ${m}  (${((Date.now() - t0) / 1000).toFixed(0)}s)`);

interface Session extends KubeObject {
  status?: {
    phase?: string;
    sessionDuration?: string;
    targets?: Array<{
      ref: { kind: string; name: string };
      phase?: string;
      totalHosts?: number;
      stats?: Array<{
        hostname: string;
        phase: string;
        duration?: string;
        error?: string;
        snapshots?: Array<{ totalSize?: string; uploaded?: string; fileStats?: { totalFiles?: number } }>;
      }>;
    }>;
    members?: Array<{
      ref: { kind: string; name: string };
      phase?: string;
      stats?: Array<{ hostname: string; phase: string; duration?: string; error?: string }>;
    }>;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
  };
}

function load(file: string): KubeObject[] {
  // DB=mariadb has its own batch manifests (and the database's AppBinding) in demo/manifests/mariadb/.
  const dir =
    DB && ['00-database.yaml', '20-backupbatch.yaml', '30-restorebatch.yaml'].includes(file)
      ? join(MANIFESTS, DB)
      : MANIFESTS;
  const objs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'))
    .map((d) => d.toJSON() as KubeObject)
    .filter((o) => o?.kind);
  return REAL ? objs.filter((o) => o.kind !== 'PersistentVolumeClaim').map(onRealPods) : objs;
}

/**
 * Real pods: the world has no volume provisioner, so each claim becomes the node's directory the pod runner would
 * use for it (seeded and checked from this machine), and the application runs the locally built app image.
 */
function onRealPods(o: KubeObject): KubeObject {
  if (o.kind !== 'Deployment') return o;
  const d = structuredClone(o) as KubeObject & {
    spec: {
      template: {
        spec: {
          terminationGracePeriodSeconds?: number;
          containers: Array<Record<string, unknown> & { volumeMounts?: Array<{ mountPath: string }> }>;
          volumes: Array<{ name: string; persistentVolumeClaim?: { claimName: string }; hostPath?: object }>;
        };
      };
    };
  };
  const pod = d.spec.template.spec;
  pod.terminationGracePeriodSeconds = 2;
  for (const c of pod.containers) {
    Object.assign(c, {
      image: APP_IMAGE,
      imagePullPolicy: 'IfNotPresent',
      command: ['sh', '-c', APP_COMMAND],
      env: [{ name: 'DATA', value: c.volumeMounts?.[0]?.mountPath ?? '/' }],
    });
  }
  pod.volumes = pod.volumes.map((v) =>
    v.persistentVolumeClaim
      ? { name: v.name, hostPath: { path: pvcDir(WORLD, NS, v.persistentVolumeClaim.claimName), type: 'Directory' } }
      : v,
  );
  return d;
}

async function chownTree(dir: string, uid: number): Promise<void> {
  const { readdir, lchown } = await import('node:fs/promises');
  await chown(dir, uid, uid);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await chownTree(p, uid);
    else await lchown(p, uid, uid);
  }
}

/** Generated application data: WordPress files and MySQL data files, with odd modes, links and empty dirs. */
async function seedData(): Promise<{ wordpress: string; mysql: string }> {
  const wordpress = pvcDir(WORLD, NS, 'wordpress-data');
  // With DB=mariadb the mysql claim stays empty: the database lives in the MariaDB server.
  const mysql = pvcDir(WORLD, NS, 'mysql-data');
  for (const d of [wordpress, mysql]) await rm(d, { recursive: true, force: true });
  const files: Array<[string, string, Buffer, number]> = [
    [
      wordpress,
      'index.php',
      Buffer.from('<?php\ndefine("WP_USE_THEMES", true);\nrequire __DIR__ . "/wp-blog-header.php";\n'),
      0o644,
    ],
    [
      wordpress,
      'wp-config.php',
      Buffer.from('<?php\ndefine("DB_NAME", "wordpress");\ndefine("DB_HOST", "mysql");\n'),
      0o640,
    ],
    [wordpress, 'wp-content/themes/twentyfour/style.css', Buffer.from('body { color: #222; }\n'), 0o644],
    [wordpress, 'wp-content/uploads/2026/11/holiday.jpg', randomBytes(3 * 1024 * 1024), 0o644],
    [wordpress, 'wp-content/uploads/2026/11/logo.png', randomBytes(400 * 1024), 0o644],
    [mysql, 'ibdata1', randomBytes(6 * 1024 * 1024), 0o640],
    [mysql, 'wordpress/wp_posts.ibd', randomBytes(2 * 1024 * 1024), 0o640],
    [mysql, 'wordpress/wp_options.ibd', randomBytes(512 * 1024), 0o640],
    [mysql, 'binlog.000001', randomBytes(256 * 1024), 0o640],
  ];
  for (const [root, rel, content, mode] of files) {
    if (DB && root === mysql) continue;
    const p = join(root, rel);
    await mkdir(join(p, '..'), { recursive: true });
    await writeFile(p, content, { mode });
  }
  await mkdir(join(wordpress, 'wp-content', 'upgrade'), { recursive: true });
  await symlink('wp-content/uploads', join(wordpress, 'uploads'));
  await mkdir(join(mysql, 'tmp'), { recursive: true });
  // Real pods: the sidecar runs as the agent image's non-root user; the application's files are that user's.
  if (REAL) for (const d of [wordpress, mysql]) await chownTree(d, AGENT_UID);
  return { wordpress, mysql };
}

/** DB=mariadb: WordPress's tables with some thousands of rows, non-ASCII text and binary data. */
async function seedDatabase(db: MariaDb): Promise<void> {
  const posts = Array.from(
    { length: 2000 },
    (_, i) =>
      `(${i + 1}, 'Post ${i + 1} — café ✓', '${'lorem ipsum '.repeat(20)}', UNHEX('${randomBytes(16).toString('hex')}'))`,
  );
  await db.sql(`CREATE DATABASE wordpress;
    CREATE TABLE wordpress.wp_posts (ID BIGINT PRIMARY KEY, post_title TEXT, post_content LONGTEXT, guid_hash VARBINARY(16)) ENGINE=InnoDB;
    INSERT INTO wordpress.wp_posts VALUES ${posts.join(',')};
    CREATE TABLE wordpress.wp_options (option_id BIGINT PRIMARY KEY, option_name VARCHAR(191), option_value LONGTEXT) ENGINE=InnoDB;
    INSERT INTO wordpress.wp_options VALUES (1,'siteurl','http://demo.local'),(2,'blogname','stash-ts demo'),(3,'template','twentyfour');`);
}

async function databaseRows(db: MariaDb): Promise<string> {
  return `${await db.rows('wordpress', 'wp_posts')}\n${await db.rows('wordpress', 'wp_options')}`;
}

async function backendFor(): Promise<{ backend: object; secret: Record<string, string>; stop: () => Promise<void> }> {
  const password = `demo-${randomBytes(6).toString('hex')}`;
  if (BACKEND === 'rest') {
    const s: RestServer = await startRestServer({ repoPath: 'wordpress', password });
    return { backend: s.backend, secret: { ...s.secret, RESTIC_PASSWORD: password }, stop: () => s.stop() };
  }
  if (BACKEND === 's3') {
    const s: S3Server = await startS3Server({ bucket: 'stash-demo', prefix: 'wordpress', password });
    return { backend: s.backend, secret: { ...s.secret, RESTIC_PASSWORD: password }, stop: () => s.stop() };
  }
  const dir = join(WORLD, 'demo-repository');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  if (REAL) await chown(dir, AGENT_UID, AGENT_UID);
  return {
    backend: { local: { hostPath: { path: dir }, mountPath: '/safe/repository' } },
    secret: { RESTIC_PASSWORD: password },
    stop: async () => undefined,
  };
}

function table(s: Session, kind: 'backup' | 'restore'): string {
  const rows = (kind === 'backup' ? s.status?.targets : s.status?.members) ?? [];
  const lines = [
    `  ${s.metadata?.name}: ${s.status?.phase ?? 'Pending'}${s.status?.sessionDuration ? ` in ${s.status.sessionDuration}` : ''}`,
  ];
  for (const r of rows) {
    const st = r.stats ?? [];
    const snaps = st.flatMap((h) =>
      'snapshots' in h
        ? ((h as { snapshots?: Array<{ totalSize?: string; fileStats?: { totalFiles?: number } }> }).snapshots ?? [])
        : [],
    );
    const files = snaps.reduce((n, x) => n + (x.fileStats?.totalFiles ?? 0), 0);
    const size = snaps
      .map((x) => x.totalSize)
      .filter(Boolean)
      .join('+');
    const err = st.find((h) => h.error)?.error;
    lines.push(
      `    ${r.ref.kind.padEnd(11)} ${r.ref.name.padEnd(10)} ${(r.phase ?? 'Pending').padEnd(9)} ${kind === 'backup' ? `files=${files} bytes=${size || '-'} ` : ''}duration=${
        st
          .map((h) => h.duration)
          .filter(Boolean)
          .join(',') || '-'
      }${err ? `  error: ${err}` : ''}`,
    );
  }
  return lines.join('\n');
}

async function watchSession(
  kube: Kube,
  plural: 'backupsessions' | 'restorebatches',
  name: string,
  kind: 'backup' | 'restore',
  ms: number,
): Promise<Session> {
  let last = '';
  const path = `/apis/${GROUP}/v1beta1/namespaces/${NS}/${plural}/${name}`;
  return await until(
    `${name} to finish`,
    async () => {
      const s = await kube.request<Session>({ path });
      const view = table(s, kind);
      if (view !== last) {
        say(view);
        last = view;
      }
      return s.status?.phase === 'Succeeded' || s.status?.phase === 'Failed' ? s : undefined;
    },
    ms,
  );
}

async function main(): Promise<boolean> {
  let state: { kubeconfig: string; kubectl: string };
  if (REAL) {
    step(
      'Starting the REAL-KUBELET world (etcd + kube-apiserver + KCM + scheduler, a real kubelet + containerd in a network namespace of its own; the stash-ts operator installed by kubectl apply from manifests/)',
    );
    await worldDown(WORLD);
    const s = await startNodeWorld(WORLD, { log: say, images: ['operator', 'agent', 'app'] });
    await installProduct(s, say);
    state = s;
  } else {
    step(
      `Starting the POD-RUNNER world (real etcd + kube-apiserver + kube-controller-manager, the stash-ts operator, and the dev/test pod runner that stands in for a kubelet: application containers do NOT run) — real pods not used: ${NO_REAL_PODS}`,
    );
    await stopNodeWorld(WORLD);
    state = await worldUp(WORLD, { log: say });
  }
  const kubectl = (...args: string[]) =>
    execFileSync(state.kubectl, ['--kubeconfig', state.kubeconfig, ...args], { encoding: 'utf8' });
  const kube = Kube.load(state.kubeconfig, 'stash-ts-demo');
  const backend = await backendFor();
  let db: MariaDb | undefined;
  let ok: boolean;
  try {
    if (await kube.getOrNull('v1', 'Namespace', undefined, NS)) {
      say('  removing the previous demo namespace');
      await kube.delete('v1', 'Namespace', undefined, NS);
      await until('old namespace gone', async () => !(await kube.getOrNull('v1', 'Namespace', undefined, NS)), 120_000);
    }
    await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });

    step(
      DB
        ? 'The application: WordPress with its files on a volume, and a real MariaDB server as its database'
        : 'The application: WordPress and MySQL, each with its data on a volume',
    );
    const data = await seedData();
    // DB=mariadb: the database is the MariaDB server, not a Deployment with data files.
    for (const o of load('00-app.yaml'))
      if (!DB || !['mysql', 'mysql-data'].includes(o.metadata?.name ?? '')) await kube.create(o);
    let pristineRows = '';
    if (DB) {
      db = await startMariaDb();
      await seedDatabase(db);
      pristineRows = await databaseRows(db);
      const [secret, binding] = load('00-database.yaml');
      await kube.create({ ...secret!, stringData: { username: db.user, password: db.password } });
      await kube.create({
        ...binding!,
        spec: { ...(binding!.spec as object), clientConfig: { url: `mysql://127.0.0.1:${db.port}/` } },
      });
      say(
        `  wordpress-data -> ${data.wordpress}\n  MariaDB        -> 127.0.0.1:${db.port} (database wordpress, ${pristineRows.split('\n').length} rows), AppBinding demo/mysql`,
      );
    } else {
      say(`  wordpress-data -> ${data.wordpress}\n  mysql-data     -> ${data.mysql}`);
    }
    const pristine = await mkdtemp(join(tmpdir(), 'stash-demo-pristine-'));
    await cp(data.wordpress, join(pristine, 'wordpress'), { recursive: true, verbatimSymlinks: true });
    await cp(data.mysql, join(pristine, 'mysql'), { recursive: true, verbatimSymlinks: true });

    step(`A Repository on the ${BACKEND} backend, and ONE BackupBatch over both components (Sequential, every minute)`);
    const [secret, repo] = load('10-repository.yaml');
    await kube.create({ ...secret!, stringData: backend.secret });
    await kube.create({ ...repo!, spec: { backend: { ...backend.backend, storageSecretName: 'demo-backend' } } });
    for (const o of load('20-backupbatch.yaml')) await kube.create(o);
    await until(
      'sidecars injected and pods running',
      async () => {
        const pods = await kube.list<
          KubeObject & { spec?: { containers?: Array<{ name: string }> }; status?: { phase?: string } }
        >('v1', 'Pod', NS);
        const ready = pods.items.filter(
          (p) =>
            p.status?.phase === 'Running' &&
            p.spec?.containers?.some((c) => c.name === 'stash') &&
            !p.metadata?.deletionTimestamp,
        );
        return ready.length >= (DB ? 1 : 2);
      },
      120_000,
    );
    say(
      DB
        ? '  WordPress now runs the `stash` backup sidecar (injected by the admission webhook); the database is backed up by a Job'
        : '  both Deployments now run the `stash` backup sidecar (injected by the admission webhook)',
    );

    step('Waiting for the schedule: the CronJob creates a BackupSession at the next minute');
    const scheduled = await until(
      'a scheduled BackupSession',
      async () => {
        const l = await kube.list<Session>(`${GROUP}/v1beta1`, 'BackupSession', NS, {
          labelSelector: `${LABEL.invokerName}=wordpress-backup`,
        });
        return l.items[0];
      },
      150_000,
    );
    const first = await watchSession(kube, 'backupsessions', scheduled.metadata!.name!, 'backup', 180_000);

    step('An instant backup: a BackupSession created on demand');
    const instantName = `wordpress-backup-instant-${Math.floor(Date.now() / 1000)}`;
    await kube.create({
      apiVersion: `${GROUP}/v1beta1`,
      kind: 'BackupSession',
      metadata: {
        name: instantName,
        namespace: NS,
        labels: { [LABEL.invokerType]: 'BackupBatch', [LABEL.invokerName]: 'wordpress-backup' },
      },
      spec: { invoker: { apiGroup: GROUP, kind: 'BackupBatch', name: 'wordpress-backup' } },
    });
    const instant = await watchSession(kube, 'backupsessions', instantName, 'backup', 180_000);
    if (first.status?.phase !== 'Succeeded' || instant.status?.phase !== 'Succeeded')
      throw new Error('a backup session failed');
    await kube.patch(`${GROUP}/v1beta1`, 'BackupBatch', NS, 'wordpress-backup', { spec: { paused: true } });
    say('  backups paused (spec.paused: true) so the restore works on a quiet application');

    step(
      DB
        ? 'Disaster: files deleted, an upload overwritten, a table dropped and rows deleted'
        : 'Disaster: files deleted, an upload overwritten, the database file truncated',
    );
    await unlink(join(data.wordpress, 'wp-config.php'));
    await writeFile(join(data.wordpress, 'wp-content/uploads/2026/11/logo.png'), 'corrupted');
    if (db) {
      await db.sql('DROP TABLE wordpress.wp_posts; DELETE FROM wordpress.wp_options WHERE option_id > 1;');
    } else {
      await truncate(join(data.mysql, 'ibdata1'), 1024);
      await rm(join(data.mysql, 'wordpress'), { recursive: true });
    }
    say(
      `  differences now: ${(await diffTrees(join(pristine, 'wordpress'), data.wordpress)).length + (await diffTrees(join(pristine, 'mysql'), data.mysql)).length} file(s)${db ? ', the wp_posts table gone' : ''}`,
    );

    step('ONE RestoreBatch puts both components back (Sequential: the database first)');
    for (const o of load('30-restorebatch.yaml')) await kube.create(o);
    const restore = await watchSession(kube, 'restorebatches', 'wordpress-restore', 'restore', 240_000);
    if (restore.status?.phase !== 'Succeeded') throw new Error('the restore failed');

    step('Verifying the restored volumes byte for byte (content, modes, symlinks, empty directories)');
    const diffs = [
      ...(await diffTrees(join(pristine, 'wordpress'), data.wordpress)),
      ...(await diffTrees(join(pristine, 'mysql'), data.mysql)),
    ];
    for (const d of diffs.slice(0, 20)) console.log(`  differs: ${d}`);
    ok = diffs.length === 0;
    if (db) {
      const rowsOk = (await databaseRows(db).catch((err: unknown) => `unreadable: ${String(err)}`)) === pristineRows;
      say(`  database rows ${rowsOk ? 'identical' : 'DIFFER'} (wp_posts and wp_options, compared row by row)`);
      ok &&= rowsOk;
    }
    if (REAL) {
      // The restored pods are new (stash-init ran before the application): the app serves the restored files.
      const pod = await until(
        'the restored wordpress pod serving',
        async () => {
          const pods = await kube.list<
            KubeObject & {
              spec?: { initContainers?: Array<{ name: string }> };
              status?: { phase?: string; containerStatuses?: Array<{ ready?: boolean }> };
            }
          >('v1', 'Pod', NS, { labelSelector: 'tier=frontend' });
          return pods.items.find(
            (p) =>
              !p.metadata?.deletionTimestamp &&
              p.spec?.initContainers?.some((c) => c.name === 'stash-init') &&
              p.status?.phase === 'Running' &&
              p.status.containerStatuses?.every((c) => c.ready),
          );
        },
        180_000,
      );
      const served = kubectl(
        '-n',
        NS,
        'exec',
        pod.metadata!.name!,
        '-c',
        'wordpress',
        '--',
        'wget',
        '-qO-',
        'http://127.0.0.1:8080/wp-config.php',
      );
      const serving = served.includes('DB_HOST');
      say(
        `  the restored WordPress pod (${pod.metadata!.name}, stash-init ran first) ${serving ? 'serves the restored wp-config.php' : 'does NOT serve the restored wp-config.php'}`,
      );
      ok &&= serving;
    }
    await rm(pristine, { recursive: true, force: true });
  } finally {
    kube.close();
    if (!KEEP) {
      await db?.stop();
      await backend.stop();
      if (REAL) await stopNodeWorld(WORLD);
      await worldDown(WORLD);
    }
  }
  return ok;
}

const ok = await main().catch((err: unknown) => {
  console.error(`\n${err instanceof Error ? err.message : String(err)}`);
  return false;
});
console.log(
  `\n${ok ? 'PASS' : 'FAIL'}: batch backup and restore of WordPress + ${DB ? 'MariaDB' : 'MySQL'} on the ${BACKEND} backend, ${REAL ? 'on real pods (kubelet + containerd)' : 'on the POD-RUNNER world (no application containers)'} (${((Date.now() - t0) / 1000).toFixed(0)}s)`,
);
if (KEEP)
  console.log(
    `The world is still running. kubectl: ${join(WORLD, 'bin', 'kubectl')} --kubeconfig ${join(WORLD, 'kubeconfig')}; stop it with: make dev-down`,
  );
process.exit(ok ? 0 : 1);
