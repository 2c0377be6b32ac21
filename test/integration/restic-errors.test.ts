// Failure classification with the real binaries: wrong password, missing repository, unreachable and
// unauthorised backends, a partial backup (an unreadable file), and what reaches restic's argv/env.
import t from 'tap';
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resticBinaries } from '../backends/bins.ts';
import { makeLocalBackend } from '../backends/local.ts';
import { closedPort } from '../backends/proc.ts';
import { startRestServer } from '../backends/rest-server.ts';
import { makeRestic } from '../backends/restic.ts';
import {
  BackendAccessDeniedError,
  BackendUnreachableError,
  PartialBackupError,
  RepositoryMissingError,
  WrongPasswordError,
} from '../../shared/restic/errors.ts';

const isRoot = process.getuid?.() === 0;

for (const [version, bin] of resticBinaries()) {
  t.test(`classification, restic ${version}`, async (t) => {
    const local = await makeLocalBackend({ password: 'right-password' });
    const rest = await startRestServer({ auth: { username: 'u', password: 'rest-secret-pw' } });
    const work = await mkdtemp(join(tmpdir(), 'stash-ts-it-'));
    const cleanups: Array<() => Promise<void>> = [];
    t.teardown(async () => {
      for (const c of cleanups) await c();
      await rest.stop();
      await local.stop();
      await rm(work, { recursive: true, force: true });
    });
    const mk = async (...a: Parameters<typeof makeRestic> extends [string, ...infer R] ? R : never) => {
      const r = await makeRestic(bin, ...a);
      cleanups.push(r.cleanup);
      return r.restic;
    };

    const good = await mk(local.backend, local.secret);
    t.equal(await good.exists(), false, 'missing repository: exists() is false');
    await t.rejects(good.snapshots(), RepositoryMissingError, 'snapshots on a missing repository');
    await good.init();
    t.equal(await good.exists(), true, 'exists after init');

    const wrong = await mk(local.backend, { RESTIC_PASSWORD: 'not-the-password' });
    await t.rejects(wrong.exists(), WrongPasswordError, 'wrong password (local)');
    await t.rejects(wrong.backup([work], { host: 'h' }), WrongPasswordError, 'wrong password on backup');

    const restGood = await mk(rest.backend, rest.secret);
    await restGood.init();
    await t.rejects(
      (await mk(rest.backend, { ...rest.secret, RESTIC_PASSWORD: 'nope-nope' })).exists(),
      WrongPasswordError,
      'wrong password (rest)',
    );
    const denied = await mk(rest.backend, { ...rest.secret, REST_SERVER_PASSWORD: 'bad-rest-pw' });
    const deniedErr = await denied.exists().catch((e: unknown) => e);
    t.ok(deniedErr instanceof BackendAccessDeniedError, 'bad REST credentials: access denied');
    t.notMatch(
      JSON.stringify({ m: (deniedErr as Error).message, tail: (deniedErr as BackendAccessDeniedError).stderrTail }),
      /bad-rest-pw/,
      'the password is not in the error',
    );

    const port = await closedPort();
    const gone = await mk({ rest: { url: `http://127.0.0.1:${port}/repo/` } }, rest.secret, {
      probeTimeoutMs: 4000,
      graceMs: 5000,
    });
    const t0 = Date.now();
    const unreachable = await gone.exists().catch((e: unknown) => e);
    t.ok(
      unreachable instanceof BackendUnreachableError,
      `unreachable REST server classified (${(unreachable as Error).message})`,
    );
    t.ok(Date.now() - t0 < 15_000, 'within the probe timeout');
    t.notMatch((unreachable as Error).message, /rest-secret-pw/, 'no password in the message');

    // What restic really receives: record argv and env through a command prefix.
    const rec = join(work, 'rec');
    await mkdir(rec);
    process.env.RESTIC_HOST = 'leaked-host';
    process.env.AWS_SECRET_ACCESS_KEY = 'leaked-aws-key';
    t.teardown(() => {
      delete process.env.RESTIC_HOST;
      delete process.env.AWS_SECRET_ACCESS_KEY;
    });
    const spy = await mk(rest.backend, rest.secret, {
      commandPrefix: ['/bin/sh', '-c', `printf '%s\\n' "$@" > ${rec}/argv; env -0 > ${rec}/env; exec "$@"`, 'sh'],
    });
    await spy.snapshots();
    const argv = await readFile(join(rec, 'argv'), 'utf8');
    const env = await readFile(join(rec, 'env'), 'utf8');
    t.notMatch(argv, /rest-secret-pw|right-password|rest-test-password/, 'no secret in argv');
    t.match(argv, /^--json$/m, 'argv carries the flags');
    t.match(
      env,
      /(^|\0)RESTIC_REPOSITORY=rest:http:\/\/u:rest-secret-pw@127\.0\.0\.1/,
      'the credentialed repository goes through env',
    );
    t.notMatch(env, /leaked-host|leaked-aws-key/, 'nothing inherited from the agent environment');
    // tap's process tracker adds NODE_OPTIONS and _TAPJS_* to every child it sees; PWD comes from sh.
    const harness = /^(NODE_OPTIONS|_TAPJS_\w+|PWD|SHLVL|_)$/;
    t.same(
      env
        .split('\0')
        .filter(Boolean)
        .map((l) => l.split('=')[0]!)
        .filter((k) => !harness.test(k))
        .sort(),
      ['HOME', 'PATH', 'RESTIC_PASSWORD', 'RESTIC_PROGRESS_FPS', 'RESTIC_REPOSITORY', 'TMPDIR'],
      'exactly the variables we set',
    );
  });

  t.test(`partial backup (unreadable file), restic ${version}`, async (t) => {
    // As root every file is readable, so restic runs as uid 65534 through setpriv, from a copy of the
    // binary that uid can execute; the repository and cache belong to that uid.
    const work = await mkdtemp(join(tmpdir(), 'stash-ts-partial-'));
    t.teardown(() => rm(work, { recursive: true, force: true }));
    await chmod(work, 0o755);
    const src = join(work, 'src');
    await mkdir(join(src, 'd'), { recursive: true });
    await writeFile(join(src, 'ok.txt'), 'fine\n');
    await writeFile(join(src, 'd', 'secret.txt'), 'hidden\n');
    await chmod(join(src, 'd', 'secret.txt'), 0o000);
    const repoDir = join(work, 'repo');
    let runBin = bin;
    let prefix: string[] | undefined;
    const home = join(work, 'home');
    await mkdir(home);
    if (isRoot) {
      runBin = join(work, 'restic');
      await copyFile(bin, runBin);
      await chmod(runBin, 0o755);
      await mkdir(repoDir);
      for (const p of [repoDir, home]) await chown(p, 65534, 65534);
      prefix = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    }
    const { restic, cleanup } = await makeRestic(
      runBin,
      { local: { mountPath: repoDir } },
      { RESTIC_PASSWORD: 'partial-pw' },
      { commandPrefix: prefix, cache: { dir: join(home, 'cache') }, home, tmpDir: home },
    );
    t.teardown(cleanup);
    await restic.init();
    const err = await restic.backup([src], { host: 'host-0' }).catch((e: unknown) => e);
    t.ok(err instanceof PartialBackupError, 'exit 3 is a PartialBackupError');
    const p = err as PartialBackupError;
    t.match(p.result.snapshotId, /^[0-9a-f]{8,64}$/, 'the snapshot that was written is reported');
    t.equal(p.result.errors.length, 1, 'one file error');
    t.equal(p.result.errors[0]?.item, join(src, 'd', 'secret.txt'), 'naming the unreadable file');
    t.match(p.result.errors[0]?.message, /permission denied/, 'and why');
    t.equal((await restic.snapshots()).length, 1, 'the snapshot exists');
  });
}
