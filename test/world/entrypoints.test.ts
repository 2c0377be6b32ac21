// There is no container engine here to build the images, so this keeps them honest another way: the
// ENTRYPOINT each Dockerfile declares must be the command the local world runs and the manifests rely on,
// and every path the image needs must be copied into it.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './bins.ts';
import { AGENT_ENTRYPOINT, AGENT_IMAGE, OPERATOR_ENTRYPOINT, OPERATOR_IMAGE } from './entrypoints.ts';
import { DEFAULT_AGENT_IMAGE } from '../../shared/config.ts';

function dockerfile(name: string): {
  entrypoint: string[];
  workdir: string;
  copies: string[];
  from: string[];
  user: string;
} {
  const text = readFileSync(join(REPO_ROOT, name), 'utf8');
  const lines = text.split('\n');
  const last = (re: RegExp) => lines.filter((l) => re.test(l)).pop() ?? '';
  const stages = text.split(/^FROM /m);
  const final = stages[stages.length - 1] ?? '';
  return {
    entrypoint: JSON.parse(last(/^ENTRYPOINT /).replace(/^ENTRYPOINT\s+/, '')) as string[],
    workdir: /^WORKDIR\s+(\S+)/m.exec(final)?.[1] ?? '',
    copies: [...final.matchAll(/^COPY\s+(?:--from=\S+\s+)?(\S+)\s+(\S+)/gm)].map((m) => m[2]!),
    from: lines.filter((l) => l.startsWith('FROM ')).map((l) => l.split(/\s+/)[1]!),
    user: last(/^USER /).replace(/^USER\s+/, ''),
  };
}

for (const [file, entry, dirs] of [
  ['Dockerfile.webhook', OPERATOR_ENTRYPOINT, ['./shared', './webhook', './node_modules']],
  ['Dockerfile.agent', AGENT_ENTRYPOINT, ['./shared', './agent', './node_modules']],
] as const) {
  t.test(`${file}: entrypoint is the local world's command`, async (t) => {
    const d = dockerfile(file);
    t.same(d.entrypoint, [...entry], 'ENTRYPOINT matches test/world/entrypoints.ts');
    t.equal(d.workdir, '/app', 'relative entrypoint path resolves under WORKDIR /app');
    for (const dir of dirs) t.ok(d.copies.includes(dir), `image copies ${dir}`);
    t.ok(existsSync(join(REPO_ROOT, entry[1])), `${entry[1]} exists in the repository`);
    t.ok(
      d.from.every((f) => f.startsWith('node:24') || f.startsWith('golang:')),
      'Node 24 base (and a Go build stage)',
    );
    t.match(d.user, /^[1-9]\d*(:\d+)?$/, 'runs as a non-root user');
  });
}

t.test('Dockerfile.agent builds the restic version the project pins', async (t) => {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile.agent'), 'utf8');
  const pinned = /^RESTIC_VERSION=(\S+)/m.exec(readFileSync(join(REPO_ROOT, 'hack', 'versions.env'), 'utf8'))?.[1];
  t.match(text, new RegExp(`ARG RESTIC_VERSION=${pinned}\\b`));
  t.match(text, /COPY --from=restic \/out\/restic \/usr\/local\/bin\/restic/);
});

t.test('the operator Deployment runs the image entrypoint and names the agent image', async (t) => {
  const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, 'manifests', 'webhook', 'operator.yaml'), 'utf8')).map(
    (d) => d.toJSON() as Record<string, any>,
  );
  const dep = docs.find((d) => d?.kind === 'Deployment');
  const c = dep?.spec?.template?.spec?.containers?.[0];
  t.ok(c, 'operator container present');
  t.equal(c.image, OPERATOR_IMAGE);
  t.notOk(c.command, 'no command override: the image ENTRYPOINT runs');
  t.notOk(c.args, 'no args override');
  const agentImage = (c.env as Array<{ name: string; value?: string }>).find(
    (e) => e.name === 'STASH_AGENT_IMAGE',
  )?.value;
  t.equal(agentImage, AGENT_IMAGE, 'operator injects the agent image the world runs');
  t.equal(DEFAULT_AGENT_IMAGE, AGENT_IMAGE, 'config default agrees');
});
