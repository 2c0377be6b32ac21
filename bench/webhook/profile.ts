// node bench/webhook/profile.ts app|bare [seconds] — one bench server under the bench's load with V8's CPU profiler
// on, then the functions with the most samples per review. The .cpuprofile is kept (path printed) for a closer
// look in Chrome DevTools. Sampling counts wall time on the main thread, so native work such as the TLS write
// (writeUtf8String) also carries the time the process waited to be scheduled; compare app and bare side by side
// rather than reading either alone, and use `npm run bench:webhook` for the numbers that count.
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
// @ts-expect-error autocannon ships no types
import autocannon from 'autocannon';
import { generateCerts } from '../../certs/certs.ts';
import { benchReviews } from './workload.ts';

const SERVER = fileURLToPath(new URL('./server.ts', import.meta.url));
const mode = process.argv[2] ?? 'app';
const seconds = Number(process.argv[3] ?? 10);
if (mode !== 'app' && mode !== 'bare') {
  process.stderr.write('usage: profile.ts app|bare [seconds]\n');
  process.exit(2);
}

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

const dir = await mkdtemp(join(tmpdir(), 'stash-webhook-profile-'));
const profDir = join(dir, 'profile');
try {
  const certs = await generateCerts({ dir: join(dir, 'certs') }); // not beside the log: see run.ts
  const child = execa(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, SERVER, mode, certs.certFile, certs.keyFile, join(dir, 'admission.log')], { stdout: 'pipe', stderr: 'inherit', reject: false });
  const rl = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve) => rl.once('line', (l) => resolve(Number(l))));
  const requests = benchReviews().map(({ body }) => ({ method: 'POST', path: '/mutate-workload', headers: { 'content-type': 'application/json' }, body }));
  const res = await new Promise<{ requests: { total: number; average: number } }>((resolve, reject) => {
    autocannon({ url: `https://127.0.0.1:${port}`, connections: 8, duration: seconds, requests }, (err: Error | null, r: { requests: { total: number; average: number } }) => (err ? reject(err) : resolve(r)));
  });
  child.kill('SIGTERM');
  await child;
  const file = (await readdir(profDir)).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error('no profile written');
  const prof = JSON.parse(await readFile(join(profDir, file), 'utf8')) as Profile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  prof.samples.forEach((id, i) => {
    const f = byId.get(id)!.callFrame;
    const name = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(webhook|bench|shared)\//, '$1/')}:${f.lineNumber + 1}`;
    self.set(name, (self.get(name) ?? 0) + (prof.timeDeltas[i] ?? 0));
  });
  const total = res.requests.total;
  console.log(`${mode}: ${res.requests.average.toFixed(0)} reviews/s over ${seconds}s, ${total} reviews (startup included below)`);
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    console.log(`${(us / total).toFixed(2).padStart(8)} µs/review  ${name}`);
  }
  const keep = join(tmpdir(), `stash-webhook-${mode}.cpuprofile`);
  await copyFile(join(profDir, file), keep);
  console.log(`profile: ${keep}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
