import t from 'tap';
import http from 'node:http';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { flagBool, flagInt, parseArgs } from './args.ts';
import { postHookSkipReason, runHook, type HookSummary } from './hooks.ts';
import { templateWasm } from '../test/backends/bins.ts';
import { buildBackupSession, sessionName } from './create-session.ts';
import { planRestore, selectRule } from './restore.ts';
import { afterRunFailure, sessionConcernsUs } from './sidecar.ts';
import { readiness } from './host-backup.ts';
import { sessionInvoker } from '../shared/api/target.ts';
import { findMember } from './members.ts';
import { KubeError } from '../shared/errors.ts';
import { actionable } from './messages.ts';
import { commandPrefix } from './restic.ts';
import { endpointOf } from '../shared/restic/backend-client.ts';
import type { AgentContext } from './common.ts';
import type { BackupBatch, BackupConfiguration, BackupSession } from './types.ts';
import { WrongPasswordError, BackendUnreachableError, LockedError } from '../shared/restic/errors.ts';

t.test('args: --flag=value, --flag value, booleans, unknown upstream flags', async (t) => {
  const a = parseArgs([
    'run-backup',
    '--invoker-name=app',
    '--invoker-kind',
    'BackupBatch',
    '--enable-cache=false',
    '--pushgateway-url=http://x:9091',
    '--use-kubeapiserver-fqdn-for-aks=true',
    '--v=3',
    '--logtostderr',
    '--max-connections',
    '8',
    '--restic-hostname-isolation',
    'extra',
  ]);
  t.equal(a.command, 'run-backup');
  t.equal(a.flags.get('invoker-name'), 'app');
  t.equal(a.flags.get('invoker-kind'), 'BackupBatch');
  t.equal(flagBool(a.flags, 'enable-cache', true), false);
  t.equal(flagBool(a.flags, 'logtostderr', false), true);
  t.equal(flagBool(a.flags, 'restic-hostname-isolation', false), true);
  t.equal(flagBool(a.flags, 'missing', true), true);
  t.equal(flagInt(a.flags, 'max-connections', 0), 8);
  t.equal(flagInt(a.flags, 'nope', 3), 3);
  t.same(a.positionals, ['extra']);
  t.same(parseArgs(['x', '--', '--not-a-flag']).positionals, ['--not-a-flag']);
});

// Hook templates render on the real engine (hack/build-bins.sh template).
process.env.STASH_TEMPLATE_WASM = templateWasm();

const summary: HookSummary = {
  Name: 'app-1700000000',
  Namespace: 'demo',
  Invoker: { Kind: 'BackupBatch', Name: 'app' },
  Target: { Kind: 'Deployment', Name: 'wp' },
  Status: { Phase: 'Failed', Error: 'boom' },
  RetryLeft: 2,
};

t.test('hook templates are Go text/template + sprig, rendered before the hook runs', async (t) => {
  const ctx = { namespace: 'demo', podName: 'pod', ownContainer: 'stash', summary, timeoutMs: 5000 };
  const echo = (arg: string) => runHook({ exec: { command: ['printf', '%s', arg] } }, ctx);
  t.equal((await echo('plain')).output, 'plain');
  t.equal((await echo('{{ .Status.Phase }}/{{.Target.Name}}/{{ .RetryLeft }}')).output, 'Failed/wp/2');
  t.equal((await echo('{{ .Invoker.Kind | lower }} {{ .Status.Duration | default "n/a" }}')).output, 'backupbatch n/a');
  await t.rejects(echo('{{ .Nope.Deeper }}'), {
    name: 'HookError',
    message: /^hook template: .*can't evaluate field Nope/,
  });
  await t.rejects(echo('{{ .Name'), { name: 'HookError', message: /^hook template: .*unclosed action/ });
});

// Stash's hook executor renders exactly exec.command[*] and httpPost.body (each when it contains `{{`) and trims the
// result; URL parts, headers and forms go to the prober as written (docs/api.md §2.10).
t.test('hook templates: only exec arguments and httpPost bodies, trimmed as Stash trims them', async (t) => {
  const ctx = { namespace: 'demo', podName: 'pod', ownContainer: 'stash', summary, timeoutMs: 5000 };
  const echo = (arg: string) => runHook({ exec: { command: ['printf', '[%s]', arg] } }, ctx);
  t.equal((await echo('\n  {{ .Target.Name }} \n')).output, '[wp]', 'a rendered argument is trimmed');
  t.equal((await echo('  plain \n')).output, '[  plain \n]', 'text without an action is used as written');
  const seen: Array<{ url?: string; body: string; headers: http.IncomingHttpHeaders }> = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ url: req.url, body, headers: req.headers });
      res.end('ok');
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(() => srv.close());
  const port = (srv.address() as { port: number }).port;
  const headers = [{ name: 'X-Session', value: '{{ .Name }}' }];
  await runHook({ httpGet: { port, path: '/get/{{.Name}}', httpHeaders: headers } }, ctx);
  await runHook(
    {
      httpPost: {
        port,
        path: '/post/{{.Name}}',
        httpHeaders: headers,
        body: '{{- $m := dict "phase" .Status.Phase -}}\n{{ toJson $m }}\n',
      },
    },
    ctx,
  );
  t.equal(seen[0]?.url, '/get/%7B%7B.Name%7D%7D', 'an httpGet path is not a template');
  t.equal(seen[0]?.headers['x-session'], '{{ .Name }}', 'nor is a header');
  t.equal(seen[1]?.url, '/post/%7B%7B.Name%7D%7D', 'nor an httpPost path');
  t.equal(seen[1]?.headers['x-session'], '{{ .Name }}');
  t.equal(seen[1]?.body, '{"phase":"Failed"}', 'the body is rendered, its final newline trimmed');
});

t.test('hook actions', async (t) => {
  const ctx = { namespace: 'demo', podName: 'pod', ownContainer: 'stash', summary, timeoutMs: 5000 };
  t.match(
    (await runHook({ exec: { command: ['/bin/sh', '-c', 'echo "$0"', '{{ .Status.Phase }}'] } }, ctx)).output,
    /^Failed/,
  );
  t.match((await runHook({ exec: { command: ['/bin/echo', 'x'] }, containerName: 'stash' }, ctx)).output, /x/);
  await t.rejects(
    runHook({ exec: { command: ['/bin/sh', '-c', 'echo nope >&2; exit 3'] } }, ctx),
    /exited with 3: nope/,
  );
  await t.rejects(runHook({ exec: { command: ['/nonexistent/bin'] } }, ctx), /could not start/);
  await t.rejects(
    runHook({ exec: { command: ['/bin/sleep', '5'] } }, { ...ctx, timeoutMs: 200 }),
    /timed out after 200 ms/,
  );
  await t.rejects(
    runHook({ exec: { command: ['true'] }, containerName: 'app' }, ctx),
    /needs the Kubernetes API/,
    'other containers go through pods/exec',
  );
  await t.rejects(runHook({}, ctx), /none of exec/);

  const seen: Array<{ method?: string; url?: string; body: string; headers: http.IncomingHttpHeaders }> = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, body, headers: req.headers });
      res.statusCode = req.url === '/fail' ? 500 : 200;
      res.end('ok');
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(() => srv.close());
  const port = (srv.address() as { port: number }).port;
  await runHook({ httpGet: { port, path: '/health', httpHeaders: [{ name: 'X-Test', value: 'v' }] } }, ctx);
  t.equal(seen[0]?.method, 'GET');
  t.equal(seen[0]?.url, '/health');
  t.equal(seen[0]?.headers['x-test'], 'v');
  await runHook({ httpPost: { port: String(port), path: 'notify', body: '{"phase":"{{ .Status.Phase }}"}' } }, ctx);
  t.equal(seen[1]?.method, 'POST');
  t.equal(seen[1]?.url, '/notify');
  t.equal(seen[1]?.body, '{"phase":"Failed"}');
  await runHook(
    {
      httpPost: {
        port,
        path: '/form',
        form: [
          { key: 'a', values: ['1', '2'] },
          { key: 'b', values: ['x y'] },
        ],
      },
    },
    ctx,
  );
  t.equal(seen[2]?.body, 'a=1&a=2&b=x+y');
  t.equal(seen[2]?.headers['content-type'], 'application/x-www-form-urlencoded');
  await t.rejects(runHook({ httpGet: { port, path: '/fail' } }, ctx), /answered 500/);
  await t.rejects(runHook({ httpGet: { port: 'http' } }, ctx), /named port "http" needs containerName/);

  await runHook({ tcpSocket: { port } }, ctx);
  const closed = createServer();
  closed.listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const closedPort = (closed.address() as { port: number }).port;
  closed.close();
  await once(closed, 'close');
  await t.rejects(runHook({ tcpSocket: { port: closedPort } }, ctx), /ECONNREFUSED/);
});

t.test('post hook execution policy', async (t) => {
  t.equal(postHookSkipReason(undefined, false, 0), undefined);
  t.equal(postHookSkipReason('Always', true, 0), undefined);
  t.match(postHookSkipReason('OnSuccess', false, 0), /OnSuccess/);
  t.equal(postHookSkipReason('OnSuccess', true, 0), undefined);
  t.match(postHookSkipReason('OnFailure', true, 0), /OnFailure/);
  t.equal(postHookSkipReason('OnFailure', false, 0), undefined);
  t.match(postHookSkipReason('OnFinalRetryFailure', false, 1), /1 retries are left/);
  t.equal(postHookSkipReason('OnFinalRetryFailure', false, 0), undefined);
  t.match(postHookSkipReason('OnFinalRetryFailure', true, 0), /succeeded/);
});

t.test('create-backupsession builds the session per docs/api.md §6', async (t) => {
  const now = new Date('2026-11-23T12:00:00Z');
  t.equal(sessionName('app', now), `app-${now.getTime() / 1000}`);
  const long = 'x'.repeat(80);
  const n = sessionName(long, now);
  t.equal(n.length, 63);
  t.ok(n.endsWith(`-${now.getTime() / 1000}`));
  const batch = {
    apiVersion: 'stash.appscode.com/v1beta1',
    kind: 'BackupBatch',
    metadata: { name: 'app', namespace: 'demo', uid: 'u-1', labels: { team: 'a' } },
    spec: {
      repository: { name: 'r' },
      retentionPolicy: { name: 'k', keepLast: 1, prune: true },
      retryConfig: { maxRetry: 3 },
      members: [
        { target: { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wp' } } },
        { target: { ref: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', namespace: 'other' } } },
      ],
    },
  } as unknown as BackupBatch;
  const s = buildBackupSession(batch, 'BackupBatch', now) as BackupSession;
  t.same(s.spec, { invoker: { apiGroup: 'stash.appscode.com', kind: 'BackupBatch', name: 'app' }, retryLeft: 3 });
  t.same(s.metadata?.labels, {
    team: 'a',
    'app.kubernetes.io/component': 'stash-backup',
    'app.kubernetes.io/managed-by': 'stash.appscode.com',
    'stash.appscode.com/invoker-type': 'BackupBatch',
    'stash.appscode.com/invoker-name': 'app',
    'stash.appscode.com/target-kind': 'Deployment',
    'stash.appscode.com/target-name': 'wp',
    'stash.appscode.com/target-namespace': 'demo',
  });
  t.same(s.metadata?.ownerReferences, [
    {
      apiVersion: 'stash.appscode.com/v1beta1',
      kind: 'BackupBatch',
      name: 'app',
      uid: 'u-1',
      controller: true,
      blockOwnerDeletion: true,
    },
  ]);
  const bc = {
    metadata: { name: 'one', namespace: 'demo', uid: 'u' },
    spec: {
      repository: { name: 'r' },
      retentionPolicy: { name: 'k', prune: false },
      target: { ref: { kind: 'StatefulSet', name: 'db' } },
    },
  } as unknown as BackupConfiguration;
  t.equal((buildBackupSession(bc, 'BackupConfiguration', now) as BackupSession).spec.retryLeft, 0, 'no retryConfig: 0');
});

t.test('restore rule selection (docs/api.md §2.3) and plan (§16.2)', async (t) => {
  const rules = [{ targetHosts: ['db-1'], sourceHost: 'db-0', paths: ['/data'] }, { snapshots: ['abcd1234'] }];
  t.same(selectRule(rules, 'db-1'), rules[0]);
  t.same(selectRule(rules, 'db-2'), rules[1], 'fallback rule');
  t.equal(selectRule([{ targetHosts: ['a'] }], 'b'), undefined, 'no match: nothing to restore');
  t.same(selectRule(undefined, 'h'), {}, 'no rules at all: the host restores its own latest data');
  const repo = {
    snapshots: async (f: { host?: string }) =>
      [
        { id: 'old', paths: ['/a'], hostname: f.host },
        { id: 'new', paths: ['/a'], hostname: f.host },
        { id: 'b1', paths: ['/b'], hostname: f.host },
      ] as never,
  };
  t.same(await planRestore(rules[0]!, 'db-1', repo), [{ snapshot: 'latest', host: 'db-0', path: '/data' }]);
  t.same(await planRestore(rules[1]!, 'db-2', repo), [{ snapshot: 'abcd1234' }]);
  t.same(await planRestore({}, 'h', repo), [{ snapshot: 'new' }, { snapshot: 'b1' }]);
  await t.rejects(planRestore({}, 'h', { snapshots: async () => [] }), /no snapshot of host "h"/);
  const full = 'a1b2c3d4' + 'e'.repeat(56);
  const byId = { snapshots: async () => [{ id: full, paths: ['/a'], hostname: 'h' }] as never };
  t.same(
    await planRestore({ snapshots: ['gcs-repo-a1b2c3d4'] }, 'h', byId, 'gcs-repo'),
    [{ snapshot: full }],
    'a Snapshot object name restores its snapshot',
  );
  await t.rejects(
    planRestore({ snapshots: ['other-a1b2c3d4'] }, 'h', byId, 'gcs-repo'),
    /nor the name of a Snapshot of Repository "gcs-repo"/,
  );
});

t.test('sidecar: which sessions, and when', async (t) => {
  const ctx = {
    targetKind: 'Deployment',
    targetName: 'wp',
    targetNamespace: 'demo',
    invokerKind: 'BackupBatch',
    invokerName: 'app',
    namespace: 'demo',
  } as AgentContext;
  const batch = {
    metadata: { name: 'app', namespace: 'demo' },
    spec: {
      executionOrder: 'Sequential',
      members: [
        { target: { ref: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' } } },
        { target: { ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wp' }, alias: 'wp' } },
      ],
    },
  } as unknown as BackupBatch;
  const member = findMember(batch, 'BackupBatch', ctx);
  t.equal(member?.index, 1);
  const mk = (
    status: BackupSession['status'],
    labels: Record<string, string> = {
      'stash.appscode.com/invoker-type': 'BackupBatch',
      'stash.appscode.com/invoker-name': 'app',
    },
  ) =>
    ({
      metadata: { name: 's', labels },
      spec: { invoker: { kind: 'BackupBatch', name: 'app' } },
      status,
    }) as BackupSession;
  t.ok(sessionConcernsUs(mk({}), ctx));
  const other = (labels: Record<string, string>) =>
    ({ ...mk({}, labels), spec: { invoker: { kind: 'BackupBatch', name: 'other' } } }) as BackupSession;
  t.notOk(
    sessionConcernsUs(
      other({ 'stash.appscode.com/invoker-type': 'BackupBatch', 'stash.appscode.com/invoker-name': 'other' }),
      ctx,
    ),
  );
  // #15: spec.invoker alone names the invoker; labels matter only without it, the old one included.
  t.ok(sessionConcernsUs(mk({}, {}), ctx), 'spec.invoker without labels');
  t.notOk(sessionConcernsUs(other({}), ctx));
  const noSpec = (labels: Record<string, string>) => ({ metadata: { name: 's', labels }, spec: {} }) as BackupSession;
  t.ok(
    sessionConcernsUs(
      noSpec({ 'stash.appscode.com/invoker-type': 'BackupBatch', 'stash.appscode.com/invoker-name': 'app' }),
      ctx,
    ),
  );
  t.same(sessionInvoker(noSpec({ 'stash.appscode.com/backup-configuration': 'nightly' })), {
    kind: 'BackupConfiguration',
    name: 'nightly',
  });
  t.ok(
    sessionConcernsUs(noSpec({ 'stash.appscode.com/backup-configuration': 'app' }), {
      ...ctx,
      invokerKind: 'BackupConfiguration',
    } as AgentContext),
    'the old label',
  );
  t.notOk(sessionConcernsUs(noSpec({}), ctx));
  t.same(
    sessionInvoker(other({ 'stash.appscode.com/backup-configuration': 'app' })),
    { kind: 'BackupBatch', name: 'other' },
    'spec.invoker wins over labels',
  );
  t.ok(
    sessionConcernsUs(
      mk(
        {},
        {
          'stash.appscode.com/target-kind': 'Deployment',
          'stash.appscode.com/target-name': 'wp',
          'stash.appscode.com/target-namespace': 'demo',
        },
      ),
      ctx,
    ),
  );
  const wpRef = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wp' };
  const dbRef = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' };
  t.match(readiness(mk({}), batch, member!, 'wp', 'demo'), { run: false, why: /not initiated/ });
  t.match(
    readiness(
      mk({
        targets: [
          { ref: dbRef, totalHosts: 2 },
          { ref: wpRef, totalHosts: 1 },
        ],
      }),
      batch,
      member!,
      'wp',
      'demo',
    ),
    { run: false, why: /member 0/ },
  );
  t.match(
    readiness(
      mk({
        targets: [
          { ref: dbRef, totalHosts: 1, stats: [{ hostname: 'host-0', phase: 'Failed' }] },
          { ref: wpRef, totalHosts: 1 },
        ],
      }),
      batch,
      member!,
      'wp',
      'demo',
    ),
    { run: true },
    'a failed earlier member does not stop the chain',
  );
  t.match(
    readiness(
      mk({ targets: [{ ref: wpRef, totalHosts: 1, stats: [{ hostname: 'wp', phase: 'Succeeded' }] }] }),
      batch,
      member!,
      'wp',
      'demo',
    ),
    { run: false, final: true },
  );
  t.match(readiness(mk({ phase: 'Failed' }), batch, member!, 'wp', 'demo'), { run: false, final: true });
  t.match(
    readiness(
      mk({
        conditions: [
          { type: 'GlobalPreBackupHookSucceeded', status: 'False', lastTransitionTime: '2026-01-01T00:00:00Z' },
        ],
        targets: [{ ref: wpRef, totalHosts: 1 }],
      }),
      batch,
      member!,
      'wp',
      'demo',
    ),
    { run: false, why: /global preBackup/ },
  );
});

t.test('a session run that throws is retried or its host recorded Failed, never dropped', async (t) => {
  const down = new KubeError('PUT /status: connect ECONNREFUSED', undefined);
  const half = () => 0;
  t.same(afterRunFailure(down, 1, false, half), { retryInMs: 2500 });
  t.same(afterRunFailure(down, 2, false, half), { retryInMs: 5000 });
  t.match(afterRunFailure(down, 3, false, half), {
    fail: /^session run failed \(attempt 3\): PUT \/status: connect ECONNREFUSED/,
  });
  t.same(
    afterRunFailure(new KubeError('too many', 429), 1, false, () => 1),
    { retryInMs: 5000 },
  );
  t.match(
    afterRunFailure(new KubeError('forbidden', 403), 1, false),
    { fail: /^session run failed: forbidden/ },
    'a 4xx is final at once',
  );
  t.match(afterRunFailure(new Error('timed out after 1800s waiting for BackendRepositoryInitialized'), 1, false), {
    fail: /waiting for BackendRepositoryInitialized/,
  });
  t.same(
    afterRunFailure(down, 1, true),
    { stop: true },
    'an agent that stops leaves the session to its restarted self',
  );
});

t.test('actionable messages and restic plumbing', async (t) => {
  const d = { command: 'backup', exitCode: 12, signal: undefined, stderrTail: [] };
  t.match(
    actionable(new WrongPasswordError('wrong password or no key found', d), { repository: '/repo', secret: 'ns/s' }),
    /RESTIC_PASSWORD in Secret ns\/s/,
  );
  t.match(
    actionable(new BackendUnreachableError('dial tcp: connection refused', d), { repository: 'rest:http://h/' }),
    /backend unreachable: cannot connect to rest:http:\/\/h\//,
  );
  t.match(
    actionable(
      new LockedError('locked', d, {
        pid: 7,
        hostname: 'pod-a',
        username: 'root',
        uid: 0,
        gid: 0,
        exclusive: true,
        createdAt: undefined,
        age: undefined,
        storageIdPrefix: undefined,
      }),
      { repository: 'r' },
    ),
    /by PID 7 on pod-a/,
  );
  t.same(
    endpointOf({
      kind: 'rest',
      url: 'http://127.0.0.1:8000/repo/',
      username: undefined,
      password: undefined,
      caPem: undefined,
      insecureTLS: false,
    }),
    { host: '127.0.0.1', port: 8000 },
  );
  t.same(
    endpointOf({
      kind: 's3',
      endpoint: 's3.amazonaws.com',
      bucket: 'b',
      prefix: '',
      region: 'us-east-1',
      accessKeyId: undefined,
      secretAccessKey: undefined,
      sessionToken: undefined,
      caPem: undefined,
      insecureTLS: false,
    }),
    { host: 's3.amazonaws.com', port: 443 },
  );
  t.equal(endpointOf({ kind: 'local', path: '/r' }), undefined);
  t.equal(commandPrefix({ isolateHostname: false, podName: 'p' }), undefined);
  t.same(commandPrefix({ isolateHostname: true, podName: 'p' })?.slice(0, 2), ['unshare', '--uts']);
});
