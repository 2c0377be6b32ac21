import t from 'tap';
import { PassThrough } from 'node:stream';
import { createLogger } from './log.ts';

t.test('secrets are redacted wherever the usual keys appear', async (t) => {
  const out = new PassThrough();
  const lines: string[] = [];
  out.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)));
  const log = createLogger({ destination: out });
  const canary = 'canary-Secret-9f3a';
  log.info({ env: { RESTIC_PASSWORD: canary } }, 'restic env');
  log.info({ RESTIC_PASSWORD: canary, AWS_SECRET_ACCESS_KEY: canary }, 'flat');
  log.info({ secret: { data: { RESTIC_PASSWORD: canary } } }, 'secret object');
  log.info({ req: { headers: { authorization: `Bearer ${canary}` } } }, 'request');
  await new Promise((r) => setImmediate(r));
  t.equal(lines.length, 4);
  for (const l of lines) t.notMatch(l, canary, `no secret in: ${l}`);
  t.match(lines[0], /\[redacted\]/);
});
