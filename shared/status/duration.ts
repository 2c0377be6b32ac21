// Go's time.Duration.String(), which upstream writes into `duration` and `sessionDuration` fields, so tools
// that parse those strings (kubectl columns, dashboards) keep working.

function frac(value: bigint, unit: bigint, digits: number): string {
  const whole = value / unit;
  const rest = value % unit;
  if (rest === 0n) return whole.toString();
  const f = rest.toString().padStart(digits, '0').replace(/0+$/, '');
  return `${whole}.${f}`;
}

/** Formats a duration given in nanoseconds exactly as Go does ("831.018039ms", "1m5s", "1h0m0s", "0s"). */
export function formatGoDuration(nanos: number | bigint): string {
  let ns = typeof nanos === 'bigint' ? nanos : BigInt(Math.round(nanos));
  if (ns === 0n) return '0s';
  const neg = ns < 0n;
  if (neg) ns = -ns;
  let out: string;
  if (ns < 1_000n) out = `${ns}ns`;
  else if (ns < 1_000_000n) out = `${frac(ns, 1_000n, 3)}µs`;
  else if (ns < 1_000_000_000n) out = `${frac(ns, 1_000_000n, 6)}ms`;
  else {
    const h = ns / 3_600_000_000_000n;
    const m = (ns / 60_000_000_000n) % 60n;
    const s = frac(ns % 60_000_000_000n, 1_000_000_000n, 9);
    out = h > 0n ? `${h}h${m}m${s}s` : m > 0n ? `${m}m${s}s` : `${s}s`;
  }
  return neg ? `-${out}` : out;
}

/** Milliseconds to a Go duration string. */
export function formatMs(ms: number): string {
  return formatGoDuration(BigInt(Math.round(ms * 1_000_000)));
}

/** Whole seconds, as upstream rounds sessionDuration. */
export function formatRoundedSeconds(ms: number): string {
  return formatGoDuration(BigInt(Math.round(ms / 1000)) * 1_000_000_000n);
}

/** Parses a Go duration string ("1h30m", "30s", "1.5s", "200ms") to milliseconds; undefined when invalid. */
export function parseGoDuration(s: string): number | undefined {
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    μs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  const str = s.trim();
  if (str === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  let neg = false;
  let body = str;
  if (body.startsWith('-') || body.startsWith('+')) {
    neg = body.startsWith('-');
    body = body.slice(1);
  }
  if (!body) return undefined;
  re.lastIndex = 0;
  while (pos < body.length) {
    re.lastIndex = pos;
    const m = re.exec(body);
    if (!m || m[1] === undefined || m[2] === undefined) return undefined;
    total += Number(m[1]) * (units[m[2]] ?? 0);
    pos = re.lastIndex;
  }
  return neg ? -total : total;
}
