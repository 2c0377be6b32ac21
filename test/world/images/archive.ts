// Container images without a registry or an image builder: layers are plain tarballs made with GNU tar
// (sorted, fixed mtime, numeric owners, so the same input gives the same bytes and the same digest), and an
// image is a `docker save`-style archive that `ctr images import` reads. Everything is kept in a cache outside
// the repository keyed by content: an unchanged layer is never re-hashed into a new archive, an unchanged
// archive is never imported twice.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  linkSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from '../../backends/bins.ts';

export function imagesCache(): string {
  return join(cacheRoot(), 'images');
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

export interface Layer {
  /** The uncompressed layer tarball. */
  file: string;
  /** sha256 of `file` (the image config's diff_id). */
  digest: string;
}

export interface TarOptions {
  /** Paths relative to `dir` to put into the layer (default: everything). */
  paths?: string[];
  /** Every entry owned by 0:0, as Dockerfile COPY does; otherwise the owners on disk are kept. */
  rootOwned?: boolean;
  /** Patterns GNU tar excludes. */
  exclude?: string[];
  /** `paths` are single entries: directories named are not descended into. */
  noRecursion?: boolean;
}

/** A layer tarball of `dir` (reproducible), stored in the cache under its digest. */
export async function layerFromDir(dir: string, opts: TarOptions = {}): Promise<Layer> {
  const layers = join(imagesCache(), 'layers');
  mkdirSync(layers, { recursive: true });
  const tmp = join(layers, `.tmp-${process.pid}-${Date.now()}.tar`);
  const args = ['--sort=name', '--mtime=@1', '--numeric-owner', '--format=gnu', '-C', dir, '-cf', tmp];
  if (opts.rootOwned) args.push('--owner=0', '--group=0');
  for (const e of opts.exclude ?? []) args.push(`--exclude=${e}`);
  if (opts.noRecursion) args.push('--no-recursion');
  args.push(...(opts.paths ?? ['.']));
  execFileSync('tar', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const digest = await sha256File(tmp);
  const file = join(layers, `${digest}.tar`);
  if (existsSync(file)) rmSync(tmp);
  else renameSync(tmp, file);
  return { file, digest };
}

export interface ImageConfig {
  user?: string;
  workingDir?: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  exposedPorts?: string[];
}

export interface ImageArchive {
  ref: string;
  file: string;
  /** sha256 of the image config, which names the layers by digest: the identity of the image's content. */
  id: string;
  bytes: number;
}

/** Writes (or finds in the cache) the docker-archive of `ref` made of `layers` and `cfg`. */
export function writeArchive(ref: string, layers: Layer[], cfg: ImageConfig): ImageArchive {
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '1970-01-01T00:00:01Z',
    config: {
      User: cfg.user ?? '',
      WorkingDir: cfg.workingDir ?? '',
      Entrypoint: cfg.entrypoint ?? null,
      Cmd: cfg.cmd ?? null,
      Env: cfg.env ?? [],
      ExposedPorts: Object.fromEntries((cfg.exposedPorts ?? []).map((p) => [p.includes('/') ? p : `${p}/tcp`, {}])),
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${l.digest}`) },
    history: layers.map(() => ({ created: '1970-01-01T00:00:01Z', created_by: 'stash-ts test/world/images' })),
  };
  const configJson = JSON.stringify(config);
  const id = sha256(`${ref}\n${configJson}`);
  const archives = join(imagesCache(), 'archives');
  const file = join(archives, `${id}.tar`);
  if (!existsSync(file)) {
    const stage = join(archives, `.stage-${id}`);
    rmSync(stage, { recursive: true, force: true });
    mkdirSync(stage, { recursive: true });
    const configName = `${sha256(configJson)}.json`;
    writeFileSync(join(stage, configName), configJson);
    const layerNames = layers.map((l) => {
      mkdirSync(join(stage, l.digest), { recursive: true });
      linkSync(l.file, join(stage, l.digest, 'layer.tar'));
      return `${l.digest}/layer.tar`;
    });
    writeFileSync(
      join(stage, 'manifest.json'),
      JSON.stringify([{ Config: configName, RepoTags: [ref], Layers: layerNames }]),
    );
    const tmp = `${file}.tmp`;
    execFileSync('tar', ['--sort=name', '--mtime=@1', '--owner=0', '--group=0', '-C', stage, '-cf', tmp, '.'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    renameSync(tmp, file);
    rmSync(stage, { recursive: true, force: true });
  }
  return { ref, file, id, bytes: statSync(file).size };
}
