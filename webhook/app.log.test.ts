// The admission access line is written by hand (app.ts accessLogger) for speed; it must stay byte-for-byte the line
// pino writes for the same record, batched or not, and obey the root logger's level.
import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger } from '../shared/log.ts';
import { backupBatch, deployment, repository, review } from '../test/fixtures/reviews/fixtures.ts';
import { buildApp, msText, ROUTES } from './app.ts';
import type { BackupInvoker, InvokerIndex, Obj, Repository } from './admission/types.ts';

const INJECT = { image: 'stash-ts/agent:0.1.0', pushgatewayUrl: 'http://pgw:56789', useKubeapiserverFqdnForAks: false };
const index: InvokerIndex = {
  backupInvokersFor: (w) => (w.name === 'wordpress' ? [backupBatch() as unknown as BackupInvoker] : []),
  restoreInvokersFor: () => [],
  repository: (ns, name) => (ns === 'demo' && name === 'gcs-repo' ? repository() as unknown as Repository : undefined),
};

function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  return { stream: new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } }), text: () => chunks.join('') };
}

// The last two: a line of many multi-byte characters, and one longer than the access buffer holds.
const ODD = ['plain', 'quote " and \\ backslash', 'tab\tnew\nline\u0001', 'é 😀 \u2028', 'x'.repeat(200), 'é'.repeat(6000), 'y'.repeat(20_000)];

function bodies(): Obj[] {
  const out: Obj[] = [review('u-inject', deployment()), review('u-plain', deployment('web'))];
  for (const [i, s] of ODD.entries()) {
    const r = review(s.slice(0, 256), deployment(`n${i}`));
    const req = r.request as Obj;
    req.name = s;
    if (i % 2) delete req.namespace;
    (req.kind as Obj).kind = i === 3 ? s : 'Deployment';
    out.push(r);
  }
  return out;
}

for (const name of [undefined, 'stash-operator']) {
  t.test(`access lines equal pino's (${name ?? 'no name'})`, async (t) => {
    const got = sink();
    const want = sink();
    const a = buildApp({ invokers: index, inject: INJECT, logger: createLogger({ destination: got.stream, name }) });
    // All at once, so several lines share one event-loop turn and one write.
    await Promise.all(bodies().map((b) => a.inject({ method: 'POST', url: ROUTES.mutateWorkload, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(b) })));
    await a.close();
    const lines = got.text().split('\n').filter((l) => l !== '');
    const admissions = lines.filter((l) => (JSON.parse(l) as Obj).msg === 'admission');
    t.equal(admissions.length, bodies().length, 'one line per review');
    const reference = createLogger({ destination: want.stream, name }).child({}, { redact: [] });
    for (const l of admissions) {
      const o = JSON.parse(l) as Obj;
      reference.info({ uid: o.uid, path: o.path, op: o.op, kind: o.kind, ns: o.ns, name: o.name, allowed: o.allowed, patched: o.patched, note: o.note, ms: o.ms }, 'admission');
    }
    const noTime = (s: string) => s.replace(/"time":\d+/g, '"time":0');
    t.equal(noTime(got.text()), noTime(want.text()), 'same bytes apart from the timestamp');
    t.match(admissions.map((l) => JSON.parse(l) as Obj), [{ uid: 'u-inject', patched: true }, { uid: 'u-plain', patched: false }]);
  });
}

t.test('access lines obey the root level', async (t) => {
  const out = sink();
  const log = createLogger({ destination: out.stream, level: 'warn' });
  const a = buildApp({ invokers: index, inject: INJECT, logger: log });
  await a.inject({ method: 'POST', url: ROUTES.mutateWorkload, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(review('quiet', deployment())) });
  log.level = 'info';
  await a.inject({ method: 'POST', url: ROUTES.mutateWorkload, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(review('loud', deployment())) });
  await a.close();
  const uids = out.text().split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as Obj).uid);
  t.same(uids, ['loud']);
});

t.test('the ms field is written as JavaScript writes us / 1000', async (t) => {
  const values = [0, 1, 9, 10, 99, 100, 101, 120, 999, 1000, 1001, 1010, 1100, 12345, 5_000_000, 999_999_999_999, 1e12, 2 ** 53 - 1];
  for (let us = 0; us < 3000; us += 7) values.push(us);
  const wrong = values.filter((us) => msText(us) !== String(us / 1000));
  t.same(wrong, []);
});
