// A task's `args` parameter is one string of extra client flags (upstream passes it through a shell). We
// split it without a shell: whitespace separates words, single and double quotes group, a backslash
// escapes the next character outside single quotes. Shell syntax that would do something else (`$`,
// backticks, redirections, `;`, `|`, `&`) is refused rather than passed on as a literal.
import { ValidationError } from '../../shared/errors.ts';

export interface TaskParam {
  name: string;
  value: string;
}

export function splitArgs(text: string, field = 'task.params[args]'): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else cur += c;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1]!)) cur += text[++i];
      else if (c === '$' || c === '`')
        throw new ValidationError(field, `shell expansion (${c}) is not supported in args`);
      else cur += c;
      continue;
    }
    if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === "'" || c === '"') quote = c;
    else if (c === '\\') {
      if (i + 1 >= text.length) throw new ValidationError(field, 'args end with a lone backslash');
      cur += text[++i];
    } else if ('$`;|&<>(){}'.includes(c))
      throw new ValidationError(
        field,
        `shell syntax (${c}) is not supported in args; quote it if it is part of a value`,
      );
    else cur += c;
  }
  if (quote) throw new ValidationError(field, `unterminated ${quote} quote in args`);
  if (inWord) out.push(cur);
  return out;
}

/** The value of one task parameter (last one wins, as upstream's map does), or undefined. */
export function paramValue(params: readonly TaskParam[] | undefined, name: string): string | undefined {
  let v: string | undefined;
  for (const p of params ?? []) if (p.name === name) v = p.value;
  return v;
}

/** The `args` parameter as argv words; undefined when the parameter is absent (so defaults apply). */
export function argsParam(params: readonly TaskParam[] | undefined): string[] | undefined {
  const v = paramValue(params, 'args');
  return v === undefined ? undefined : splitArgs(v);
}
