// A generated source tree (content, modes, symlinks, empty dirs) and a strict comparison, so a
// backup→restore round trip is checked byte for byte, mode for mode, link for link.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  sha256?: string;
  size?: number;
  target?: string;
}

/** Writes a small but varied tree under `dir` (created). Returns the number of entries written. */
export async function makeTree(dir: string, seed = 'x'): Promise<number> {
  await mkdir(dir, { recursive: true });
  const files: Array<[string, Buffer, number]> = [
    ['README.txt', Buffer.from(`hello ${seed}\n`), 0o644],
    ['bin/run.sh', Buffer.from('#!/bin/sh\necho run\n'), 0o755],
    ['data/random.bin', randomBytes(300_000), 0o640],
    ['data/zeros.bin', Buffer.alloc(70_000), 0o600],
    ['data/nested/deep/leaf.txt', Buffer.from('leaf\n'), 0o444],
    ['data/empty-file', Buffer.alloc(0), 0o664],
    ['names/with space & ümlaut.txt', Buffer.from('odd name\n'), 0o644],
  ];
  for (const [rel, content, mode] of files) {
    const p = join(dir, rel);
    await mkdir(join(p, '..'), { recursive: true });
    await writeFile(p, content);
    await chmod(p, mode);
  }
  await mkdir(join(dir, 'empty-dir'));
  await mkdir(join(dir, 'data', 'empty-nested', 'inner'), { recursive: true });
  await chmod(join(dir, 'data', 'empty-nested'), 0o750);
  await symlink('../README.txt', join(dir, 'bin', 'readme-link'));
  await symlink('/nonexistent/target', join(dir, 'dangling-link'));
  await symlink('data/nested', join(dir, 'dir-link'));
  await chmod(join(dir, 'bin'), 0o711);
  return files.length + 6;
}

/** Every entry below `dir`, keyed by relative path. */
export async function readTree(dir: string): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  async function walk(rel: string): Promise<void> {
    const names = await readdir(join(dir, rel));
    for (const name of names.sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(dir, r);
      const st = await lstat(p);
      const mode = st.mode & 0o7777;
      if (st.isSymbolicLink()) out.set(r, { type: 'symlink', mode: 0, target: await readlink(p) });
      else if (st.isDirectory()) {
        out.set(r, { type: 'dir', mode });
        await walk(r);
      } else if (st.isFile()) {
        const content = await readFile(p);
        out.set(r, {
          type: 'file',
          mode,
          size: content.length,
          sha256: createHash('sha256').update(content).digest('hex'),
        });
      } else out.set(r, { type: 'other', mode });
    }
  }
  await walk('');
  return out;
}

/** Differences between two trees, as readable lines (empty when identical). */
export async function diffTrees(expectedDir: string, actualDir: string): Promise<string[]> {
  const a = await readTree(expectedDir);
  const b = await readTree(actualDir);
  const diffs: string[] = [];
  for (const [k, ea] of a) {
    const eb = b.get(k);
    if (!eb) diffs.push(`missing: ${k}`);
    else if (JSON.stringify(ea) !== JSON.stringify(eb))
      diffs.push(`differs: ${k}: ${JSON.stringify(ea)} != ${JSON.stringify(eb)}`);
  }
  for (const k of b.keys()) if (!a.has(k)) diffs.push(`extra: ${k}`);
  const root = [(await lstat(expectedDir)).mode & 0o7777, (await lstat(actualDir)).mode & 0o7777];
  if (root[0] !== root[1]) diffs.push(`root mode ${root[0]?.toString(8)} != ${root[1]?.toString(8)}`);
  return diffs;
}
