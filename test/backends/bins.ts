// Locates the Go binaries hack/build-bins.sh builds into the cache outside the repository. Tests and
// the fixture recorder use this instead of guessing paths, so one cache layout change is one edit.
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

/** `${STASH_TS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stash-ts}`, exactly as hack/build-bins.sh computes it. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STASH_TS_CACHE) return env.STASH_TS_CACHE;
  const xdg = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(xdg, 'stash-ts');
}

/** The pinned versions from hack/versions.env (KEY=VALUE lines). */
export function pinnedVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  let text: string;
  try {
    text = readFileSync(join(REPO_ROOT, 'hack', 'versions.env'), 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2].replace(/^["']|["']$/g, '');
  }
  return out;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** First executable named `name` on PATH, or undefined. */
export function onPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * `<cache>/bins/<dir>-<version>/<bin>` for the pinned version, else the newest cached version of that
 * directory, else `bin` on PATH (when `pathFallback`), else undefined.
 */
export function findCachedBin(dir: string, bin: string, versionKey: string, pathFallback = true): string | undefined {
  const bins = join(cacheRoot(), 'bins');
  const pinned = pinnedVersions()[versionKey];
  if (pinned) {
    const p = join(bins, `${dir}-${pinned}`, bin);
    if (isExecutable(p)) return p;
  }
  let entries: string[];
  try {
    entries = readdirSync(bins)
      .filter((e) => e.startsWith(`${dir}-`) && !e.endsWith('.tmp'))
      .sort()
      .reverse();
  } catch {
    entries = [];
  }
  for (const e of entries) {
    const p = join(bins, e, bin);
    if (isExecutable(p)) return p;
  }
  return pathFallback ? onPath(bin) : undefined;
}

/** The project's restic (0.18 from the cache), falling back to `restic` on PATH. */
export function resticBin(): string | undefined {
  return process.env.STASH_TS_RESTIC || findCachedBin('restic', 'restic', 'RESTIC_VERSION');
}

/**
 * The hook template engine's cache directory: keyed by a hash of shared/template/go's sources, exactly as
 * hack/build-bins.sh computes it (go.mod, go.sum, then the .go files in byte order).
 */
export function templateEngineDir(): string {
  const src = join(REPO_ROOT, 'shared', 'template', 'go');
  const go = readdirSync(src)
    .filter((f) => f.endsWith('.go'))
    .sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : 1));
  const h = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', ...go]) h.update(readFileSync(join(src, f)));
  return join(cacheRoot(), 'bins', `template-${h.digest('hex').slice(0, 16)}`);
}

/** The engine's WebAssembly module; throws with the command that builds it when missing. */
export function templateWasm(): string {
  const path = join(templateEngineDir(), 'template.wasm');
  if (!existsSync(path))
    throw new Error(`the hook template engine is not built yet (${path}); run: hack/build-bins.sh template`);
  return path;
}

export function restServerBin(): string | undefined {
  return findCachedBin('rest-server', 'rest-server', 'REST_SERVER_VERSION');
}

export function minioBin(): string | undefined {
  return findCachedBin('minio', 'minio', 'MINIO_VERSION');
}

/** The tests' MongoDB-protocol server; only the version built by hack/build-bins.sh (no apt package exists). */
export function ferretdbBin(): string | undefined {
  return findCachedBin('ferretdb', 'ferretdb', 'FERRETDB_VERSION', false);
}

export function rcloneBin(): string | undefined {
  return findCachedBin('rclone', 'rclone', 'RCLONE_VERSION');
}

/** `restic version` of a binary, e.g. "0.14.0", or undefined when it does not run. */
export function resticVersionOf(bin: string): string | undefined {
  try {
    const out = execFileSync(bin, ['version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    });
    return /^restic (\d+\.\d+\.\d+)/.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Every restic binary available here, keyed by version: the cached 0.18 build and Debian's 0.14 at
 * /usr/bin/restic (or on PATH). Integration tests run against each, so both eras stay covered.
 */
export function resticBinaries(): Map<string, string> {
  const found = new Map<string, string>();
  const candidates = [resticBin(), '/usr/bin/restic', onPath('restic')];
  for (const c of candidates) {
    if (!c || !isExecutable(c)) continue;
    const v = resticVersionOf(c);
    if (v && !found.has(v)) found.set(v, c);
  }
  return found;
}
