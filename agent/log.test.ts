import t from 'tap';
import { createAgentLogger } from './log.ts';

function capture(level?: string) {
  const lines: string[] = [];
  const log = createAgentLogger({ level, name: 'stash-agent', sink: (l) => lines.push(l) });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

t.test('secrets are censored wherever the shared redact paths name them', async (t) => {
  const { log, lines } = capture();
  const canary = 'canary-Secret-9f3a';
  log.info({ env: { RESTIC_PASSWORD: canary } }, 'restic env');
  log.info({ RESTIC_PASSWORD: canary, AWS_SECRET_ACCESS_KEY: canary }, 'flat');
  log.info({ secret: { data: { RESTIC_PASSWORD: canary } } }, 'secret object');
  log.info({ req: { headers: { authorization: `Bearer ${canary}` } } }, 'request');
  log.child({ password: canary }).warn('child binding');
  t.equal(lines.length, 5);
  for (const l of lines) t.notMatch(l, canary, `no secret in: ${l}`);
  t.match(lines[0], /"env":"\[redacted\]"/);
  t.match(lines[3], /"req":\{"headers":\{"authorization":"\[redacted\]"\}\}/, 'only the named path is censored');
});

t.test('pino line format, levels and child bindings', async (t) => {
  const { log, parsed } = capture('info');
  log.debug('hidden');
  const child = log.child({ repository: 'local:/r' });
  child.info({ path: '/data' }, 'snapshot taken');
  log.warn('plain message');
  log.error({ err: new TypeError('boom') }, 'failed');
  const [a, b, c] = parsed();
  t.equal(parsed().length, 3, 'debug is below info');
  t.match(a, {
    level: 30,
    name: 'stash-agent',
    pid: process.pid,
    repository: 'local:/r',
    path: '/data',
    msg: 'snapshot taken',
  });
  t.type(a?.time, 'number');
  t.type(a?.hostname, 'string');
  t.match(b, { level: 40, msg: 'plain message' });
  t.match(c, { level: 50, err: { type: 'TypeError', message: 'boom' }, msg: 'failed' });
});

t.test('silent writes nothing; circular objects do not throw', async (t) => {
  const s = capture('silent');
  s.log.error('nothing');
  t.equal(s.lines.length, 0);
  const { log, parsed } = capture();
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  log.info({ o }, 'circular');
  t.match(parsed()[0], { o: { a: 1 } });
  t.match(JSON.stringify(parsed()[0]), /\[Circular\]/);
});
