// Credentials and reachability are checked first, on every backend (#14.3): a wrong repository password
// (local, REST, S3), wrong REST basic auth, a wrong S3 access key id, a wrong S3 secret and an unreachable
// endpoint each fail the host within 30 s — never riding restic's retry loop — with a message naming what
// to check (the Secret key, or the endpoint). Neither the wrong nor the right secret values reach the
// agent's logs, its children's argv, the session status or Events; after each fix the next session
// succeeds. The test plays the operator's part in session status.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { Repository } from '../../agent/types.ts';
import { useCluster } from '../world/harness.ts';
import { makeLocalBackend } from '../backends/local.ts';
import { closedPort } from '../backends/proc.ts';
import { startRestServer } from '../backends/rest-server.ts';
import { startS3Server } from '../backends/s3-server.ts';
import { appBackupSidecar, assertNoSecrets, eventsFor, runSession } from '../support/agent-world.ts';

t.test('wrong credentials and unreachable endpoints fail the host fast, naming what to check', async (t) => {
  const { kube, namespace: ns, kubeconfigPath } = await useCluster(t);
  const rand = () => Math.random().toString(36).slice(2, 10);
  const local = await makeLocalBackend({ password: `local-pw-${rand()}` });
  const rest = await startRestServer({
    auth: { username: 'stash', password: `rest-auth-${rand()}` },
    password: `rest-repo-${rand()}`,
  });
  const s3 = await startS3Server({ prefix: 'creds', password: `s3-repo-${rand()}` });
  const work = await mkdtemp(join(tmpdir(), 'agent-creds-'));
  t.teardown(async () => {
    await rest.stop();
    await s3.stop();
    await local.stop();
    await rm(work, { recursive: true, force: true });
  });
  const { sidecar, sampler, ref } = await appBackupSidecar(t, {
    kube,
    namespace: ns,
    kubeconfig: kubeconfigPath,
    work,
    backend: local.backend,
    secret: local.secret,
    podName: 'app-6b7c-c4r5t',
    args: ['--lock-wait=10s'],
  });
  const secretName = `${ns}/repo-secret`;
  const sessions: unknown[] = [];
  const wrongValues: string[] = [];
  let n = 0;

  const use = async (backend: Record<string, unknown>, secret: Record<string, string>) => {
    await kube.update('v1', 'Secret', ns, 'repo-secret', (s) => ({ ...s, data: undefined, stringData: secret }));
    await kube.update<Repository>(apiVersionOf('Repository'), 'Repository', ns, 'repo', (r) => {
      r.spec.backend = { storageSecretName: 'repo-secret', ...backend } as Repository['spec']['backend'];
      return r;
    });
  };
  const session = async () => {
    const started = Date.now();
    const s = await runSession(kube, ns, `app-backup-${++n}`, 'app-backup', ref, {
      postActions: false,
      timeoutMs: 120_000,
    });
    sessions.push(s);
    return { st: s.status?.targets?.[0]?.stats?.[0], ms: Date.now() - started };
  };
  const succeeds = async (label: string) => {
    const { st } = await session();
    t.equal(st?.phase, 'Succeeded', `${label}: ${st?.error ?? 'succeeded'}`);
  };
  const failsFast = async (label: string, names: RegExp[]) => {
    const { st, ms } = await session();
    t.equal(st?.phase, 'Failed', `${label}: the host failed`);
    t.ok(ms < 30_000, `${label}: within 30 s (${ms} ms)`);
    for (const re of names) t.match(st?.error, re, `${label}: the message names ${re.source}`);
    t.match(st?.error, new RegExp(`Secret ${secretName}|cannot connect`), `${label}: and where to look`);
  };
  const wrong = (v: string) => {
    wrongValues.push(v);
    return v;
  };

  await succeeds('local');
  await use(local.backend, { RESTIC_PASSWORD: wrong(`wrong-local-${rand()}`) });
  await failsFast('local, wrong password', [/RESTIC_PASSWORD/]);

  await use(rest.backend, rest.secret);
  await succeeds('rest');
  await use(rest.backend, { ...rest.secret, REST_SERVER_PASSWORD: wrong(`wrong-auth-${rand()}`) });
  await failsFast('rest, wrong basic auth', [/REST_SERVER_USERNAME/, /REST_SERVER_PASSWORD/]);
  await use(rest.backend, { ...rest.secret, RESTIC_PASSWORD: wrong(`wrong-rest-${rand()}`) });
  await failsFast('rest, wrong password', [/RESTIC_PASSWORD/]);
  const port = await closedPort();
  await use({ rest: { url: `http://127.0.0.1:${port}/repo` } }, rest.secret);
  await failsFast('rest, unreachable endpoint', [new RegExp(`127\\.0\\.0\\.1:${port}`), /backend unreachable/]);
  await use(rest.backend, rest.secret);
  await succeeds('rest after the fix');

  await use(s3.backend, s3.secret);
  await succeeds('s3');
  await use(s3.backend, { ...s3.secret, AWS_ACCESS_KEY_ID: wrong(`WRONGKEY${rand()}`) });
  await failsFast('s3, wrong access key id', [/AWS_ACCESS_KEY_ID/]);
  await use(s3.backend, { ...s3.secret, AWS_SECRET_ACCESS_KEY: wrong(`wrong-s3-secret-${rand()}`) });
  await failsFast('s3, wrong secret key', [/AWS_SECRET_ACCESS_KEY/]);
  await use(s3.backend, { ...s3.secret, RESTIC_PASSWORD: wrong(`wrong-s3-pw-${rand()}`) });
  await failsFast('s3, wrong password', [/RESTIC_PASSWORD/]);
  await use(s3.backend, s3.secret);
  await succeeds('s3 after the fix');

  const argvs = sampler.stop();
  const events = (
    await Promise.all(Array.from({ length: n }, (_, i) => eventsFor(kube, ns, `app-backup-${i + 1}`)))
  ).flat();
  t.ok(events.filter((e) => e.reason === 'HostBackupFailed').length >= 7, 'a Warning event per failed host');
  const secrets = [
    ...wrongValues,
    local.secret.RESTIC_PASSWORD!,
    rest.secret.RESTIC_PASSWORD!,
    rest.secret.REST_SERVER_PASSWORD!,
    s3.secret.RESTIC_PASSWORD!,
    s3.secret.AWS_SECRET_ACCESS_KEY!,
  ];
  assertNoSecrets(t, secrets, { output: sidecar.output(), argvs, sessions, events });
});
