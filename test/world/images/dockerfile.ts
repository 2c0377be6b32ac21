// Reads Dockerfile.webhook / Dockerfile.agent into a build plan for the registry-less image builder
// (images/build.ts), so the images the real-kubelet world runs are made from the Dockerfiles themselves and
// cannot drift from them. Only the instructions these two files use are understood; anything else is an
// error naming the line, never skipped.

export interface CopyStep {
  /** Build stage the files come from (`COPY --from=`), or undefined for the build context (the repo). */
  from?: string;
  src: string;
  /** Absolute destination in the image. */
  dst: string;
}

export type Step = { kind: 'copy'; copy: CopyStep } | { kind: 'run'; command: string; env: Record<string, string> };

export interface Stage {
  name?: string;
  base: string;
  args: Record<string, string>;
  runs: string[];
}

export interface ImagePlan {
  stages: Stage[];
  /** The image of the final stage. */
  base: string;
  /** Debian packages of `apt-get install` in the final stage (installed into the base by mmdebstrap). */
  packages: string[];
  steps: Step[];
  env: Record<string, string>;
  user: string;
  workdir: string;
  entrypoint: string[];
  expose: string[];
}

/** Instructions as [keyword, rest] with continuation lines joined and comments dropped. */
export function instructions(text: string): Array<{ line: number; keyword: string; rest: string }> {
  const out: Array<{ line: number; keyword: string; rest: string }> = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!buf && (line === '' || line.startsWith('#'))) return;
    if (!buf) start = i + 1;
    if (line.endsWith('\\')) {
      buf += `${line.slice(0, -1).trim()} `;
      return;
    }
    buf += line;
    const m = /^(\S+)\s+([\s\S]*)$/.exec(buf);
    if (m) out.push({ line: start, keyword: m[1]!.toUpperCase(), rest: m[2]!.trim() });
    buf = '';
  });
  return out;
}

function pairs(rest: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tok of rest.split(/\s+/).filter(Boolean)) {
    const eq = tok.indexOf('=');
    if (eq <= 0) throw new Error(`ENV/ARG "${tok}": only KEY=VALUE is supported`);
    out[tok.slice(0, eq)] = tok.slice(eq + 1).replace(/^"|"$/g, '');
  }
  return out;
}

/** The packages an `apt-get install` command line names (flags skipped). */
export function aptPackages(command: string): string[] {
  const out: string[] = [];
  for (const part of command.split('&&')) {
    const toks = part.trim().split(/\s+/);
    const at = toks.indexOf('install');
    if (toks[0] !== 'apt-get' || at < 0) continue;
    out.push(...toks.slice(at + 1).filter((t) => !t.startsWith('-')));
  }
  return out;
}

function resolve(workdir: string, p: string): string {
  if (p.startsWith('/')) return p.replace(/\/$/, '') || '/';
  const joined = `${workdir.replace(/\/$/, '')}/${p.replace(/^\.\/?/, '')}`;
  return joined.replace(/\/$/, '') || '/';
}

export function parseDockerfile(text: string, file = 'Dockerfile'): ImagePlan {
  const stages: Stage[] = [];
  let plan: ImagePlan | undefined;
  let workdir = '/';
  for (const { line, keyword, rest } of instructions(text)) {
    const where = `${file}:${line}`;
    if (keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!m) throw new Error(`${where}: cannot read FROM ${rest}`);
      stages.push({ base: m[1]!, name: m[2], args: {}, runs: [] });
      plan = {
        stages,
        base: m[1]!,
        packages: [],
        steps: [],
        env: {},
        user: '',
        workdir: '/',
        entrypoint: [],
        expose: [],
      };
      workdir = '/';
      continue;
    }
    const stage = stages[stages.length - 1];
    if (!stage || !plan) throw new Error(`${where}: ${keyword} before FROM`);
    switch (keyword) {
      case 'ARG':
        Object.assign(stage.args, pairs(rest));
        break;
      case 'WORKDIR':
        workdir = resolve(workdir, rest);
        plan.workdir = workdir;
        break;
      case 'ENV':
        Object.assign(plan.env, pairs(rest));
        break;
      case 'USER':
        plan.user = rest;
        break;
      case 'EXPOSE':
        plan.expose.push(...rest.split(/\s+/));
        break;
      case 'ENTRYPOINT':
        plan.entrypoint = JSON.parse(rest) as string[];
        break;
      case 'RUN': {
        stage.runs.push(rest);
        const pkgs = aptPackages(rest);
        if (pkgs.length) plan.packages.push(...pkgs);
        else plan.steps.push({ kind: 'run', command: rest, env: { ...plan.env } });
        break;
      }
      case 'COPY': {
        const m = /^(?:--from=(\S+)\s+)?(\S+(?:\s+\S+)*)\s+(\S+)$/.exec(rest);
        if (!m || m[2]!.startsWith('--'))
          throw new Error(`${where}: COPY [--from=STAGE] SRC... DST is supported, got "${rest}"`);
        const srcs = m[2]!.split(/\s+/);
        // Docker's rule: into the directory when DST ends with a slash or there are several sources.
        const intoDir = m[3]!.endsWith('/') || srcs.length > 1;
        for (const src of srcs) {
          const dst = intoDir
            ? `${resolve(workdir, m[3]!)}/${src.replace(/\/$/, '').split('/').pop()}`
            : resolve(workdir, m[3]!);
          plan.steps.push({ kind: 'copy', copy: { from: m[1], src, dst: dst.replace(/^\/\//, '/') } });
        }
        break;
      }
      default:
        throw new Error(`${where}: ${keyword} is not understood by test/world/images (extend it rather than skip it)`);
    }
  }
  if (!plan) throw new Error(`${file}: no FROM`);
  return plan;
}
