import t from 'tap';
import { until } from './until.ts';

t.test('until returns the first truthy value, from sync and async probes', async (t) => {
  let n = 0;
  t.equal(await until('the third call', () => (++n >= 3 ? n : undefined), { everyMs: 1 }), 3);
  t.same(await until('an object', async () => ({ ok: true })), { ok: true });
});

t.test('until retries a throwing probe and names what it waited for, and the last error, on timeout', async (t) => {
  let calls = 0;
  const err = await until(
    'the moon',
    () => {
      calls++;
      throw new Error('not yet risen');
    },
    { timeoutMs: 50, everyMs: 5, detail: () => 'log tail here' },
  ).catch((e: unknown) => e as Error);
  t.ok(calls > 1, 'probed more than once');
  t.match(err, {
    message: /^timed out after 0.05s waiting for the moon \(last error: not yet risen\)\nlog tail here$/,
  });
  await t.rejects(
    until('false forever', () => false, 30),
    /timed out after 0.03s waiting for false forever$/,
  );
});
