// RestoreBatch end to end with real agents: three members backed up by one BackupBatch, their volumes damaged,
// then ONE RestoreBatch (Sequential, global pre/post hooks served by a loopback HTTP server in this test) puts
// them back through the `stash-init` containers the pod runner starts with the args the webhook injected.
import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import { Informer } from '../../shared/kube/informer.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { findCondition } from '../../shared/status/index.ts';
import {
  backupBatch,
  backupSession,
  createApp,
  e2eWorld,
  finished,
  namespaceWithRepo,
  readTree,
  restoreBatch,
  sidecarsRunning,
  until,
  type RestoreBatchObj,
  type SessionObj,
} from '../support/e2e-world.ts';

const BB = apiVersionOf('BackupBatch');
const BS = apiVersionOf('BackupSession');
const RB = apiVersionOf('RestoreBatch');

// A whole world per file: longer than the runner's default per-file timeout.
t.setTimeout(360_000);
const w = await e2eWorld(t, 'e2e-restore');

t.test('RestoreBatch restores three members in Sequential order with global pre/post hooks', async (t) => {
  const ns = 'e2e-restore';
  await namespaceWithRepo(w, ns);
  const apps = ['db', 'web', 'cache'];
  const dirs: Record<string, string> = {};
  for (const a of apps) {
    dirs[a] = await createApp(w, ns, a, {
      'README.txt': `data of ${a}\n`,
      'db/table.bin': randomBytes(768 * 1024),
      'conf/app.conf': `name=${a}\n`,
      'deep/a/b/c.txt': a,
    });
  }
  const pristine = Object.fromEntries(apps.map((a) => [a, readTree(dirs[a]!)]));
  await w.kube.create(backupBatch(ns, 'app', apps, { executionOrder: 'Parallel' }));
  await until(
    'BackupBatch Ready',
    async () =>
      (await w.kube.get<KubeObject & { status?: { phase?: string } }>(BB, 'BackupBatch', ns, 'app')).status?.phase ===
      'Ready',
    60_000,
  );
  await sidecarsRunning(w, ns, apps);
  await w.kube.create(backupSession(ns, 'app-1', 'app'));
  const backup = await finished<SessionObj>(w, BS, 'BackupSession', ns, 'app-1', 120_000);
  t.equal(backup.status?.phase, 'Succeeded', 'the backup to restore from succeeded');
  await w.kube.patch(BB, 'BackupBatch', ns, 'app', { spec: { paused: true } });

  // Damage: a file deleted, one overwritten, one directory gone.
  for (const a of apps) {
    rmSync(join(dirs[a]!, 'README.txt'));
    writeFileSync(join(dirs[a]!, 'db', 'table.bin'), 'corrupted');
    rmSync(join(dirs[a]!, 'deep'), { recursive: true });
  }
  t.notSame(readTree(dirs.db!), pristine.db, 'the volumes are damaged');

  // The hook server records each call and which members had finished at that moment.
  const calls: Array<{ path: string; body: string; finished: string[] }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      void w.kube.get<RestoreBatchObj>(RB, 'RestoreBatch', ns, 'restore').then(
        (rb) => {
          calls.push({
            path: req.url ?? '',
            body,
            finished: (rb.status?.members ?? [])
              .filter((m) => m.phase === 'Succeeded' || m.phase === 'Failed')
              .map((m) => m.ref?.name ?? ''),
          });
          res.writeHead(200).end('ok');
        },
        () => res.writeHead(500).end(),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;

  // Member order as the test saw it: the event number at which each member started and finished.
  const started = new Map<string, number>();
  const ended = new Map<string, number>();
  let seq = 0;
  const inf = new Informer<RestoreBatchObj>(w.kube, { apiVersion: RB, kind: 'RestoreBatch', namespace: ns });
  const seen = (o: RestoreBatchObj) => {
    const n = ++seq;
    for (const m of o.status?.members ?? []) {
      const name = m.ref?.name ?? '';
      if (findCondition(m.conditions, 'RestoreExecutorEnsured')?.status === 'True' && !started.has(name))
        started.set(name, n);
      if ((m.phase === 'Succeeded' || m.phase === 'Failed') && !ended.has(name)) ended.set(name, n);
    }
  };
  inf.on('add', seen).on('update', seen).start();
  t.teardown(() => inf.stop());
  await inf.waitForSync();

  await w.kube.create(
    restoreBatch(ns, 'restore', apps, {
      executionOrder: 'Sequential',
      hooks: {
        preRestore: { httpPost: { host: '127.0.0.1', port, path: '/pre', body: '{"name":"{{ .Name }}"}' } },
        postRestore: { httpGet: { host: '127.0.0.1', port, path: '/post' }, executionPolicy: 'Always' },
      },
    }),
  );
  const rb = await finished<RestoreBatchObj>(w, RB, 'RestoreBatch', ns, 'restore', 150_000);
  t.equal(
    rb.status?.phase,
    'Succeeded',
    `the RestoreBatch succeeded: ${JSON.stringify(rb.status?.members?.map((m) => [m.ref?.name, m.phase, m.stats?.[0]?.error]))}`,
  );
  t.same(
    rb.status?.members?.map((m) => m.phase),
    ['Succeeded', 'Succeeded', 'Succeeded'],
  );
  for (let i = 0; i + 1 < apps.length; i++) {
    t.ok(
      (started.get(apps[i + 1]!) ?? 0) > (ended.get(apps[i]!) ?? Infinity),
      `${apps[i + 1]} was restored only after ${apps[i]} finished`,
    );
  }
  t.same(
    calls.map((c) => c.path),
    ['/pre', '/post'],
    'each global hook ran once, pre then post',
  );
  t.same(calls[0]?.finished, [], 'no member had finished when the pre hook ran');
  t.same(JSON.parse(calls[0]?.body ?? '{}'), { name: 'restore' }, 'the pre hook body was rendered');
  t.same([...(calls[1]?.finished ?? [])].sort(), [...apps].sort(), 'the post hook ran after every member finished');
  for (const a of apps) t.same(readTree(dirs[a]!), pristine[a], `${a}: restored byte for byte`);
});
