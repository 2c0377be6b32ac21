// RetentionPolicy (docs/api.md §2.8) → `restic forget` flags, with the validation restic 0.14 lacks:
// there, `--keep-last -1` removes every snapshot and an empty policy silently does nothing.
import { RetentionPolicyError } from './errors.ts';

export interface RetentionPolicy {
  name?: string;
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepTags?: string[];
  prune?: boolean;
  dryRun?: boolean;
}

const COUNTS: Array<[keyof RetentionPolicy, string]> = [
  ['keepLast', '--keep-last'],
  ['keepHourly', '--keep-hourly'],
  ['keepDaily', '--keep-daily'],
  ['keepWeekly', '--keep-weekly'],
  ['keepMonthly', '--keep-monthly'],
  ['keepYearly', '--keep-yearly'],
];

/** Every problem with the policy (empty when it is usable). */
export function retentionProblems(p: RetentionPolicy): string[] {
  const problems: string[] = [];
  let counts = 0;
  for (const [key] of COUNTS) {
    const v = p[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      problems.push(`${key} must be a non-negative integer, got ${JSON.stringify(v)}`);
    } else if (v > 0) counts++;
  }
  const tags = p.keepTags ?? [];
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string' || t.trim() === '' || t.includes(','))) {
    problems.push('keepTags must be non-empty tag names without commas');
  }
  if (counts === 0 && tags.length === 0) {
    problems.push(
      'the policy keeps nothing: set at least one keep* count above 0 or keepTags; forget would remove every snapshot',
    );
  }
  return problems;
}

export function validateRetention(p: RetentionPolicy): void {
  const problems = retentionProblems(p);
  if (problems.length > 0) {
    throw new RetentionPolicyError(
      `retention policy${p.name ? ` ${JSON.stringify(p.name)}` : ''} refused: ${problems.join('; ')}`,
    );
  }
}

/** The keep flags (no --prune/--dry-run: the wrapper runs those steps itself). Validates first. */
export function retentionFlags(p: RetentionPolicy): string[] {
  validateRetention(p);
  const args: string[] = [];
  for (const [key, flag] of COUNTS) {
    const v = p[key];
    if (typeof v === 'number' && v > 0) args.push(flag, String(v));
  }
  for (const t of p.keepTags ?? []) args.push('--keep-tag', t);
  return args;
}

/** True when only keepTags can keep anything: then a dry run must show each group keeps something. */
export function keepsOnlyByTag(p: RetentionPolicy): boolean {
  return COUNTS.every(([key]) => !(typeof p[key] === 'number' && (p[key] as number) > 0));
}
