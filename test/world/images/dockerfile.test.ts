// The registry-less images are built from the Dockerfiles themselves (images/dockerfile.ts reads them): these
// checks keep that reading complete — every instruction understood, nothing skipped — and the resulting image
// config equal to what the Dockerfile declares.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pinnedVersions } from '../../backends/bins.ts';
import { REPO_ROOT } from '../bins.ts';
import { AGENT_ENTRYPOINT, OPERATOR_ENTRYPOINT } from '../entrypoints.ts';
import { imageConfigFor } from './build.ts';
import { aptPackages, instructions, parseDockerfile } from './dockerfile.ts';

const read = (f: string) => readFileSync(join(REPO_ROOT, f), 'utf8');

for (const [file, entry, app] of [
  ['Dockerfile.webhook', OPERATOR_ENTRYPOINT, 'webhook'],
  ['Dockerfile.agent', AGENT_ENTRYPOINT, 'agent'],
] as const) {
  t.test(`${file}: the image build follows it`, async (t) => {
    const text = read(file);
    const plan = parseDockerfile(text, file);
    t.equal(plan.base, 'node:24-bookworm-slim');
    t.same(plan.entrypoint, [...entry]);
    t.equal(plan.workdir, '/app');
    t.match(plan.user, /^[1-9]\d*:\d+$/, 'non-root user');
    const dsts = plan.steps.flatMap((s) => (s.kind === 'copy' ? [s.copy.dst] : []));
    for (const d of ['/app/node_modules', '/app/package.json', '/app/shared', `/app/${app}`])
      t.ok(dsts.includes(d), `copies ${d}`);
    const cfg = imageConfigFor(plan, 'v24.1.0');
    t.equal(cfg.user, plan.user);
    t.same(cfg.entrypoint, [...entry]);
    // Every ENV of the final stage, verbatim, in the image's environment.
    const finalStage = text.split(/^FROM /m).pop() ?? '';
    for (const m of finalStage.matchAll(/^ENV\s+(.+)$/gm)) {
      for (const kv of m[1]!.trim().split(/\s+/)) t.ok(cfg.env?.includes(kv), `image env has ${kv}`);
    }
    t.ok(
      cfg.env?.some((e) => e.startsWith('PATH=') && e.includes('/usr/local/bin')),
      'node on PATH as in node:24 images',
    );
    // Every instruction of the file was read (none is silently dropped).
    const kinds = new Set(instructions(text).map((i) => i.keyword));
    for (const k of kinds)
      t.ok(
        ['FROM', 'ARG', 'WORKDIR', 'COPY', 'RUN', 'ENV', 'USER', 'EXPOSE', 'ENTRYPOINT'].includes(k),
        `${k} understood`,
      );
  });
}

t.test(
  'Dockerfile.agent: its apt packages go into the Debian base; the compile-cache RUN runs at build time',
  async (t) => {
    const plan = parseDockerfile(read('Dockerfile.agent'), 'Dockerfile.agent');
    t.same(plan.packages.sort(), [
      'ca-certificates',
      'mariadb-client',
      'postgresql-client',
      'redis-tools',
      'util-linux',
    ]);
    for (const [stage, bin] of [
      ['restic', 'restic'],
      ['etcd-tools', 'etcdctl'],
      ['etcd-tools', 'etcdutl'],
    ])
      t.ok(
        plan.steps.some((s) => s.kind === 'copy' && s.copy.from === stage && s.copy.dst === `/usr/local/bin/${bin}`),
        `${bin} from the ${stage} stage`,
      );
    // The Go stages build the versions hack/versions.env pins (the world's builder takes the cached binaries
    // of those versions in their place and refuses a mismatch).
    const pins = pinnedVersions();
    t.equal(plan.stages.find((s) => s.name === 'restic')?.args.RESTIC_VERSION, pins.RESTIC_VERSION);
    t.equal(plan.stages.find((s) => s.name === 'etcd-tools')?.args.ETCD_VERSION, pins.ETCD_VERSION);
    const run = plan.steps.find((s) => s.kind === 'run');
    t.match(run?.kind === 'run' ? run.command : '', /node agent\/main\.ts/);
    t.equal(
      run?.kind === 'run' ? run.env.NODE_COMPILE_CACHE : '',
      '/app/.node-compile-cache',
      'RUN sees the ENV set before it',
    );
  },
);

t.test('an instruction the builder does not know is an error naming the line, never skipped', async (t) => {
  t.throws(() => parseDockerfile('FROM node:24-bookworm-slim\nVOLUME /data\n', 'X'), /X:2: VOLUME is not understood/);
  t.throws(() => parseDockerfile('COPY a b\n', 'Y'), /Y:1: COPY before FROM/);
  t.same(aptPackages('apt-get update && apt-get install -y --no-install-recommends a b && rm -rf x'), ['a', 'b']);
  const p = parseDockerfile('FROM node:24-bookworm-slim\nWORKDIR /app\nCOPY x y ./\nCOPY z ./zz\n', 'Z');
  t.same(
    p.steps.map((s) => (s.kind === 'copy' ? s.copy.dst : '')),
    ['/app/x', '/app/y', '/app/zz'],
  );
});
