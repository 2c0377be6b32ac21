// The real-kubelet world itself (test/world/node/): a Ready node running containerd with no taint left, a
// namespace with no route off the machine, real pods with logs, exec and service-account tokens, the product
// installed from its manifests and local images, and a down that leaves nothing behind on the host.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { installProduct, OPERATOR_DEPLOYMENT } from '../world/node/install.ts';
import { CGROUP_ROOT, NETNS, NODE_NAME, layout } from '../world/node/layout.ts';
import { netnsExists, routeLookup } from '../world/node/netns.ts';
import { shimPids } from '../world/node/cleanup.ts';
import { startNodeWorld, stopNodeWorld, type NodeWorldState } from '../world/node/world.ts';
import { OPERATOR_NAMESPACE } from '../world/operator.ts';
import { APP_IMAGE } from '../world/images/build.ts';
import { OPERATOR_IMAGE } from '../world/entrypoints.ts';
import { KUBELET_TEST_DIR } from './story-kit.ts';

let s: NodeWorldState;
const k = (...args: string[]) =>
  execFileSync(s.kubectl, ['--kubeconfig', s.kubeconfig, ...args], {
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
const json = <T>(...args: string[]) => JSON.parse(k(...args, '-o', 'json')) as T;

t.before(async () => {
  const t0 = Date.now();
  s = await startNodeWorld(KUBELET_TEST_DIR, { log: (m) => t.comment(m), images: ['operator', 'agent', 'app'] });
  t.comment(`world up in ${((Date.now() - t0) / 1000).toFixed(1)}s (${JSON.stringify(s.timings)})`);
});

t.test('the node is Ready, runs containerd, and carries no taint (DaemonSets get pods)', async (t) => {
  const n = json<{
    spec: { taints?: unknown[] };
    status: {
      nodeInfo: { containerRuntimeVersion: string; kubeletVersion: string };
      conditions: Array<{ type: string; status: string }>;
    };
  }>('get', 'node', NODE_NAME);
  t.ok(
    n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
    'Ready',
  );
  t.match(n.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\//);
  t.match(n.status.nodeInfo.kubeletVersion, /^v1\.\d+\.\d+$/);
  t.notOk(n.spec.taints?.length, `no taints: ${JSON.stringify(n.spec.taints)}`);
});

t.test("the world's namespace has no route off the machine", async (t) => {
  for (const outside of ['192.0.2.10', '8.8.8.8', '1.1.1.1']) {
    const r = routeLookup(outside);
    t.notOk(r.ok, `no route to ${outside}`);
    t.match(r.output, /unreachable/i, r.output);
  }
  t.ok(routeLookup('10.88.0.1').ok, 'the node address inside the namespace is reachable (the lookup itself works)');
});

t.test('a real pod: Running, logs, exec, a projected service-account token', async (t) => {
  const ns = `kubelet-pod-${Date.now().toString(36)}`;
  k('create', 'namespace', ns);
  t.teardown(() => {
    k('delete', 'namespace', ns, '--wait=false');
  });
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'app', namespace: ns },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'app',
          image: APP_IMAGE,
          imagePullPolicy: 'IfNotPresent',
          command: [
            'sh',
            '-c',
            'echo started; mkdir -p /www; echo hello > /www/index.html; exec httpd -f -p 8080 -h /www',
          ],
        },
      ],
    },
  };
  execFileSync(s.kubectl, ['--kubeconfig', s.kubeconfig, 'apply', '-f', '-'], { input: JSON.stringify(pod) });
  k('-n', ns, 'wait', '--for=condition=Ready', 'pod/app', '--timeout=60s');
  t.match(k('-n', ns, 'logs', 'app'), /started/, 'kubectl logs');
  t.equal(
    k('-n', ns, 'exec', 'app', '--', 'sh', '-c', 'wget -qO- http://127.0.0.1:8080/').trim(),
    'hello',
    'kubectl exec into the running container',
  );
  const token = k('-n', ns, 'exec', 'app', '--', 'cat', '/var/run/secrets/kubernetes.io/serviceaccount/token').trim();
  t.match(token, /^ey[\w-]+\.[\w-]+\.[\w-]+$/, 'a projected service-account token is mounted');
});

t.test('stash-ts installed as a user installs it: two operator pods Running from the local image', async (t) => {
  await installProduct(s, (m) => t.comment(m));
  const pods = json<{
    items: Array<{
      spec: { containers: Array<{ image: string }> };
      status: { phase: string; containerStatuses: Array<{ ready: boolean; image: string }> };
    }>;
  }>('-n', OPERATOR_NAMESPACE, 'get', 'pods', '-l', `app.kubernetes.io/name=${OPERATOR_DEPLOYMENT}`);
  const running = pods.items.filter(
    (p) => p.status.phase === 'Running' && p.status.containerStatuses.every((c) => c.ready),
  );
  t.equal(running.length, 2, 'two Ready replicas');
  for (const p of running)
    t.match(
      p.status.containerStatuses[0]!.image,
      new RegExp(OPERATOR_IMAGE.replace(/[.:/]/g, '\\$&')),
      'the locally built image',
    );
  t.equal(
    k(
      '-n',
      OPERATOR_NAMESPACE,
      'exec',
      `deploy/${OPERATOR_DEPLOYMENT}`,
      '--',
      'node',
      '-e',
      'console.log(process.getuid(), process.version)',
    )
      .trim()
      .split(' ')[0],
    '65534',
    "exec into the operator (runs as the manifest's user)",
  );
});

t.test('down removes every process, mount, cgroup and namespace the world made', async (t) => {
  const l = layout(KUBELET_TEST_DIR);
  const pids = Object.values(s.pids);
  await stopNodeWorld(KUBELET_TEST_DIR);
  for (const p of pids)
    t.notOk(
      existsSync(`/proc/${p}/cmdline`) && readFileSync(`/proc/${p}/cmdline`, 'utf8').length > 0,
      `process ${p} gone`,
    );
  t.same(shimPids(l), [], 'no containerd shim left');
  t.notOk(netnsExists(), `netns ${NETNS} removed`);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((m) => m.includes(l.node) || m.includes(l.containerdRoot));
  t.same(mounts, [], "no mount under the world directory or containerd's image store");
  const cgroups = readdirSync('/sys/fs/cgroup').filter((h) => existsSync(join('/sys/fs/cgroup', h, CGROUP_ROOT)));
  t.same(cgroups, [], 'no cgroup left');
  const logs = (existsSync('/var/log/containers') ? readdirSync('/var/log/containers') : []).filter((f) => {
    try {
      return readlinkSync(join('/var/log/containers', f)).startsWith(l.podLogs);
    } catch {
      return false;
    }
  });
  t.same(logs, [], 'no container log link of this world left');
});
