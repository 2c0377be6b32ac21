// Stash's metric names on every replica, end to end with real agents in a private local world (pod runner, a
// stand-in for the kubelet): one BackupBatch backup and one RestoreBatch restore, then every family of
// webhook/stash-metrics.ts is read from the /metrics of three operator replicas (the Lease holder and two
// standbys) with its labels, the replicas serve the same values, `promtool check metrics` passes on each, and
// after the leader is SIGKILLed the new leader and the remaining standby still serve those values.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { FAMILIES } from '../../webhook/stash-metrics.ts';
import { binary } from '../world/bins.ts';
import type { OperatorState } from '../world/operator.ts';
import { readPidFile } from '../world/procs.ts';
import {
  backupBatch,
  backupSession,
  createApp,
  e2eWorld,
  finished,
  firstOperatorPid,
  leaseHolder,
  namespaceWithRepo,
  restoreBatch,
  sidecarsRunning,
  startExtraOperator,
  until,
  type RestoreBatchObj,
  type SessionObj,
} from '../support/e2e-world.ts';
import { join } from 'node:path';

const BB = apiVersionOf('BackupBatch');
const BS = apiVersionOf('BackupSession');
const RB = apiVersionOf('RestoreBatch');

t.setTimeout(240_000);
const w = await e2eWorld(t, 'e2e-metrics');
const promtool = binary('promtool');

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics on ${port}: HTTP ${res.status}`);
  return await res.text();
}

type Sample = { name: string; labels: Record<string, string>; value: string };
function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: m[3]! });
  }
  return out;
}

/** The Stash families' sample lines of a scrape, sorted: what every replica must serve alike. */
function stashLines(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => /^stash_/.test(l))
    .sort();
}

const SESSION = ['invoker_kind', 'invoker_name', 'namespace', 'driver', 'repository'];
const TARGET = [...SESSION, 'kind', 'group', 'name'];
const HOST = [...TARGET, 'hostname'];
const REPOSITORY = [...SESSION, 'name', 'namespace', 'backend', 'bucket'];
function labelsOf(key: string): string[] {
  if (key.startsWith('repo')) return REPOSITORY;
  if (/^(host|restoreHost)/.test(key)) return HOST;
  if (/Target(Success|HostCount|LastSuccess)$/.test(key)) return TARGET;
  return SESSION;
}

t.test('every Stash family, with its labels, the same on the leader and the standbys, across a failover', async (t) => {
  const ns = 'e2e-metrics';
  await namespaceWithRepo(w, ns);
  const b = await startExtraOperator(t, w, 'stash-ts-operator-b');
  const c = await startExtraOperator(t, w, 'stash-ts-operator-c');
  const first = readPidFile<OperatorState>(join(w.dir, 'operator.json'))!.metricsPort;
  for (const a of ['web', 'db']) await createApp(w, ns, a, { 'a.txt': `data of ${a}\n`, 'dir/b.txt': 'b' });
  await w.kube.create(backupBatch(ns, 'app', ['web', 'db']));
  await until(
    'BackupBatch Ready',
    async () =>
      (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, 'app')).status?.phase ===
      'Ready',
    60_000,
  );
  await sidecarsRunning(w, ns, ['web', 'db']);
  await w.kube.create(backupSession(ns, 'app-1', 'app'));
  const s = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'app-1', 90_000);
  t.equal(s.status?.phase, 'Succeeded', 'the backup succeeded');
  await w.kube.patch(BB, 'BackupBatch', ns, 'app', { spec: { paused: true } });
  await w.kube.create(restoreBatch(ns, 'restore', ['web', 'db']));
  const r = await finished<RestoreBatchObj>(w, RB, 'RestoreBatch', ns, 'restore', 90_000);
  t.equal(r.status?.phase, 'Succeeded', 'the restore succeeded');

  const ports = { leader: first, b: b.metricsPort, c: c.metricsPort };
  // Each replica computes from its own informer caches: wait until every one has seen the restore's final status.
  const texts: Record<string, string> = {};
  for (const [who, port] of Object.entries(ports)) {
    texts[who] = await until(
      `${who} serves the restore`,
      async () => {
        const x = await scrape(port);
        return /^stash_restore_session_success\{[^}]*invoker_name="restore"[^}]*\} 1$/m.test(x) ? x : undefined;
      },
      20_000,
    );
  }
  const all = samples(texts.leader!);
  for (const [key, [legacy, modern]] of Object.entries(FAMILIES)) {
    for (const name of [legacy, modern]) {
      if (!name) continue;
      const found = all.filter((x) => x.name === name && x.labels.namespace === ns);
      const missing = labelsOf(key).filter((l) => found.length > 0 && found.every((x) => !(l in x.labels)));
      t.ok(
        found.length > 0 && missing.length === 0,
        `${name}: ${found.length} series, labels ${labelsOf(key).join(',')}`,
        {
          found,
        },
      );
    }
  }
  t.ok(
    all.some((x) => x.name === 'process_resident_memory_bytes'),
    'process defaults',
  );
  t.ok(
    all.some((x) => x.name === 'nodejs_eventloop_lag_seconds'),
    'Node.js defaults',
  );
  const ok = (n: string) => all.find((x) => x.name === n && x.labels.invoker_name === 'app')?.value;
  t.equal(ok('stash_backup_session_success'), '1', 'backup success is 1');
  t.equal(ok('stash_backup_target_count_total'), '2', 'two targets');
  t.equal(
    all.find((x) => x.name === 'stash_repository_integrity' && x.labels.name === 'repo')?.value,
    '1',
    'repository integrity passed',
  );

  const before = stashLines(texts.leader!);
  t.same(stashLines(texts.b!), before, 'standby b serves what the leader serves');
  t.same(stashLines(texts.c!), before, 'standby c serves what the leader serves');
  for (const [who, text] of Object.entries(texts)) {
    try {
      const out = execFileSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8', stdio: 'pipe' });
      t.pass(`promtool check metrics passes on ${who}${out.trim() ? `: ${out.trim()}` : ''}`);
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      t.fail(`promtool check metrics on ${who}: ${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }

  process.kill(-firstOperatorPid(w), 'SIGKILL');
  const leader = await until(
    'a standby holds the Lease',
    async () => {
      const h = await leaseHolder(w);
      return h === b.identity || h === c.identity ? h : undefined;
    },
    30_000,
    200,
  );
  t.comment(`new leader ${leader}`);
  t.same(stashLines(await scrape(b.metricsPort)), before, 'after the failover b serves the same values');
  t.same(stashLines(await scrape(c.metricsPort)), before, 'after the failover c serves the same values');
});
