// restic version detection and the feature gates the wrapper branches on (docs/restic.md §0).
export interface ResticVersion {
  major: number;
  minor: number;
  patch: number;
  text: string;
}

export function parseVersion(text: string): ResticVersion | undefined {
  const m = /(?:restic )?(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), text: `${m[1]}.${m[2]}.${m[3]}` };
}

/** a >= b */
export function atLeast(v: ResticVersion, major: number, minor: number, patch = 0): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}

export interface Features {
  /** init --json, full snapshot ids in backup summaries */
  jsonInit: boolean;
  /** restore --json */
  jsonRestore: boolean;
  /** check --json, exit_error lines */
  jsonCheck: boolean;
  /** exit codes 10 and 11 */
  exitCodesRepoLock: boolean;
  /** exit code 12 */
  exitCodeWrongPassword: boolean;
  /** --retry-lock */
  retryLock: boolean;
  /** backup --stdin-from-command */
  stdinFromCommand: boolean;
}

export function featuresOf(v: ResticVersion): Features {
  return {
    jsonInit: atLeast(v, 0, 15),
    jsonRestore: atLeast(v, 0, 16),
    jsonCheck: atLeast(v, 0, 18),
    exitCodesRepoLock: atLeast(v, 0, 17),
    exitCodeWrongPassword: atLeast(v, 0, 17, 1),
    retryLock: atLeast(v, 0, 16),
    stdinFromCommand: atLeast(v, 0, 17),
  };
}
