// The local pod runner: a stand-in for the kubelet in the dev/test world, where there is no container
// engine. It binds pending Pods to one local Node, runs the containers whose image it knows how to run
// (our agent image) as local processes — init containers first, in order — with the args and env the
// apiserver stored, writes Pod status, restarts per restartPolicy, and stops processes when Pods go.
// Containers of other images (the application's own) are NOT run: they are reported running and ready,
// and their data is simply the files in their mapped volumes.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { errorMessage } from '../../../shared/errors.ts';
import { isNotFound, type Kube, type KubeObject } from '../../../shared/kube/client.ts';
import { Informer } from '../../../shared/kube/informer.ts';
import { POD_IP, expand, resolveEnv } from './env.ts';
import { launchContainer, stopContainer } from './process.ts';
import type { Container, ContainerStatus, Pod } from './types.ts';
import { materializeVolumes, mountsFor, podDir } from './volumes.ts';

export interface ImageRecipe {
  /** The image's ENTRYPOINT; `node` means the project's Node 24. */
  entrypoint: string[];
  /** The image's ENV. */
  env?: Record<string, string>;
}

export interface RunnerOptions {
  kube: Kube;
  worldDir: string;
  /** Directory commands run in (the repository root, standing in for the image's WORKDIR). */
  workdir: string;
  nodeBinary: string;
  images: Record<string, ImageRecipe>;
  /** Handed to every container we run as KUBECONFIG, since no service-account token is mounted here. */
  kubeconfig: string;
  nodeName?: string;
  /** Only pods of this namespace (tests run several runners side by side); default all. */
  namespace?: string;
  log: Logger;
  /** Longest wait between restarts of a failing container. */
  maxBackoffMs?: number;
}

interface Run {
  pod: Pod;
  volumes: Map<string, string> | undefined;
  procs: Map<string, ChildProcess>;
  init: Map<string, ContainerStatus>;
  main: Map<string, ContainerStatus>;
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  initialized: boolean;
  stopping: boolean;
  startTime: string;
  message?: string;
  /** Status writes go out one at a time, each computed when it is sent, so a stale one never lands last. */
  writes: Promise<void>;
}

const now = () => new Date().toISOString();

/** Where a runner lists its container process groups; one file per node, so a second runner leaves the first's alone. */
export function runnerPidsFile(nodeName?: string): string {
  return nodeName ? `pod-runner-pids-${nodeName}.json` : 'pod-runner-pids.json';
}

/**
 * The required node affinity of a pod, as the scheduler reads it, for a node whose name is also its
 * kubernetes.io/hostname label: some term must hold, and every requirement of it (matchFields metadata.name,
 * matchExpressions on the hostname label; In and NotIn). Requirements on other labels do not hold here.
 */
export function nodeAffinityAdmits(pod: Pod, node: string): boolean {
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms?.length) return true;
  const holds = (r: { key: string; operator: string; values?: string[] }, value: string | undefined) =>
    r.operator === 'In'
      ? value !== undefined && (r.values ?? []).includes(value)
      : r.operator === 'NotIn'
        ? value === undefined || !(r.values ?? []).includes(value)
        : false;
  return terms.some(
    (t) =>
      (t.matchFields ?? []).every((r) => holds(r, r.key === 'metadata.name' ? node : undefined)) &&
      (t.matchExpressions ?? []).every((r) => holds(r, r.key === 'kubernetes.io/hostname' ? node : undefined)),
  );
}
/** Taints the node lifecycle controller keeps in step with the Node's conditions (lifted once Ready). */
const CONDITION_TAINTS = new Set(['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']);

export class PodRunner {
  readonly nodeName: string;
  readonly #o: RunnerOptions;
  readonly #runs = new Map<string, Run>();
  readonly #queue = new Map<string, Promise<void>>();
  readonly #informer: Informer<Pod>;
  readonly #stop = new AbortController();
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(o: RunnerOptions) {
    this.#o = o;
    this.nodeName = o.nodeName ?? 'stash-ts-local';
    this.#informer = new Informer<Pod>(o.kube, {
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: o.namespace,
      log: o.log,
      relistMs: 60_000,
    });
    const enqueue = (p: Pod) => this.#enqueue(p.metadata?.uid ?? '', () => this.#sync(p));
    this.#informer
      .on('add', enqueue)
      .on('update', enqueue)
      .on('delete', (p) => this.#enqueue(p.metadata?.uid ?? '', () => this.#forget(p)));
  }

  async start(): Promise<void> {
    await this.#ensureNode();
    this.#heartbeat = setInterval(
      () =>
        void this.#ensureNode().catch((err: unknown) =>
          this.#o.log.warn({ err: errorMessage(err) }, 'node heartbeat failed'),
        ),
      20_000,
    );
    this.#informer.start();
    await this.#informer.waitForSync();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    clearInterval(this.#heartbeat);
    await this.#informer.stop();
    await Promise.all([...this.#runs.values()].map((r) => this.#stopAll(r, 5_000)));
  }

  /** Pids of every process we run, for cleanup after a crash of the runner itself. */
  pids(): number[] {
    return [...this.#runs.values()].flatMap((r) => [...r.procs.values()].map((p) => p.pid ?? 0)).filter(Boolean);
  }

  #enqueue(key: string, fn: () => Promise<void>): void {
    const prev = this.#queue.get(key) ?? Promise.resolve();
    const next = prev
      .then(fn)
      .catch((err: unknown) => this.#o.log.error({ err: errorMessage(err), pod: key }, 'pod sync failed'));
    this.#queue.set(key, next);
    void next.then(() => {
      if (this.#queue.get(key) === next) this.#queue.delete(key);
    });
  }

  async #ensureNode(): Promise<void> {
    const { kube } = this.#o;
    type NodeObj = KubeObject & { spec?: { taints?: Array<{ key?: string; effect?: string }> } };
    const node =
      (await kube.getOrNull<NodeObj>('v1', 'Node', undefined, this.nodeName)) ??
      (await kube.create<NodeObj>({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: this.nodeName,
          labels: {
            'kubernetes.io/hostname': this.nodeName,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
          },
        },
        spec: {},
      }));
    const t = now();
    await kube.patch(
      'v1',
      'Node',
      undefined,
      this.nodeName,
      {
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'PodRunnerReady',
              message: 'local pod runner (dev/test stand-in for a kubelet)',
              lastHeartbeatTime: t,
              lastTransitionTime: t,
            },
          ],
          addresses: [
            { type: 'InternalIP', address: POD_IP },
            { type: 'Hostname', address: this.nodeName },
          ],
          capacity: { cpu: '2', memory: '24Gi', pods: '250' },
          allocatable: { cpu: '2', memory: '24Gi', pods: '250' },
          nodeInfo: {
            kubeletVersion: 'stash-ts-pod-runner',
            operatingSystem: 'linux',
            architecture: 'amd64',
            containerRuntimeVersion: 'local-process://0',
            kernelVersion: '',
            osImage: '',
            kubeProxyVersion: '',
            machineID: '',
            systemUUID: '',
            bootID: '',
          },
        },
      },
      { subresource: 'status' },
    );
    // The apiserver taints every new Node node.kubernetes.io/not-ready (TaintNodesByCondition); on a real cluster
    // the node lifecycle controller lifts it once the kubelet reports Ready. That controller is off in this world
    // (it would evict pods whenever a loaded machine delays a heartbeat), so the runner lifts it as the node
    // becomes Ready — else DaemonSets get no pods.
    const taints = node.spec?.taints ?? [];
    const kept = taints.filter((taint) => !CONDITION_TAINTS.has(taint.key ?? ''));
    if (kept.length !== taints.length)
      await kube.patch('v1', 'Node', undefined, this.nodeName, { spec: { taints: kept } });
  }

  async #sync(pod: Pod): Promise<void> {
    const uid = pod.metadata?.uid ?? '';
    const ns = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    if (!pod.spec?.nodeName) {
      if (pod.metadata?.deletionTimestamp) return;
      // Standing in for the scheduler's node-affinity filter: several runners (fake nodes) may share a world.
      if (!nodeAffinityAdmits(pod, this.nodeName)) return;
      await this.#o.kube
        .request({
          method: 'POST',
          path: `/api/v1/namespaces/${ns}/pods/${name}/binding`,
          body: {
            apiVersion: 'v1',
            kind: 'Binding',
            metadata: { name },
            target: { apiVersion: 'v1', kind: 'Node', name: this.nodeName },
          },
        })
        .catch((err: unknown) => this.#o.log.warn({ pod: `${ns}/${name}`, err: errorMessage(err) }, 'bind failed'));
      return;
    }
    if (pod.spec.nodeName !== this.nodeName) return;
    let run = this.#runs.get(uid);
    if (pod.metadata?.deletionTimestamp) {
      if (run) await this.#stopAll(run, Math.min(10, pod.spec.terminationGracePeriodSeconds ?? 30) * 1000);
      this.#runs.delete(uid);
      rmSync(podDir(this.#o.worldDir, pod), { recursive: true, force: true });
      await this.#o.kube
        .request({
          method: 'DELETE',
          path: `/api/v1/namespaces/${ns}/pods/${name}`,
          body: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid } },
        })
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
      return;
    }
    if (run) {
      run.pod = pod;
      return;
    }
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    run = {
      pod,
      volumes: undefined,
      procs: new Map(),
      init: new Map(),
      main: new Map(),
      phase: 'Pending',
      initialized: false,
      stopping: false,
      startTime: now(),
      writes: Promise.resolve(),
    };
    this.#runs.set(uid, run);
    void this.#runPod(run).catch((err: unknown) =>
      this.#o.log.error({ pod: `${ns}/${name}`, err: errorMessage(err) }, 'pod run failed'),
    );
  }

  async #forget(pod: Pod): Promise<void> {
    const run = this.#runs.get(pod.metadata?.uid ?? '');
    if (!run) return;
    await this.#stopAll(run, 2_000);
    this.#runs.delete(pod.metadata?.uid ?? '');
    rmSync(podDir(this.#o.worldDir, pod), { recursive: true, force: true });
  }

  async #stopAll(run: Run, graceMs: number): Promise<void> {
    run.stopping = true;
    await Promise.all([...run.procs.values()].map((p) => stopContainer(p, graceMs)));
    run.procs.clear();
    this.#savePids();
  }

  #savePids(): void {
    writeFileSync(join(this.#o.worldDir, runnerPidsFile(this.#o.nodeName)), JSON.stringify(this.pids()));
  }

  #runnable(c: Container): ImageRecipe | undefined {
    return c.image ? this.#o.images[c.image] : undefined;
  }

  async #runPod(run: Run): Promise<void> {
    const pod = run.pod;
    for (;;) {
      try {
        run.volumes = await materializeVolumes(this.#o.kube, this.#o.worldDir, pod);
        this.#serviceAccountDir(run);
        break;
      } catch (err) {
        run.message = errorMessage(err);
        const waiting = { waiting: { reason: 'ContainerCreating', message: run.message } };
        for (const c of pod.spec?.initContainers ?? []) run.init.set(c.name, this.#status(c, 0, waiting));
        for (const c of pod.spec?.containers ?? []) run.main.set(c.name, this.#status(c, 0, waiting));
        await this.#writeStatus(run);
        await sleep(2_000);
        if (run.stopping) return;
      }
    }
    run.message = undefined;
    for (const c of pod.spec?.containers ?? [])
      run.main.set(c.name, this.#status(c, 0, { waiting: { reason: 'PodInitializing' } }));
    for (const c of pod.spec?.initContainers ?? [])
      run.init.set(c.name, this.#status(c, 0, { waiting: { reason: 'PodInitializing' } }));
    await this.#writeStatus(run);

    for (const c of pod.spec?.initContainers ?? []) {
      let restarts = 0;
      for (;;) {
        if (run.stopping) return;
        const code = await this.#runToExit(run, c, run.init, restarts);
        if (code === 0) break;
        if (pod.spec?.restartPolicy === 'Never') {
          run.phase = 'Failed';
          await this.#writeStatus(run);
          return;
        }
        restarts++;
        await this.#backoff(run, restarts);
      }
    }
    run.initialized = true;
    run.phase = 'Running';
    const mains = (pod.spec?.containers ?? []).map((c) => this.#runMain(run, c));
    await this.#writeStatus(run);
    await Promise.all(mains);
    if (run.stopping) return;
    const statuses = [...run.main.values()];
    if (statuses.every((s) => s.state.terminated)) {
      run.phase = statuses.every((s) => s.state.terminated?.exitCode === 0) ? 'Succeeded' : 'Failed';
      await this.#writeStatus(run);
    }
  }

  async #backoff(run: Run, restarts: number): Promise<void> {
    const ms = Math.min(this.#o.maxBackoffMs ?? 10_000, 500 * 2 ** Math.min(restarts, 10));
    await sleep(ms);
  }

  /** Runs a regular container for the pod's lifetime, restarting it per restartPolicy. */
  async #runMain(run: Run, c: Container): Promise<void> {
    if (!this.#runnable(c)) {
      run.main.set(c.name, this.#status(c, 0, { running: { startedAt: now() } }, true));
      return;
    }
    let restarts = 0;
    for (;;) {
      if (run.stopping) return;
      const code = await this.#runToExit(run, c, run.main, restarts);
      if (run.stopping) return;
      const policy = run.pod.spec?.restartPolicy ?? 'Always';
      if (policy === 'Never' || (policy === 'OnFailure' && code === 0)) return;
      restarts++;
      await this.#backoff(run, restarts);
    }
  }

  async #runToExit(run: Run, c: Container, table: Map<string, ContainerStatus>, restarts: number): Promise<number> {
    const recipe = this.#runnable(c);
    const startedAt = now();
    if (!recipe) {
      table.set(
        c.name,
        this.#status(c, restarts, {
          terminated: {
            exitCode: 0,
            reason: 'Completed',
            message: 'not run: the local pod runner runs only the agent image',
            startedAt,
            finishedAt: now(),
          },
        }),
      );
      await this.#writeStatus(run);
      return 0;
    }
    const pod = run.pod;
    let env: Record<string, string>;
    let argv: string[];
    let mounts;
    try {
      env = await resolveEnv(this.#o.kube, pod, c);
      const entry = c.command ?? recipe.entrypoint;
      argv = [...entry, ...(c.args ?? [])].map((a) => expand(a, env));
      if (argv[0] === 'node') argv[0] = this.#o.nodeBinary;
      mounts = mountsFor(c, run.volumes!);
      mounts.push({
        source: join(podDir(this.#o.worldDir, pod), 'serviceaccount'),
        target: '/var/run/secrets/kubernetes.io/serviceaccount',
        readOnly: true,
      });
    } catch (err) {
      table.set(
        c.name,
        this.#status(c, restarts, { waiting: { reason: 'CreateContainerConfigError', message: errorMessage(err) } }),
      );
      await this.#writeStatus(run);
      return 1;
    }
    const logFile = join(
      this.#o.worldDir,
      'logs',
      'pods',
      `${pod.metadata?.namespace}_${pod.metadata?.name}_${c.name}.log`,
    );
    const child = launchContainer({
      hostname: pod.metadata?.name ?? 'pod',
      argv,
      mounts,
      cwd: this.#o.workdir,
      logFile,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: '/root',
        HOSTNAME: pod.metadata?.name ?? '',
        ...recipe.env,
        KUBECONFIG: this.#o.kubeconfig,
        ...env,
      },
    });
    run.procs.set(c.name, child);
    this.#savePids();
    table.set(c.name, this.#status(c, restarts, { running: { startedAt } }, true));
    await this.#writeStatus(run);
    const code = await new Promise<number>((resolve) =>
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + 9 : 1))),
    );
    run.procs.delete(c.name);
    this.#savePids();
    if (!run.stopping) {
      table.set(
        c.name,
        this.#status(c, restarts, {
          terminated: { exitCode: code, reason: code === 0 ? 'Completed' : 'Error', startedAt, finishedAt: now() },
        }),
      );
      await this.#writeStatus(run);
    }
    return code;
  }

  /** What the kubelet would mount for the pod's service account: the namespace and the cluster CA. */
  #serviceAccountDir(run: Run): void {
    const dir = join(podDir(this.#o.worldDir, run.pod), 'serviceaccount');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'namespace'), run.pod.metadata?.namespace ?? 'default');
    const caFile = join(this.#o.worldDir, 'pki', 'ca.crt');
    try {
      writeFileSync(join(dir, 'ca.crt'), readFileSync(caFile));
    } catch {
      /* no CA file: fine */
    }
  }

  #status(c: Container, restartCount: number, state: ContainerStatus['state'], ready = false): ContainerStatus {
    return {
      name: c.name,
      image: c.image ?? '',
      imageID: c.image ? `local://${c.image}` : '',
      ready: ready && !!state.running,
      started: !!state.running,
      restartCount,
      state,
    };
  }

  async #writeStatus(run: Run): Promise<void> {
    run.writes = run.writes.then(() => this.#sendStatus(run));
    await run.writes;
  }

  async #sendStatus(run: Run): Promise<void> {
    if (run.stopping) return;
    const pod = run.pod;
    const t = now();
    const mains = [...run.main.values()];
    const ready = run.phase === 'Running' && mains.length > 0 && mains.every((s) => s.ready);
    const cond = (type: string, ok: boolean, reason?: string) => ({
      type,
      status: ok ? 'True' : 'False',
      lastTransitionTime: t,
      ...(reason && !ok ? { reason } : {}),
    });
    const status = {
      phase: run.phase,
      hostIP: POD_IP,
      podIP: POD_IP,
      podIPs: [{ ip: POD_IP }],
      startTime: run.startTime,
      conditions: [
        cond('PodScheduled', true),
        cond('Initialized', run.initialized, 'ContainersNotInitialized'),
        cond('ContainersReady', ready, 'ContainersNotReady'),
        cond('Ready', ready, 'ContainersNotReady'),
      ],
      initContainerStatuses: (pod.spec?.initContainers ?? []).map((c) => run.init.get(c.name)).filter(Boolean),
      containerStatuses: (pod.spec?.containers ?? []).map((c) => run.main.get(c.name)).filter(Boolean),
      ...(run.message ? { message: run.message } : {}),
    };
    try {
      await this.#o.kube.patch(
        'v1',
        'Pod',
        pod.metadata?.namespace,
        pod.metadata?.name ?? '',
        { status },
        { subresource: 'status' },
      );
    } catch (err) {
      if (!isNotFound(err))
        this.#o.log.warn(
          { pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, err: errorMessage(err) },
          'pod status write failed',
        );
    }
  }
}
