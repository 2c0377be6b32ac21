// The plugin's restic work on a Repository whose local volume only a pod can mount (a PVC, NFS, a hostPath of
// another machine): a short-lived pod of the agent image mounts the volume (read-only unless the command
// writes), and every restic call runs in it through `kubectl exec` — shared/restic/command.ts takes the exec as
// a command prefix, so output parsing, exit codes and error classification are the ones of a local run. A
// download restores into the pod's emptyDir and streams it out as tar. The pod is deleted on every way out
// (done, failed, Ctrl-C); leftovers of a killed plugin carry the labels below and belong to the Repository.
// Why kubectl and not our own exec client: docs/decisions/0016-repository-pods.md.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { LABEL } from '../shared/api/constants.ts';
import type { KubeObject } from '../shared/kube/client.ts';
import { errorMessage } from '../shared/errors.ts';
import type { OpenedRepository, RepositoryObject } from '../shared/repository/open.ts';
import {
  POD_SCRATCH,
  REPOSITORY_PATH,
  RESTIC_CONTAINER as CONTAINER,
  repositoryPodSpec,
} from '../shared/repository/pod-spec.ts';
import { ResolvedRepository } from '../shared/restic/backend.ts';
import { Restic } from '../shared/restic/command.ts';
import type { LockInfo } from '../shared/restic/output.ts';
import { CliError, EXIT, type Cli } from './context.ts';

export { POD_SCRATCH };
export const POD_COMPONENT = 'kubectl-stash-repository';
/**
 * The pod's one process only waits for execs; it ends on its own after this long, so the pod of a plugin that was
 * SIGKILLed stops using the node (its object stays, labelled, until the Repository or a user removes it).
 */
const LIFETIME_S = 6 * 3600;
const START_TIMEOUT_MS = 180_000;

type PodObject = KubeObject & {
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }>;
    containerStatuses?: Array<{
      ready?: boolean;
      state?: {
        waiting?: { reason?: string; message?: string };
        terminated?: { reason?: string; exitCode?: number };
      };
    }>;
  };
};

export interface RepositoryPod extends OpenedRepository {
  podName: string;
  /** Copies the pod's `POD_SCRATCH/<rel>` into `localDir/<rel>` (modes and symlinks kept, owned by the user). */
  copyOut(rel: string, localDir: string, signal?: AbortSignal): Promise<void>;
  /** Deletes one lock file in the repository (the volume is mounted read-write for commands that remove locks). */
  removeLock(lock: LockInfo): Promise<void>;
  /** Milliseconds from the pod's create to its container running (for the summary). */
  startMs: number;
}

/** The agent image: --agent-image, else the operator's STASH_AGENT_IMAGE (its Deployment, found by label). */
export async function agentImage(cli: Cli): Promise<string> {
  if (cli.agentImage) return cli.agentImage;
  type Deployment = KubeObject & {
    spec?: { template?: { spec?: { containers?: Array<{ env?: Array<{ name: string; value?: string }> }> } } };
  };
  let found: Deployment[];
  try {
    found = (
      await cli.kube.list<Deployment>('apps/v1', 'Deployment', undefined, {
        labelSelector: 'app.kubernetes.io/name=stash-ts-operator',
      })
    ).items;
  } catch (err) {
    throw new CliError(
      EXIT.failed,
      `cannot read the operator's Deployment to learn the agent image (${errorMessage(err)}): pass --agent-image`,
    );
  }
  for (const d of found)
    for (const c of d.spec?.template?.spec?.containers ?? [])
      for (const e of c.env ?? []) if (e.name === 'STASH_AGENT_IMAGE' && e.value) return e.value;
  throw new CliError(EXIT.failed, 'no stash-ts operator Deployment names STASH_AGENT_IMAGE: pass --agent-image');
}

/** The kubectl arguments that reach the same cluster as the plugin's own client. */
function kubectlBase(cli: Cli): string[] {
  const src = cli.kube.connection.source;
  return src.kind === 'file' ? ['--kubeconfig', src.path] : [];
}

/** Env for kubectl: a private HOME (its discovery cache), PATH, and the in-cluster address when there is no file. */
function kubectlEnv(cli: Cli, home: string): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home };
  if (cli.kube.connection.source.kind === 'in-cluster')
    for (const k of ['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT'])
      if (process.env[k]) env[k] = process.env[k]!;
  return env;
}

/** Why a pod cannot start, once that is certain (an image that cannot be pulled, a claim that does not exist). */
function stuck(p: PodObject): string | undefined {
  if (p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded')
    return `it ended (${p.status.phase}${p.status.reason ? `: ${p.status.reason}` : ''})`;
  const w = p.status?.containerStatuses?.[0]?.state?.waiting;
  if (
    w &&
    /ErrImagePull|ImagePullBackOff|InvalidImageName|CreateContainerConfigError|CreateContainerError/.test(
      w.reason ?? '',
    )
  )
    return `${w.reason}: ${w.message ?? ''}`.trim();
  return undefined;
}

async function waitRunning(cli: Cli, ns: string, name: string, signal: AbortSignal): Promise<void> {
  const end = Date.now() + START_TIMEOUT_MS;
  let last: PodObject | null = null;
  while (Date.now() < end) {
    if (signal.aborted) throw new CliError(EXIT.failed, 'interrupted');
    last = await cli.kube.getOrNull<PodObject>('v1', 'Pod', ns, name);
    if (!last) throw new CliError(EXIT.failed, `pod ${ns}/${name} disappeared before it started`);
    if (last.status?.phase === 'Running' && last.status.containerStatuses?.[0]?.ready) return;
    const why = stuck(last);
    if (why) throw new CliError(EXIT.failed, `pod ${ns}/${name} cannot run: ${why}`);
    await sleep(250, undefined, { signal }).catch(() => undefined);
  }
  const cond = last?.status?.conditions?.find((c) => c.status === 'False' && c.message);
  throw new CliError(
    EXIT.failed,
    `pod ${ns}/${name} did not start in ${START_TIMEOUT_MS / 1000} s${cond ? `: ${cond.reason}: ${cond.message}` : ''}`,
  );
}

/** Runs `argv` in the pod; resolves with its stdout, rejects with its stderr. Never carries a secret. */
function execIn(cli: Cli, env: Record<string, string>, ns: string, pod: string, argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cli.kubectl, [...kubectlBase(cli), 'exec', '-n', ns, pod, '-c', CONTAINER, '--', ...argv], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(err.trim() || `exit ${code}`))));
  });
}

/**
 * Who owns the repository on the volume (its `config`, else the mounted directory): restic's local backend
 * writes owner-only files, so the pod has to run as that user to read them.
 */
async function repositoryOwner(
  cli: Cli,
  env: Record<string, string>,
  ns: string,
  pod: string,
): Promise<{ uid: number; gid: number } | undefined> {
  for (const p of [`${REPOSITORY_PATH}/config`, REPOSITORY_PATH]) {
    const out = await execIn(cli, env, ns, pod, ['stat', '-L', '-c', '%u %g', p]).catch(() => undefined);
    const m = out ? /^(\d+) (\d+)/.exec(out.trim()) : null;
    if (m) return { uid: Number(m[1]), gid: Number(m[2]) };
  }
  return undefined;
}

async function deletePod(cli: Cli, ns: string, name: string): Promise<void> {
  const t0 = Date.now();
  try {
    await cli.kube.delete('v1', 'Pod', ns, name, { gracePeriodSeconds: 1 });
    // Wait a little so that "the command ended" means "its pod is gone"; a slow node does not fail the command.
    const end = Date.now() + 30_000;
    while (Date.now() < end && (await cli.kube.getOrNull('v1', 'Pod', ns, name))) await sleep(250);
    cli.err(`pod ${ns}/${name} deleted (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (err) {
    cli.err(
      `warning: could not delete pod ${ns}/${name} (${errorMessage(err)}); ` +
        `remove leftovers with: kubectl delete pod -n ${ns} -l ${LABEL.component}=${POD_COMPONENT}`,
    );
  }
}

/**
 * Starts the pod and waits until it runs; when the repository belongs to another user than the pod runs as, the
 * pod is started again as that user. `close()` deletes it.
 */
export async function openRepositoryInPod(
  cli: Cli,
  repo: RepositoryObject,
  o: { writable: boolean; scratch: string },
): Promise<RepositoryPod> {
  const ns = repo.metadata!.namespace!;
  const image = await agentImage(cli);
  const env = kubectlEnv(cli, o.scratch);
  const signal = cli.signal;
  let user: { uid: number; gid: number } | undefined;
  for (let attempt = 0; ; attempt++) {
    const t0 = Date.now();
    const created = await cli.kube.create<KubeObject>(
      repositoryPodSpec({
        repo,
        image,
        writable: o.writable,
        user,
        command: ['sleep', String(LIFETIME_S)],
        component: POD_COMPONENT,
        managedBy: 'kubectl-stash',
        generateName: `stash-cli-${repo.metadata!.name!.slice(0, 40)}-`,
      }),
    );
    const pod = created.metadata!.name!;
    let keep = false;
    try {
      cli.err(
        `started pod ${ns}/${pod} (${image}) to reach the Repository's volume${o.writable ? '' : ' read-only'} …`,
      );
      await waitRunning(cli, ns, pod, signal);
      const startMs = Date.now() - t0;
      const owner = await repositoryOwner(cli, env, ns, pod);
      const ran = user?.uid ?? Number((await execIn(cli, env, ns, pod, ['id', '-u'])).trim());
      if (owner && owner.uid !== ran && attempt === 0) {
        if (owner.uid === 0)
          throw new CliError(
            EXIT.failed,
            `the repository on the volume belongs to root; a pod of the restricted Pod Security level cannot read it`,
          );
        cli.err(`the repository belongs to uid ${owner.uid}; starting the pod again as that user …`);
        user = owner;
        continue;
      }
      keep = true;
      cli.err(`pod ${pod} running ${(startMs / 1000).toFixed(1)} s after it was created`);
      const restic = new Restic({
        repo: new ResolvedRepository({
          kind: 'local',
          repository: REPOSITORY_PATH,
          display: `${REPOSITORY_PATH} in pod ${ns}/${pod}`,
          env: {},
          globalArgs: [],
          // Lock files are removed through the pod (removeLock), not from this machine.
          access: { kind: 'unsupported', backend: 'local' },
          secrets: [],
          files: [],
        }),
        bin: 'restic',
        cache: false,
        home: o.scratch,
        tmpDir: o.scratch,
        commandPrefix: [cli.kubectl, ...kubectlBase(cli), 'exec', '-n', ns, pod, '-c', CONTAINER, '--'],
        extraEnv: Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('KUBERNETES_'))),
      });
      return {
        restic,
        display: `Repository ${ns}/${repo.metadata?.name} (through pod ${pod})`,
        podName: pod,
        startMs,
        close: () => deletePod(cli, ns, pod),
        removeLock: async (lock) => {
          if (!/^[0-9a-f]{64}$/.test(lock.id)) throw new Error(`refusing to delete ${JSON.stringify(lock.id)}`);
          await execIn(cli, env, ns, pod, ['rm', '-f', '--', `${REPOSITORY_PATH}/locks/${lock.id}`]);
        },
        copyOut: (rel, localDir, sig) => copyOut(cli, env, ns, pod, rel, localDir, sig ?? signal),
      };
    } finally {
      if (!keep) await deletePod(cli, ns, pod);
    }
  }
}

/** `tar -c` in the pod piped into `tar -x` here; both must exit 0. */
async function copyOut(
  cli: Cli,
  env: Record<string, string>,
  ns: string,
  pod: string,
  rel: string,
  localDir: string,
  signal: AbortSignal,
): Promise<void> {
  if (rel.includes('/') || rel.startsWith('.') || !rel) throw new Error(`not a plain directory name: ${rel}`);
  await mkdir(localDir, { recursive: true });
  const src = spawn(
    cli.kubectl,
    [...kubectlBase(cli), 'exec', '-n', ns, pod, '-c', CONTAINER, '--', 'tar', '-C', POD_SCRATCH, '-cf', '-', rel],
    { env, stdio: ['ignore', 'pipe', 'pipe'], signal },
  );
  // Files belong to whoever runs the plugin; modes and symlinks are kept as restic restored them.
  const dst = spawn('tar', ['-C', localDir, '-xpf', '-', '--no-same-owner'], {
    env: { PATH: env.PATH ?? '' },
    stdio: ['pipe', 'ignore', 'pipe'],
    signal,
  });
  let srcErr = '';
  let dstErr = '';
  src.stderr.on('data', (d: Buffer) => (srcErr += d.toString()));
  dst.stderr.on('data', (d: Buffer) => (dstErr += d.toString()));
  src.stdout.pipe(dst.stdin);
  const ignore = () => undefined;
  src.on('error', ignore);
  dst.on('error', ignore);
  dst.stdin.on('error', ignore);
  const [[srcCode], [dstCode]] = (await Promise.all([once(src, 'close'), once(dst, 'close')])) as [
    [number | null],
    [number | null],
  ];
  if (signal.aborted) throw new CliError(EXIT.failed, 'interrupted');
  if (srcCode !== 0) throw new CliError(EXIT.failed, `copying out of pod ${pod} failed: ${srcErr.trim() || srcCode}`);
  if (dstCode !== 0) throw new CliError(EXIT.failed, `extracting into ${localDir} failed: ${dstErr.trim() || dstCode}`);
}
