// The one polling helper of tests, the demo and the benchmarks: wait until a probe returns something truthy,
// or fail saying what was awaited, for how long, and the probe's last error. A probe that throws is retried
// (the apiserver may be restarting, a file not yet written); its error is kept for the message.
import { setTimeout as sleep } from 'node:timers/promises';

type Falsy = undefined | null | false | 0 | '';
export type Probe<T> = () => T | Falsy | Promise<T | Falsy>;

export interface UntilOptions {
  /** Give up after this long (default 60 s: generous, a loaded machine must not make a test flaky). */
  timeoutMs?: number;
  /** Pause between probes (default 100 ms). */
  everyMs?: number;
  /** More text for the timeout error, such as the tail of a log; called only on timeout. */
  detail?: () => string;
}

/** Resolves with the probe's first truthy value. Short form: `until(what, probe, timeoutMs, everyMs)`. */
export async function until<T>(
  what: string,
  probe: Probe<T>,
  opts: UntilOptions | number = {},
  every?: number,
): Promise<T> {
  const { timeoutMs = 60_000, everyMs = every ?? 100, detail } = typeof opts === 'number' ? { timeoutMs: opts } : opts;
  const end = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > end) {
      const cause =
        lastErr === undefined ? '' : ` (last error: ${lastErr instanceof Error ? lastErr.message : String(lastErr)})`;
      const more = detail?.() ?? '';
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${cause}${more ? `\n${more}` : ''}`, {
        cause: lastErr,
      });
    }
    await sleep(everyMs);
  }
}
