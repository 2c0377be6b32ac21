// Test support for the guide tests (test/integration/guide-*.test.ts): each test follows one of upstream Stash's
// documentation guides (stashed/docs, docs/guides/) and applies the objects the guide applies, written in the
// test. What this world cannot have is replaced here, once, and said so where it is used:
//  - cloud backends (GCS, …) become a local-directory Repository (`local.hostPath` under the world dir);
//  - application containers are not run by the pod runner (our kubelet stand-in runs only the agent image), so
//    the files the guide's busybox command would write are written into the claim's directory by the test;
//  - a guide that waits for its cron slot (`*/5 * * * *`) gets the slot now: the test starts a Job from the
//    trigger CronJob's own jobTemplate (what `kubectl create job --from=cronjob/…` does), so the session is the
//    one the schedule would create, by our real `create-backupsession` in a pod;
//  - Slack's incoming webhook (HTTPS on hooks.slack.com) is a loopback HTTP server (`slackWebhook`).
// Not imported by product code.
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { apiVersionOf } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { fillClaim, finished, until, type E2EWorld, type SessionObj } from './e2e-world.ts';

export const BC = apiVersionOf('BackupConfiguration');
export const BS = apiVersionOf('BackupSession');
export const RS = apiVersionOf('RestoreSession');
export const REPO = apiVersionOf('Repository');

type Phased = KubeObject & {
  status?: {
    phase?: string;
    snapshotCount?: number;
    conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }>;
  };
};

/** `kubectl create ns demo` for the test's own namespace (each test takes the guide's `demo` plus a suffix). */
export async function namespace(w: E2EWorld, ns: string): Promise<void> {
  await w.kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
}

/**
 * The guide's storage Secret and Repository, on the local backend instead of the guide's cloud bucket (no cloud
 * here): the Secret keeps the guide's RESTIC_PASSWORD `changeit` and drops the cloud credentials; the Repository
 * keeps its name and `storageSecretName` and stores in a directory of this world (the local-backend guide's
 * mountPath `/safe/data`). Returns the repository directory.
 */
export async function guideRepository(w: E2EWorld, ns: string, name: string, secret: string): Promise<string> {
  const dir = join(w.dir, 'repositories', ns, name);
  mkdirSync(dir, { recursive: true });
  await w.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: secret, namespace: ns },
    stringData: { RESTIC_PASSWORD: 'changeit' },
  });
  await w.kube.create({
    apiVersion: REPO,
    kind: 'Repository',
    metadata: { name, namespace: ns },
    spec: { backend: { local: { mountPath: '/safe/data', hostPath: { path: dir } }, storageSecretName: secret } },
  });
  return dir;
}

/** A PersistentVolumeClaim as the guide writes it, with the files its application would have written. */
export async function claimWithFiles(
  w: E2EWorld,
  ns: string,
  claim: KubeObject,
  files: Record<string, string | Buffer>,
): Promise<string> {
  const dir = fillClaim(w, ns, claim.metadata?.name ?? '', files);
  await w.kube.create({ ...claim, metadata: { ...claim.metadata, namespace: ns } });
  return dir;
}

export async function phaseIs(
  w: E2EWorld,
  apiVersion: string,
  kind: string,
  ns: string,
  name: string,
  phase: string,
  ms = 90_000,
): Promise<Phased> {
  return await until(
    `${kind} ${ns}/${name} ${phase}`,
    async () => {
      const o = await w.kube.get<Phased>(apiVersion, kind, ns, name);
      return o.status?.phase === phase ? o : undefined;
    },
    ms,
  );
}

type PodObj = KubeObject & {
  spec?: { containers?: Array<{ name: string }>; initContainers?: Array<{ name: string }> };
  status?: { phase?: string; containerStatuses?: Array<{ name: string; ready?: boolean }> };
};

/** `kubectl get pod`: the live pods with label app=<app>, once there are `count` of them Running (2/2 with the sidecar). */
export async function podsRunning(
  w: E2EWorld,
  ns: string,
  app: string,
  count: number,
  opts: { sidecar?: boolean; ms?: number } = {},
): Promise<PodObj[]> {
  return await until(
    `${count} pods of ${app} running${opts.sidecar ? ' with the stash sidecar' : ''}`,
    async () => {
      const pods = (await w.kube.list<PodObj>('v1', 'Pod', ns, { labelSelector: `app=${app}` })).items.filter(
        (p) => !p.metadata?.deletionTimestamp,
      );
      if (pods.length !== count) return false;
      const ok = pods.every(
        (p) =>
          p.status?.phase === 'Running' &&
          (opts.sidecar === undefined || opts.sidecar === (p.spec?.containers ?? []).some((c) => c.name === 'stash')) &&
          (!opts.sidecar || p.status.containerStatuses?.some((c) => c.name === 'stash' && c.ready)),
      );
      return ok ? pods : false;
    },
    opts.ms ?? 120_000,
  );
}

/**
 * The backup the guide waits for at its next cron slot, now: a Job made from the trigger CronJob's jobTemplate,
 * run by the pod runner (our `create-backupsession` in the agent image). Returns the session it created.
 */
export async function nextScheduledBackup(w: E2EWorld, ns: string, invoker: string, ms = 150_000): Promise<SessionObj> {
  const cronName = `stash-trigger-${invoker.replace(/\./g, '-')}`.slice(0, 52).replace(/-+$/, '');
  const cj = await w.kube.get<
    KubeObject & { spec: { jobTemplate: { metadata?: { labels?: Record<string, string> }; spec: unknown } } }
  >('batch/v1', 'CronJob', ns, cronName);
  const before = new Set((await sessionsOf(w, ns, invoker)).map((s) => s.metadata?.name));
  const job = `${cronName}-now-${Date.now().toString(36)}`.slice(0, 63);
  await w.kube.create({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: job,
      namespace: ns,
      labels: cj.spec.jobTemplate.metadata?.labels,
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: cronName, uid: cj.metadata?.uid ?? '' }],
    },
    spec: cj.spec.jobTemplate.spec,
  });
  const created = await until(
    `a BackupSession of ${invoker} from Job ${job}`,
    async () => (await sessionsOf(w, ns, invoker)).find((s) => !before.has(s.metadata?.name)),
    60_000,
  );
  return await finished<SessionObj>(w, BS, 'BackupSession', ns, created.metadata?.name ?? '', ms);
}

/** `kubectl get backupsession -l stash.appscode.com/invoker-name=<invoker>`. */
export async function sessionsOf(w: E2EWorld, ns: string, invoker: string): Promise<SessionObj[]> {
  return (await w.kube.list<SessionObj>(BS, 'BackupSession', ns)).items.filter(
    (s) => (s.spec as { invoker?: { name?: string } } | undefined)?.invoker?.name === invoker,
  );
}

/** `kubectl get repository`: its SNAPSHOT-COUNT column once the last session's post-backup actions wrote it. */
export async function snapshotCount(
  w: E2EWorld,
  ns: string,
  repo: string,
  expected: number,
  ms = 60_000,
): Promise<number> {
  const r = await until(
    `Repository ${ns}/${repo} to show ${expected} snapshots`,
    async () => {
      const o = await w.kube.get<Phased>(REPO, 'Repository', ns, repo);
      return o.status?.snapshotCount === expected ? o : undefined;
    },
    ms,
  );
  return r.status?.snapshotCount ?? -1;
}

/**
 * The project's promise (issue #15): no session ends a test Running. Called as a test's story ends: every
 * BackupSession, RestoreSession and RestoreBatch of the namespace has a final phase.
 */
export async function noSessionLeftRunning(
  t: { same(a: unknown, b: unknown, msg: string): void },
  w: E2EWorld,
  ns: string,
  graceMs = 60_000,
): Promise<void> {
  const unfinished = async (): Promise<string[]> => {
    const open: string[] = [];
    for (const [apiVersion, kind] of [
      [BS, 'BackupSession'],
      [RS, 'RestoreSession'],
      [apiVersionOf('RestoreBatch'), 'RestoreBatch'],
    ] as const) {
      for (const o of (await w.kube.list<Phased>(apiVersion, kind, ns)).items) {
        const p = o.status?.phase;
        if (p !== 'Succeeded' && p !== 'Failed' && p !== 'Skipped')
          open.push(`${kind} ${o.metadata?.name}: ${p ?? '(no phase)'}`);
      }
    }
    return open;
  };
  // A session a schedule started just before the pause may still be finishing: it gets a grace period, not more.
  const end = Date.now() + graceMs;
  let open = await unfinished();
  while (open.length && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 500));
    open = await unfinished();
  }
  t.same(open, [], `no session of ${ns} is left unfinished`);
}

export interface HookCall {
  method: string;
  path: string;
  body: string;
  contentType: string | undefined;
  at: number;
}

/**
 * A loopback HTTP server standing in for Slack's incoming webhook (no Internet here): records every request and
 * answers 200, or 500 for a path in `fail`. Closed when the test ends.
 */
export async function slackWebhook(t: {
  teardown(fn: () => unknown): void;
}): Promise<{ port: number; calls: HookCall[]; fail: Set<string> }> {
  const calls: HookCall[] = [];
  const fail = new Set<string>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      calls.push({
        method: req.method ?? '',
        path: req.url ?? '',
        body,
        contentType: req.headers['content-type'],
        at: Date.now(),
      });
      res.writeHead(fail.has(req.url ?? '') ? 500 : 200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as AddressInfo).port, calls, fail };
}
