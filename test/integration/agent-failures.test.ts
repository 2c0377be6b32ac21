// Failures a person must be able to act on: a wrong password, an unreachable backend and a missing path each
// end the target Failed with a reason that says what to fix, and leave earlier snapshots intact. The canary
// password must never show up in logs, child argv, status or Events. The test plays the operator's part.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import { useCluster } from '../world/harness.ts';
import { makeLocalBackend } from '../backends/local.ts';
import { freePort } from '../backends/proc.ts';
import type { BackupConfiguration, Repository } from '../../agent/types.ts';
import { appBackupSidecar, assertNoSecrets, eventsFor, resticRun, runSession } from '../support/agent-world.ts';

t.test('wrong password, unreachable backend, missing path', async (t) => {
  const { kube, namespace: ns, kubeconfigPath } = await useCluster(t);
  const canary = `canary-${Math.random().toString(36).slice(2)}-pw`;
  const wrong = `wrong-${Math.random().toString(36).slice(2)}-pw`;
  const b = await makeLocalBackend({ password: canary });
  const work = await mkdtemp(join(tmpdir(), 'agent-fail-'));
  t.teardown(async () => {
    await b.stop();
    await rm(work, { recursive: true, force: true });
  });
  const { sidecar, sampler, ref } = await appBackupSidecar(t, {
    kube,
    namespace: ns,
    kubeconfig: kubeconfigPath,
    work,
    backend: b.backend,
    secret: b.secret,
    podName: 'app-6b7c-q2w3e',
    args: ['--backend-timeout=3s', '--lock-wait=10s'],
  });
  const snapshotCount = () =>
    (JSON.parse(resticRun(['snapshots', '--json', '--no-lock', '-r', b.dir], { RESTIC_PASSWORD: canary })) as unknown[])
      .length;
  const sessions: unknown[] = [];

  const ok = await runSession(kube, ns, 'app-backup-1', 'app-backup', ref);
  sessions.push(ok);
  t.equal(ok.status?.targets?.[0]?.stats?.[0]?.phase, 'Succeeded', ok.status?.targets?.[0]?.stats?.[0]?.error ?? '');
  t.equal(snapshotCount(), 1);

  await t.test('wrong password', async (t) => {
    await kube.update('v1', 'Secret', ns, 'repo-secret', (s) => ({
      ...s,
      data: undefined,
      stringData: { RESTIC_PASSWORD: wrong },
    }));
    const s = await runSession(kube, ns, 'app-backup-2', 'app-backup', ref);
    sessions.push(s);
    const st = s.status?.targets?.[0]?.stats?.[0];
    t.equal(st?.phase, 'Failed');
    t.equal(s.status?.targets?.[0]?.phase, 'Failed');
    t.match(st?.error, /wrong repository password/);
    t.match(st?.error, new RegExp(`Secret ${ns}/repo-secret`));
    await kube.update('v1', 'Secret', ns, 'repo-secret', (x) => ({
      ...x,
      data: undefined,
      stringData: { RESTIC_PASSWORD: canary },
    }));
    t.equal(snapshotCount(), 1, 'earlier snapshot intact');
  });

  await t.test('unreachable backend', async (t) => {
    const port = await freePort();
    await kube.update<Repository>(apiVersionOf('Repository'), 'Repository', ns, 'repo', (r) => {
      r.spec.backend = { storageSecretName: 'repo-secret', rest: { url: `http://127.0.0.1:${port}/repo` } };
      return r;
    });
    const started = Date.now();
    const s = await runSession(kube, ns, 'app-backup-3', 'app-backup', ref);
    sessions.push(s);
    const st = s.status?.targets?.[0]?.stats?.[0];
    t.equal(st?.phase, 'Failed');
    t.match(st?.error, /backend unreachable: cannot connect to/);
    t.match(st?.error, new RegExp(`127\\.0\\.0\\.1:${port}`));
    t.ok(Date.now() - started < 30_000, 'fails fast instead of riding restic retries');
    await kube.update<Repository>(apiVersionOf('Repository'), 'Repository', ns, 'repo', (r) => {
      r.spec.backend = { storageSecretName: 'repo-secret', ...b.backend } as Repository['spec']['backend'];
      return r;
    });
    t.equal(snapshotCount(), 1, 'earlier snapshot intact');
  });

  await t.test('missing path', async (t) => {
    const missing = join(work, 'not-mounted');
    await kube.update<BackupConfiguration>(
      apiVersionOf('BackupConfiguration'),
      'BackupConfiguration',
      ns,
      'app-backup',
      (bc) => {
        if (bc.spec.target) bc.spec.target.paths = [missing];
        return bc;
      },
    );
    const s = await runSession(kube, ns, 'app-backup-4', 'app-backup', ref);
    sessions.push(s);
    const st = s.status?.targets?.[0]?.stats?.[0];
    t.equal(st?.phase, 'Failed');
    t.match(st?.error, new RegExp(`path ${missing} does not exist .*target\\.volumeMounts`));
    t.equal(snapshotCount(), 1, 'earlier snapshot intact');
  });

  const argvs = sampler.stop();
  const events = [
    ...(await eventsFor(kube, ns, 'app-backup-2')),
    ...(await eventsFor(kube, ns, 'app-backup-3')),
    ...(await eventsFor(kube, ns, 'app-backup-4')),
  ];
  t.equal(events.filter((e) => e.reason === 'HostBackupFailed').length, 3, 'a Warning event per failed host');
  t.ok(events.every((e) => e.type === 'Warning'));
  resticRun(['check', '-r', b.dir], { RESTIC_PASSWORD: canary });
  t.pass('restic check is clean');
  assertNoSecrets(t, [canary, wrong], { output: sidecar.output(), argvs, sessions, events });
  t.ok(
    argvs.some((a) => a.includes('restic') && a.includes(' backup ')),
    'restic was sampled while it ran',
  );
});
