// The dev/test pod runner (a stand-in for the kubelet) against the real control plane: kube-controller-
// manager makes Pods from Deployments and Jobs, the runner binds them to its Node and runs the containers
// of the image it knows (here a probe image) as local processes with the stored args, env and volumes.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../shared/log.ts';
import type { KubeObject } from '../../shared/kube/client.ts';
import { REPO_ROOT } from '../world/bins.ts';
import { PodRunner } from '../world/pod-runner/runner.ts';
import { pvcDir } from '../world/pod-runner/volumes.ts';
import type { Pod } from '../world/pod-runner/types.ts';
import { useCluster } from '../world/harness.ts';
import { until } from '../support/until.ts';

const PROBE = 'stash-ts/probe:test';

t.test('pod runner plays the kubelet for the probe image', async (t) => {
  const { kube, namespace, state } = await useCluster(t);
  const out = mkdtempSync(join(tmpdir(), 'pod-runner-out-'));
  const worldDir = mkdtempSync(join(tmpdir(), 'pod-runner-world-'));
  mkdirSync(join(worldDir, 'logs'), { recursive: true });
  t.teardown(() => {
    rmSync(out, { recursive: true, force: true });
    rmSync(worldDir, { recursive: true, force: true });
  });
  const runner = new PodRunner({
    kube,
    worldDir,
    workdir: REPO_ROOT,
    nodeBinary: join(REPO_ROOT, 'node_modules', '.bin', 'node'),
    kubeconfig: state.kubeconfig,
    namespace,
    nodeName: `runner-${namespace}`,
    log: createLogger({ level: 'silent' }),
    maxBackoffMs: 500,
    images: {
      [PROBE]: { entrypoint: ['node', 'test/world/pod-runner/testdata/probe.ts'], env: { MY_IMAGE_ENV: 'from-image' } },
    },
  });
  await runner.start();
  t.teardown(() => runner.stop());

  await kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'creds', namespace },
    stringData: { password: 's3cret', 'config.txt': 'hello' },
  });
  mkdirSync(pvcDir(worldDir, namespace, 'data'), { recursive: true });
  writeFileSync(join(pvcDir(worldDir, namespace, 'data'), 'site.txt'), 'wordpress');
  const probe = (name: string, args: string[], extraEnv: object[] = []) => ({
    name,
    image: PROBE,
    args,
    env: [
      { name: 'PROBE_NAME', value: name },
      { name: 'PROBE_OUT', value: '/probe-out' },
      { name: 'PROBE_LOOK', value: '/data,/etc/creds' },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'MY_PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
      { name: 'MY_EXPANDED', value: 'pod=$(POD_NAME)' },
      ...extraEnv,
    ],
    volumeMounts: [
      { name: 'out', mountPath: '/probe-out' },
      { name: 'data', mountPath: '/data' },
      { name: 'creds', mountPath: '/etc/creds', readOnly: true },
    ],
  });
  await kube.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          initContainers: [probe('init', ['restore', '--exit=0'])],
          containers: [
            { name: 'app', image: 'wordpress:6' },
            probe('sidecar', ['run-backup', '--sleep', '--target-name=$(POD_NAME)']),
          ],
          volumes: [
            { name: 'out', hostPath: { path: out } },
            { name: 'data', persistentVolumeClaim: { claimName: 'data' } },
            { name: 'creds', secret: { secretName: 'creds' } },
          ],
        },
      },
    },
  });

  const dep = await until(
    'deployment available',
    async () => {
      const d = await kube.get<KubeObject & { status?: { availableReplicas?: number } }>(
        'apps/v1',
        'Deployment',
        namespace,
        'web',
      );
      return (d.status?.availableReplicas ?? 0) >= 1 ? d : undefined;
    },
    60_000,
  ).catch(async (err: unknown) => {
    // Say why: the pods' status and the containers' logs.
    const pods = await kube.list<Pod>('v1', 'Pod', namespace);
    t.comment(
      JSON.stringify(
        pods.items.map((p) => ({ name: p.metadata?.name, node: p.spec?.nodeName, status: p.status })),
        null,
        1,
      ),
    );
    throw err;
  });
  t.ok(dep, 'the Deployment became available: its pod is Running and Ready');
  const pods = await kube.list<Pod>('v1', 'Pod', namespace, { labelSelector: 'app=web' });
  const pod = pods.items[0]!;
  t.equal(pod.spec?.nodeName, `runner-${namespace}`, 'bound to the runner node');
  t.equal(pod.status?.phase, 'Running');
  t.equal(pod.status?.initContainerStatuses?.[0]?.state.terminated?.exitCode, 0, 'init container completed');

  const init = JSON.parse(readFileSync(join(out, 'init.json'), 'utf8'));
  const side = await until(
    'sidecar report',
    async () => existsSync(join(out, 'sidecar.json')) && JSON.parse(readFileSync(join(out, 'sidecar.json'), 'utf8')),
  );
  t.ok(init.at <= side.at, 'init container ran before the sidecar started');
  t.same(
    side.argv,
    ['run-backup', '--sleep', `--target-name=${pod.metadata?.name}`],
    'args as stored, with $(VAR) expanded',
  );
  t.equal(side.env.POD_NAME, pod.metadata?.name, 'downward API metadata.name');
  t.equal(side.env.NODE_NAME, `runner-${namespace}`, 'downward API spec.nodeName');
  t.equal(side.env.MY_PASSWORD, 's3cret', 'secretKeyRef resolved');
  t.equal(side.env.MY_IMAGE_ENV, 'from-image', "the image's ENV is present");
  t.equal(side.env.MY_EXPANDED, `pod=${pod.metadata?.name}`);
  t.same(side.files['/data'], ['site.txt=wordpress'], 'PVC volume mapped to its directory at the mount path');
  t.same(side.files['/etc/creds'].sort(), ['config.txt=hello', 'password=s3cret'], 'Secret volume files');
  t.equal(side.namespaceFile, namespace, 'service-account namespace file as a kubelet mounts it');
  t.equal(side.hostname, pod.metadata?.name, 'the container sees its pod name as hostname, as in a pod');

  // Deleting the Deployment: GC deletes the pod, the runner stops the process (SIGTERM) and finalizes the delete.
  await kube.delete('apps/v1', 'Deployment', namespace, 'web');
  await until('sidecar terminated', async () => existsSync(join(out, 'sidecar.terminated')), 60_000);
  await until(
    'pod gone',
    async () => (await kube.list('v1', 'Pod', namespace, { labelSelector: 'app=web' })).items.length === 0,
    60_000,
  );
  t.pass('pod process stopped and pod deleted');
});

t.test(
  'a failing init container is restarted and holds the pod in Pending; a Job pod runs to completion',
  async (t) => {
    const { kube, namespace, state } = await useCluster(t);
    const out = mkdtempSync(join(tmpdir(), 'pod-runner-out-'));
    const worldDir = mkdtempSync(join(tmpdir(), 'pod-runner-world-'));
    t.teardown(() => {
      rmSync(out, { recursive: true, force: true });
      rmSync(worldDir, { recursive: true, force: true });
    });
    const runner = new PodRunner({
      kube,
      worldDir,
      workdir: REPO_ROOT,
      nodeBinary: join(REPO_ROOT, 'node_modules', '.bin', 'node'),
      kubeconfig: state.kubeconfig,
      namespace,
      nodeName: `runner-${namespace}`,
      log: createLogger({ level: 'silent' }),
      maxBackoffMs: 300,
      images: { [PROBE]: { entrypoint: ['node', 'test/world/pod-runner/testdata/probe.ts'] } },
    });
    await runner.start();
    t.teardown(() => runner.stop());
    const env = (name: string) => [
      { name: 'PROBE_NAME', value: name },
      { name: 'PROBE_OUT', value: '/probe-out' },
    ];
    const mounts = [{ name: 'out', mountPath: '/probe-out' }];
    const volumes = [{ name: 'out', hostPath: { path: out } }];

    await kube.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'stuck', namespace },
      spec: {
        initContainers: [{ name: 'init', image: PROBE, args: ['--exit=3'], env: env('init'), volumeMounts: mounts }],
        containers: [{ name: 'app', image: 'nginx' }],
        volumes,
      },
    });
    const stuck = await until('init restarts', async () => {
      const p = await kube.get<Pod>('v1', 'Pod', namespace, 'stuck');
      return (p.status?.initContainerStatuses?.[0]?.restartCount ?? 0) >= 2 ? p : undefined;
    });
    t.equal(stuck.status?.phase, 'Pending', 'pod stays Pending while its init container fails');

    await kube.create({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'once', namespace },
      spec: {
        backoffLimit: 0,
        template: {
          spec: {
            restartPolicy: 'Never',
            containers: [{ name: 'job', image: PROBE, args: ['--exit=0'], env: env('job'), volumeMounts: mounts }],
            volumes,
          },
        },
      },
    });
    await until(
      'job complete',
      async () => {
        const j = await kube.get<KubeObject & { status?: { succeeded?: number } }>(
          'batch/v1',
          'Job',
          namespace,
          'once',
        );
        return (j.status?.succeeded ?? 0) >= 1;
      },
      60_000,
    );
    t.ok(existsSync(join(out, 'job.json')), 'the Job container ran');
  },
);
