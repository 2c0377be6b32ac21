// npm run bench:webhook — the admission server (bench/webhook/server.ts: buildApp over HTTPS, the operator's
// logging) in its own process, loaded by autocannon from this process with the review mix of workload.ts.
// Bar: >= 3,000 reviews/s and p99 <= 10 ms on the project's 2-core machine. Last line:
// `webhook: <n> reviews/s p99=<ms>ms`.
// Knobs: BENCH_ROUNDS (7), BENCH_DURATION (21 s, split over the rounds), BENCH_WARMUP (5 s), BENCH_CONNECTIONS (8).
// The machine is shared: the load average is printed with the figures, and each figure is the median of its rounds.
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
// @ts-expect-error autocannon ships no types
import autocannon from 'autocannon';
import { generateCerts } from '../../certs/certs.ts';
import { benchReviews } from './workload.ts';

// 8 keep-alive connections: about what one apiserver keeps open to a webhook service under load (its HTTP/1.1
// pool). Handshakes happen once per connection, in warm-up, so the rounds measure the steady state the apiserver
// sees: TLS records, HTTP and the handler.
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const DURATION = Number(process.env.BENCH_DURATION ?? 21);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 5);
const SERVER = fileURLToPath(new URL('./server.ts', import.meta.url));
const BAR = { rps: 3000, p99: 10 };

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  total: number;
  cpuUs: number;
}

async function startServer(cert: string, key: string, log: string) {
  const child = execa(process.execPath, [SERVER, cert, key, log], { stdout: 'pipe', stderr: 'inherit', reject: false });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const l = await lines.next();
    if (l.done) throw new Error(`server exited: ${(await child).exitCode}`);
    return l.value;
  };
  const port = Number(await next());
  /** Server CPU time so far, in microseconds. */
  const cpu = async (): Promise<number> => {
    child.kill('SIGUSR2');
    return Number((await next()).split(' ')[1]);
  };
  return {
    port,
    cpu,
    stop: async () => {
      child.kill('SIGTERM');
      await child;
    },
  };
}

function post(port: number, ca: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/mutate-workload',
        method: 'POST',
        ca,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function check(port: number, ca: string): Promise<void> {
  // One pass over the bodies before the load, so a wrong answer fails the bench instead of being timed.
  for (const { body, patched, what } of benchReviews()) {
    const out = JSON.parse(await post(port, ca, body)) as {
      response?: { uid?: string; allowed?: boolean; patch?: string };
    };
    const uid = (JSON.parse(body) as { request: { uid: string } }).request.uid;
    if (out.response?.uid !== uid || out.response.allowed !== true || (out.response.patch !== undefined) !== patched) {
      throw new Error(`unexpected answer for ${what}: ${JSON.stringify(out).slice(0, 200)}`);
    }
  }
}

function load(port: number, duration: number): Promise<Omit<Result, 'cpuUs'>> {
  const requests = benchReviews().map(({ body }) => ({
    method: 'POST',
    path: '/mutate-workload',
    headers: { 'content-type': 'application/json' },
    body,
  }));
  return new Promise((resolve, reject) => {
    autocannon(
      { url: `https://127.0.0.1:${port}`, connections: CONNECTIONS, pipelining: 1, duration, requests },
      (err: Error | null, r: Record<string, any>) => {
        if (err) return reject(err);
        resolve({
          rps: r.requests.average,
          p50: r.latency.p50,
          p99: r.latency.p99,
          errors: r.errors + r.timeouts,
          non2xx: r.non2xx,
          total: r.requests.total,
        });
      },
    );
  });
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const dir = await mkdtemp(join(tmpdir(), 'stash-bench-webhook-'));
try {
  // Certificates and log in separate directories, as in the cluster (a Secret volume; stdout): the server watches
  // the certificate directory for rotation, and a log written there would wake that watch on every flush.
  const certs = await generateCerts({ dir: join(dir, 'certs') });
  const server = await startServer(certs.certFile, certs.keyFile, join(dir, 'admission.log'));
  const rounds: Result[] = [];
  const load1: number[] = [];
  try {
    await check(server.port, certs.caPem);
    // Warm-up, not counted: TLS handshakes, JIT tiers, the invoker plan cache, the heap's steady size.
    await load(server.port, WARMUP);
    for (let i = 0; i < ROUNDS; i++) {
      const before = await server.cpu();
      const r = await load(server.port, DURATION / ROUNDS);
      rounds.push({ ...r, cpuUs: ((await server.cpu()) - before) / r.total });
      load1.push(loadavg()[0]!);
    }
  } finally {
    await server.stop();
  }
  const mix = benchReviews();
  console.log(
    `mix: ${mix.length} reviews, ${mix.filter((m) => m.patched).length} patched; ${[...new Set(mix.map((m) => m.what))].join('; ')}`,
  );
  for (const [i, r] of rounds.entries()) {
    console.log(
      `round ${i + 1}: ${r.rps.toFixed(0).padStart(6)} reviews/s  p50=${r.p50}ms  p99=${r.p99}ms  server CPU ${r.cpuUs.toFixed(0)}µs/review  load ${load1[i]!.toFixed(1)}  (${r.total} requests, ${r.errors} errors, ${r.non2xx} non-2xx)`,
    );
  }
  const rps = median(rounds.map((r) => r.rps));
  const p99 = median(rounds.map((r) => r.p99));
  const failures = rounds.reduce((a, r) => a + r.errors + r.non2xx, 0);
  const [l1, l5, l15] = loadavg();
  const ok = rps >= BAR.rps && p99 <= BAR.p99 && failures === 0;
  console.log(
    `load average ${l1!.toFixed(2)} ${l5!.toFixed(2)} ${l15!.toFixed(2)} on ${CONNECTIONS} connections; median of ${ROUNDS} rounds of ${(DURATION / ROUNDS).toFixed(1)}s`,
  );
  console.log(`bar: >= ${BAR.rps} reviews/s, p99 <= ${BAR.p99} ms, no errors: ${ok ? 'met' : 'NOT met'}`);
  console.log(`webhook: ${rps.toFixed(0)} reviews/s p99=${p99}ms`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
