// The images of the real-kubelet world, built here without a registry or a container engine:
// - operator and agent from Dockerfile.webhook / Dockerfile.agent (read by images/dockerfile.ts): the
//   `node:24-bookworm-slim` base is Debian bookworm minbase made by mmdebstrap from the machine's own apt
//   sources plus the npm package's Node 24 binary; the `deps` stage is `npm ci --omit=dev`; the `restic` stage is
//   restic from its Go module, the `etcd-tools` stage etcdctl/etcdutl of the pinned etcd and the `template`
//   stage the hook template engine (all three hack/build-bins.sh);
//   build-time RUN steps run in a chroot of the image;
// - pause (the pod sandbox), app (busybox: writes and serves files), mariadb and redis (Debian's servers),
//   ferretdb (the MongoDB-protocol server of the tests: its static binary from hack/build-bins.sh, nothing else).
// Every expensive part is cached by the content of its inputs under ~/.cache/stash-ts/images.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { ferretdbBin, pinnedVersions, resticBin, templateWasm } from '../../backends/bins.ts';
import { REPO_ROOT, binary } from '../bins.ts';
import { AGENT_IMAGE, OPERATOR_IMAGE } from '../entrypoints.ts';
import {
  imagesCache,
  layerFromDir,
  sha256,
  writeArchive,
  type ImageArchive,
  type ImageConfig,
  type Layer,
} from './archive.ts';
import { parseDockerfile, type ImagePlan } from './dockerfile.ts';

export const PAUSE_IMAGE = 'stash-ts/pause:3.10';
export const APP_IMAGE = 'stash-ts/app:0.1.0';
export const MARIADB_IMAGE = 'stash-ts/mariadb:0.1.0';
export const REDIS_IMAGE = 'stash-ts/redis:0.1.0';
export const FERRETDB_IMAGE = 'stash-ts/ferretdb:0.1.0';
export const DEBIAN_SUITE = 'bookworm';
/** Environment of the node:24 images that the Dockerfiles build on. */
const NODE_BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

type Log = (m: string) => void;

/** A layer memoised under a key of its inputs, so unchanged inputs are neither rebuilt nor re-hashed. */
async function cachedLayer(key: string, build: () => Promise<Layer>): Promise<Layer> {
  const memo = join(imagesCache(), 'keys', key);
  if (existsSync(memo)) {
    const digest = readFileSync(memo, 'utf8').trim();
    const file = join(imagesCache(), 'layers', `${digest}.tar`);
    if (existsSync(file)) return { file, digest };
  }
  const layer = await build();
  mkdirSync(join(imagesCache(), 'keys'), { recursive: true });
  writeFileSync(memo, layer.digest);
  return layer;
}

/** A fresh scratch directory under the cache (same filesystem as the layers: hard links work). */
function scratch(name: string): string {
  const d = join(imagesCache(), 'work', `${name}-${process.pid}`);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  return d;
}

/** The machine's enabled apt sources (deb822 or one-line files), as mmdebstrap takes them. */
export function aptSources(): string[] {
  const files: string[] = [];
  if (
    existsSync('/etc/apt/sources.list') &&
    readFileSync('/etc/apt/sources.list', 'utf8')
      .split('\n')
      .some((l) => /^deb\s/.test(l.trim()))
  )
    files.push('/etc/apt/sources.list');
  const d = '/etc/apt/sources.list.d';
  if (existsSync(d)) for (const f of readdirSync(d).sort()) if (/\.(list|sources)$/.test(f)) files.push(join(d, f));
  if (!files.length)
    throw new Error("no apt sources in /etc/apt/sources.list(.d): mmdebstrap needs the machine's Debian mirror");
  return files;
}

/** Debian `suite` minbase with `packages`, as a directory in the cache (kept: later RUN steps chroot into it). */
function debianRootfs(packages: string[], log: Log): { dir: string; key: string } {
  const sources = aptSources();
  const pkgs = [...new Set(packages)].sort();
  const key = sha256(
    JSON.stringify({
      suite: DEBIAN_SUITE,
      variant: 'minbase',
      pkgs,
      sources: sources.map((f) => readFileSync(f, 'utf8')),
    }),
  ).slice(0, 24);
  const dir = join(imagesCache(), 'rootfs', key);
  if (existsSync(join(dir, 'etc', 'os-release'))) return { dir, key };
  const t0 = Date.now();
  log(`mmdebstrap ${DEBIAN_SUITE} minbase${pkgs.length ? ` + ${pkgs.join(' ')}` : ''} (once per package set)`);
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(imagesCache(), 'rootfs'), { recursive: true });
  execFileSync(
    'mmdebstrap',
    [
      '--quiet',
      '--mode=root',
      '--variant=minbase',
      ...(pkgs.length ? [`--include=${pkgs.join(',')}`] : []),
      '--aptopt=Acquire::Languages "none"',
      '--dpkgopt=path-exclude=/usr/share/doc/*',
      '--dpkgopt=path-exclude=/usr/share/man/*',
      DEBIAN_SUITE,
      tmp,
      ...sources,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  renameSync(tmp, dir);
  log(`rootfs ${key} in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
  return { dir, key };
}

async function rootfsLayer(rootfs: { dir: string; key: string }): Promise<Layer> {
  // Device nodes come from the runtime, not the image.
  return await cachedLayer(`rootfs-${rootfs.key}`, () =>
    layerFromDir(rootfs.dir, { exclude: ['./dev/*', './proc/*', './sys/*', './run/*', './tmp/*'] }),
  );
}

/** The Node 24 binary of the npm `node` package, where node:24 images have it. */
async function nodeLayer(): Promise<{ layer: Layer; version: string }> {
  const bin = join(REPO_ROOT, 'node_modules', 'node', 'bin', 'node');
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  const layer = await cachedLayer(`node-${version}-${lstatSync(bin).size}`, async () => {
    const d = scratch('node');
    mkdirSync(join(d, 'usr', 'local', 'bin'), { recursive: true });
    copyFileSync(bin, join(d, 'usr', 'local', 'bin', 'node'));
    execFileSync('chmod', ['0755', join(d, 'usr', 'local', 'bin', 'node')]);
    const l = await layerFromDir(d, { rootOwned: true });
    rmSync(d, { recursive: true, force: true });
    return l;
  });
  return { layer, version };
}

/** Production node_modules (`npm ci --omit=dev`, the Dockerfiles' deps stage), cached by the lockfile. */
function prodNodeModules(log: Log): string {
  const lock = readFileSync(join(REPO_ROOT, 'package-lock.json'));
  const key = sha256(Buffer.concat([readFileSync(join(REPO_ROOT, 'package.json')), lock])).slice(0, 24);
  const dir = join(imagesCache(), 'node-modules', key);
  if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules');
  log('npm ci --omit=dev (once per lockfile)');
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  copyFileSync(join(REPO_ROOT, 'package.json'), join(tmp, 'package.json'));
  copyFileSync(join(REPO_ROOT, 'package-lock.json'), join(tmp, 'package-lock.json'));
  execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: tmp,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PATH: `${join(REPO_ROOT, 'node_modules', '.bin')}:${process.env.PATH}` },
  });
  renameSync(tmp, dir);
  return join(dir, 'node_modules');
}

/** Names, sizes, modes and mtimes of every entry under `path`: changes whenever a COPY source's content may have. */
function treeFingerprint(path: string): string {
  const h = createHash('sha256');
  const walk = (p: string, rel: string) => {
    const st = lstatSync(p);
    h.update(`${rel}\0${st.mode}\0${st.size}\0${st.mtimeMs}\n`);
    if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(join(p, e), `${rel}/${e}`);
  };
  walk(path, '.');
  return h.digest('hex');
}

/** The file a build stage's output path stands for here. */
function stageOutput(plan: ImagePlan, stage: string, src: string, log: Log): string {
  const s = plan.stages.find((x) => x.name === stage);
  if (!s) throw new Error(`COPY --from=${stage}: no such stage`);
  if (stage === 'deps' && src === '/app/node_modules') {
    if (!s.runs.some((r) => /^npm ci --omit=dev\b/.test(r)))
      throw new Error('the deps stage no longer runs `npm ci --omit=dev`: update test/world/images');
    return prodNodeModules(log);
  }
  if (stage === 'restic' && src === '/out/restic') {
    const want = pinnedVersions().RESTIC_VERSION;
    if (s.args.RESTIC_VERSION !== want)
      throw new Error(`Dockerfile restic stage builds ${s.args.RESTIC_VERSION}, hack/versions.env pins ${want}`);
    const bin = resticBin();
    if (!bin?.includes(`restic-${want}`))
      throw new Error(`restic ${want} is not built yet; run: hack/build-bins.sh restic`);
    return bin;
  }
  if (stage === 'etcd-tools' && (src === '/out/etcdctl' || src === '/out/etcdutl')) {
    const want = pinnedVersions().ETCD_VERSION;
    if (s.args.ETCD_VERSION !== want)
      throw new Error(`Dockerfile etcd-tools stage builds ${s.args.ETCD_VERSION}, hack/versions.env pins ${want}`);
    // binary() names the cache directory of the pinned version and says how to build it when missing.
    return binary(src.slice('/out/'.length));
  }
  if (stage === 'template' && src === '/out/template.wasm') return templateWasm();
  throw new Error(`COPY --from=${stage} ${src}: not known to test/world/images`);
}

/** Runs a build-time RUN step in a chroot of the image so far; returns the layer of what it added. */
async function runStep(
  rootfsDir: string,
  layers: Layer[],
  command: string,
  env: Record<string, string>,
  workdir: string,
): Promise<Layer> {
  const key = sha256(
    JSON.stringify({ layers: layers.map((l) => l.digest), command, env, workdir, entries: 'with-dirs' }),
  ).slice(0, 24);
  return await cachedLayer(`run-${key}`, async () => {
    const root = scratch('run');
    const before = join(root, 'root');
    // The image so far: the Debian rootfs hard-linked (never written: the step only adds files), later layers unpacked.
    execFileSync('cp', ['-al', `${rootfsDir}/.`, before]);
    for (const l of layers.slice(1)) execFileSync('tar', ['-C', before, '-xf', l.file]);
    const marker = join(root, 'marker');
    writeFileSync(marker, '');
    execFileSync('sleep', ['1']);
    // `env -i` inside the chroot: the step sees only the image's environment. Our own env option is not enough,
    // because a parent may add to every child's environment (tap's process tracking adds NODE_OPTIONS with its
    // loaders, which do not exist inside the image).
    const stepEnv = Object.entries({ PATH: NODE_BASE_PATH, HOME: '/root', ...env }).map(([k, v]) => `${k}=${v}`);
    execFileSync('chroot', [before, '/usr/bin/env', '-i', ...stepEnv, '/bin/sh', '-c', `cd ${workdir} && ${command}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: NODE_BASE_PATH, HOME: '/root', ...env },
    });
    // What the step wrote: entries newer than the marker (directories as entries only: their other content is
    // in earlier layers already).
    const added = execFileSync('find', ['.', '-newer', marker], { cwd: before, encoding: 'utf8' })
      .split('\n')
      .filter((p) => p && p !== '.' && !/^\.\/(proc|dev|tmp|sys|run)(\/|$)/.test(p));
    const l = await layerFromDir(before, {
      paths: added.length ? added : ['./etc/os-release'],
      rootOwned: true,
      noRecursion: true,
    });
    rmSync(root, { recursive: true, force: true });
    return l;
  });
}

function assertBase(plan: ImagePlan, file: string): void {
  if (plan.base !== 'node:24-bookworm-slim')
    throw new Error(`${file}: final stage FROM ${plan.base}; test/world/images makes node:24-bookworm-slim only`);
}

/** Builds the image a Dockerfile describes (final stage), tagged `ref`. */
export async function buildFromDockerfile(
  file: string,
  ref: string,
  log: Log = () => undefined,
): Promise<ImageArchive> {
  const plan = parseDockerfile(readFileSync(join(REPO_ROOT, file), 'utf8'), file);
  assertBase(plan, file);
  const rootfs = debianRootfs(plan.packages, log);
  const layers: Layer[] = [await rootfsLayer(rootfs)];
  const node = await nodeLayer();
  layers.push(node.layer);
  // One layer for all COPY steps up to the first RUN, then one per RUN (the Dockerfile's own grouping would
  // only add layers; the content is the same).
  let pending: Array<{ src: string; dst: string }> = [];
  const flushCopies = async () => {
    if (!pending.length) return;
    const copies = pending;
    pending = [];
    const key = sha256(JSON.stringify(copies.map((c) => [c.dst, treeFingerprint(c.src)]))).slice(0, 24);
    layers.push(
      await cachedLayer(`copy-${key}`, async () => {
        const d = scratch('copy');
        for (const c of copies) {
          const dst = join(d, c.dst);
          mkdirSync(join(dst, '..'), { recursive: true });
          cpSync(c.src, dst, { recursive: true, dereference: false, verbatimSymlinks: true });
        }
        const l = await layerFromDir(d, { rootOwned: true });
        rmSync(d, { recursive: true, force: true });
        return l;
      }),
    );
  };
  for (const step of plan.steps) {
    if (step.kind === 'copy') {
      const { from, src, dst } = step.copy;
      pending.push({ src: from ? stageOutput(plan, from, src, log) : join(REPO_ROOT, src), dst });
    } else {
      await flushCopies();
      layers.push(await runStep(rootfs.dir, layers, step.command, step.env, plan.workdir));
    }
  }
  await flushCopies();
  return writeArchive(ref, layers, imageConfigFor(plan, node.version));
}

/** The image config a Dockerfile's final stage declares, on the node:24 base's environment. */
export function imageConfigFor(plan: ImagePlan, nodeVersion: string): ImageConfig {
  const env = { PATH: NODE_BASE_PATH, NODE_VERSION: nodeVersion.replace(/^v/, ''), ...plan.env };
  return {
    user: plan.user,
    workingDir: plan.workdir,
    entrypoint: plan.entrypoint,
    exposedPorts: plan.expose,
    env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
  };
}

async function buildPause(): Promise<ImageArchive> {
  const src = join(REPO_ROOT, 'test', 'world', 'images', 'pause.c');
  const layer = await cachedLayer(`pause-${sha256(readFileSync(src)).slice(0, 24)}`, async () => {
    const d = scratch('pause');
    execFileSync('gcc', ['-Os', '-static', '-o', join(d, 'pause'), src]);
    execFileSync('strip', [join(d, 'pause')]);
    const l = await layerFromDir(d, { rootOwned: true });
    rmSync(d, { recursive: true, force: true });
    return l;
  });
  return writeArchive(PAUSE_IMAGE, [layer], { entrypoint: ['/pause'], user: '65535:65535' });
}

/** busybox (static) with its applets: `sh`, `httpd`, `wget`, `sha256sum`… — an application that writes and serves files. */
async function buildApp(): Promise<ImageArchive> {
  const bb = '/bin/busybox';
  const layer = await cachedLayer(`app-${sha256(readFileSync(bb)).slice(0, 24)}`, async () => {
    const d = scratch('app');
    for (const sub of ['bin', 'etc', 'tmp', 'data', 'www']) mkdirSync(join(d, sub), { recursive: true });
    copyFileSync(bb, join(d, 'bin', 'busybox'));
    execFileSync('chmod', ['0755', join(d, 'bin', 'busybox')]);
    execFileSync('chmod', ['1777', join(d, 'tmp')]);
    for (const applet of execFileSync(bb, ['--list'], { encoding: 'utf8' })
      .split('\n')
      .filter((a) => a && a !== 'busybox')) {
      symlinkSync('busybox', join(d, 'bin', applet));
    }
    writeFileSync(join(d, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
    writeFileSync(join(d, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
    const l = await layerFromDir(d, { rootOwned: true });
    rmSync(d, { recursive: true, force: true });
    return l;
  });
  return writeArchive(APP_IMAGE, [layer], { cmd: ['sh'], env: ['PATH=/bin'] });
}

/** Debian's MariaDB server (the database story); the pod's command starts mariadbd with its own datadir. */
async function buildMariadb(log: Log): Promise<ImageArchive> {
  const rootfs = debianRootfs(['mariadb-server', 'mariadb-client'], log);
  return writeArchive(MARIADB_IMAGE, [await rootfsLayer(rootfs)], {
    cmd: ['mariadbd', '--user=mysql'],
    env: [`PATH=${NODE_BASE_PATH}`],
  });
}

/** Debian's Redis server (the member-kinds story); the pod's command starts redis-server with its own config. */
async function buildRedis(log: Log): Promise<ImageArchive> {
  const rootfs = debianRootfs(['redis-server', 'redis-tools'], log);
  return writeArchive(REDIS_IMAGE, [await rootfsLayer(rootfs)], {
    cmd: ['redis-server', '--protected-mode', 'no'],
    env: [`PATH=${NODE_BASE_PATH}`],
  });
}

/**
 * FerretDB on SQLite (the MongoDB member's story): the static binary alone, no shell. Its SQLite files go under
 * /data (the pod mounts a volume there) and /tmp is writable for anything else it creates; it runs as an
 * unprivileged user the passwd file names.
 */
async function buildFerretdb(): Promise<ImageArchive> {
  const bin = ferretdbBin();
  if (!bin) throw new Error('ferretdb is not built yet; run: hack/build-bins.sh ferretdb');
  // A dynamically linked binary would need a libc the image does not have: refuse it here rather than as a
  // container that exits with "no such file or directory".
  if (!/statically linked/.test(execFileSync('file', ['-b', bin], { encoding: 'utf8' })))
    throw new Error(`${bin} is not statically linked (built with CGO on?): the ferretdb image has no libc`);
  const layer = await cachedLayer(`ferretdb-${sha256(readFileSync(bin)).slice(0, 24)}`, async () => {
    const d = scratch('ferretdb');
    for (const sub of ['bin', 'etc', 'tmp', 'data']) mkdirSync(join(d, sub), { recursive: true });
    copyFileSync(bin, join(d, 'bin', 'ferretdb'));
    execFileSync('chmod', ['0755', join(d, 'bin', 'ferretdb')]);
    execFileSync('chmod', ['1777', join(d, 'tmp'), join(d, 'data')]);
    writeFileSync(
      join(d, 'etc', 'passwd'),
      'root:x:0:0:root:/:/bin/false\nferretdb:x:1000:1000:ferretdb:/data:/bin/false\n',
    );
    writeFileSync(join(d, 'etc', 'group'), 'root:x:0:\nferretdb:x:1000:\n');
    const l = await layerFromDir(d, { rootOwned: true });
    rmSync(d, { recursive: true, force: true });
    return l;
  });
  return writeArchive(FERRETDB_IMAGE, [layer], {
    entrypoint: ['/bin/ferretdb'],
    user: '1000:1000',
    workingDir: '/data',
    // No telemetry from a test server, whatever flags a pod passes (the world has no route out anyway).
    env: ['PATH=/bin', 'DO_NOT_TRACK=1'],
    exposedPorts: ['27017/tcp'],
  });
}

export type ImageName = 'pause' | 'app' | 'operator' | 'agent' | 'mariadb' | 'redis' | 'ferretdb';

const IMAGE_BUILDERS: Record<ImageName, (log: Log) => Promise<ImageArchive>> = {
  pause: buildPause,
  app: buildApp,
  operator: (log) => buildFromDockerfile('Dockerfile.webhook', OPERATOR_IMAGE, log),
  agent: (log) => buildFromDockerfile('Dockerfile.agent', AGENT_IMAGE, log),
  mariadb: buildMariadb,
  redis: buildRedis,
  ferretdb: buildFerretdb,
};

export async function buildImage(name: ImageName, log: Log = () => undefined): Promise<ImageArchive> {
  const t0 = Date.now();
  const a = await IMAGE_BUILDERS[name](log);
  log(`image ${a.ref}: ${(a.bytes / 1e6).toFixed(0)} MB in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  return a;
}
