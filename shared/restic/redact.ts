// Removes secret values from text before it reaches a log line, an error message or a status field.
// restic itself masks REST passwords as "***", but other values (keys in S3 error bodies, a password
// echoed by a misbehaving password command) are caught here by value.

const URL_USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/)([^/\s:@]+):([^/\s@]+)@/gi;

export type Redactor = (text: string) => string;

/** A redactor for these secret values (short values are ignored: masking "a" would garble every line). */
export function makeRedactor(secrets: Iterable<string>): Redactor {
  const values = [...new Set([...secrets].filter((s) => s.length >= 4))]
    // longest first, so a secret containing another is masked whole
    .sort((a, b) => b.length - a.length);
  // percent-encoded forms appear inside repository URLs
  const all = [...new Set(values.flatMap((v) => [v, encodeURIComponent(v)]))].sort((a, b) => b.length - a.length);
  return (text: string) => {
    let out = text.replace(URL_USERINFO, (_m, scheme: string, user: string) => `${scheme}${user}:***@`);
    for (const v of all) out = out.split(v).join('***');
    return out;
  };
}
