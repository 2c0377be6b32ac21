import t from 'tap';
import Fastify from 'fastify';
import { invalidFixtures, validFixtures } from '../../test/fixtures/manifests/load.ts';
import { KINDS, type StashKind } from './constants.ts';
import {
  BACKUP_SESSION_PHASES,
  CONDITION,
  CONDITION_REASONS,
  EXECUTION_ORDERS,
  REASON,
  RESTORE_PHASES,
  SCHEMAS,
  AJV_CUSTOM_OPTIONS,
  check,
} from './index.ts';
import type { BackupBatch, BackupSession, Condition, Repository, RestoreSession } from './types.ts';

const schemaFor = (kind: string) => SCHEMAS[kind as StashKind];

t.test('every valid fixture passes its schema', async (t) => {
  const fixtures = validFixtures();
  const kindsSeen = new Set(fixtures.map((f) => f.object.kind));
  t.same([...kindsSeen].sort(), Object.keys(KINDS).sort(), 'fixtures cover every kind');
  // "local:hostPath" style for the local backend, so both volume kinds the reference names are covered.
  const backendOf = (f: (typeof fixtures)[number]) => {
    const { storageSecretName: _, local, ...others } = (f.object as unknown as Repository).spec.backend;
    const volume = local && Object.keys(local).find((k) => k !== 'mountPath' && k !== 'subPath');
    return [...Object.keys(others), ...(volume ? [`local:${volume}`] : [])];
  };
  const backends = new Set(fixtures.filter((f) => f.object.kind === 'Repository').flatMap(backendOf));
  t.same([...backends].sort(), [
    'azure',
    'b2',
    'gcs',
    'local:hostPath',
    'local:persistentVolumeClaim',
    'rest',
    's3',
    'swift',
  ]);
  for (const f of fixtures) {
    t.equal(
      f.object.apiVersion,
      `stash.appscode.com/${KINDS[f.object.kind as StashKind].version}`,
      `${f.file} apiVersion`,
    );
    t.same(check(schemaFor(f.object.kind), f.object), [], f.file);
  }
});

t.test('every invalid fixture is rejected, naming the offending field', async (t) => {
  const fixtures = invalidFixtures();
  t.ok(fixtures.length >= 5);
  for (const f of fixtures) {
    t.ok(f.expectError, `${f.file} says which field is wrong`);
    const problems = check(schemaFor(f.object.kind), f.object);
    t.same(
      problems.map((p) => p.path),
      [f.expectError],
      `${f.file}: ${JSON.stringify(problems)}`,
    );
  }
});

t.test('check() follows the apiserver rules', async (t) => {
  const schema = SCHEMAS.BackupBatch;
  const base = {
    apiVersion: 'stash.appscode.com/v1beta1',
    kind: 'BackupBatch',
    metadata: { name: 'x', anything: { goes: true } },
    spec: { retentionPolicy: { name: 'p', prune: false } },
  };
  const problems = (spec: object) => check(schema, { ...base, spec: { ...base.spec, ...spec } });
  t.same(problems({}), [], 'minimal batch; metadata is not checked');
  t.same(problems({ paused: null }), [], 'null is treated as absent');
  t.match(problems({ executionOrder: 'Sideways' }), [
    { path: 'spec.executionOrder', kind: 'enum', message: /"Parallel", "Sequential"/ },
  ]);
  t.match(problems({ backupHistoryLimit: 1.5 }), [{ path: 'spec.backupHistoryLimit', kind: 'type' }]);
  t.match(problems({ backupHistoryLimit: -1 }), [{ path: 'spec.backupHistoryLimit', kind: 'range' }]);
  t.match(problems({ backupHistoryLimit: 2 ** 31 }), [{ path: 'spec.backupHistoryLimit', kind: 'range' }]);
  t.match(problems({ members: {} }), [{ path: 'spec.members', kind: 'type' }]);
  t.match(problems({ members: [{ target: { ref: { kind: 'Deployment' } } }] }), [
    { path: 'spec.members[0].target.ref.name', kind: 'required' },
  ]);
  t.match(problems({ hooks: { preBackup: { httpGet: { port: 'http' } } } }), []);
  t.match(problems({ hooks: { preBackup: { httpGet: { port: true } } } }), [
    { path: 'spec.hooks.preBackup.httpGet.port', kind: 'type' },
  ]);
  t.match(problems({ hooks: { preBackup: { httpGet: { port: 8.5 } } } }), [
    { path: 'spec.hooks.preBackup.httpGet.port', kind: 'type' },
  ]);
  t.match(problems({ repository: { name: 'r', nmespace: 'x' } }), [
    { path: 'spec.repository.nmespace', kind: 'unknown' },
  ]);
  t.same(
    problems({
      members: [
        {
          target: { ref: { kind: 'Deployment', name: 'w' } },
          runtimeSettings: { pod: { affinity: { nodeAffinity: { deep: { x: 1 } } } } },
        },
      ],
    }),
    [],
    'below the first level of a core type, unknown fields are kept',
  );
  t.match(
    problems({
      members: [
        { target: { ref: { kind: 'Deployment', name: 'w' } }, runtimeSettings: { pod: { nodeSelector: { a: 1 } } } },
      ],
    }),
    [{ path: 'spec.members[0].runtimeSettings.pod.nodeSelector.a', kind: 'type' }],
    'map values are checked',
  );
  t.same(
    check(SCHEMAS.BackupSession, {
      spec: { invoker: { kind: 'BackupBatch', name: 'b' } },
      status: {
        conditions: [{ type: CONDITION.MetricsPushed, status: 'True', lastTransitionTime: '2026-11-23T23:00:00Z' }],
      },
    }),
    [],
  );
  t.match(
    check(SCHEMAS.BackupSession, {
      spec: {},
      status: { conditions: [{ type: 'X', status: 'Maybe', lastTransitionTime: 'yesterday' }] },
    }),
    [
      { path: 'status.conditions[0].status', kind: 'enum' },
      { path: 'status.conditions[0].lastTransitionTime', kind: 'format' },
    ],
  );
  t.match(check(SCHEMAS.Repository, { metadata: {} }), [{ path: 'spec', kind: 'required' }]);
  t.match(check(SCHEMAS.Repository, []), [{ path: '<root>', kind: 'type' }]);
});

t.test('enum constants are what the schemas enforce', async (t) => {
  const phaseEnum = (kind: StashKind) =>
    (
      (SCHEMAS[kind].properties as Record<string, unknown>).status as unknown as {
        properties: { phase: { enum: string[] } };
      }
    ).properties.phase.enum;
  t.same(phaseEnum('BackupSession'), [...BACKUP_SESSION_PHASES]);
  t.same(phaseEnum('RestoreSession'), [...RESTORE_PHASES]);
  t.same(phaseEnum('RestoreBatch'), [...RESTORE_PHASES]);
  t.same((SCHEMAS.BackupBatch.properties.spec.properties.executionOrder as unknown as { enum: string[] }).enum, [
    ...EXECUTION_ORDERS,
  ]);
});

t.test('condition catalogue (docs/api.md §10)', async (t) => {
  for (const [key, value] of Object.entries(CONDITION)) t.equal(key, value, 'CONDITION keys are their values');
  for (const [key, value] of Object.entries(REASON)) t.equal(key, value, 'REASON keys are their values');
  t.same(Object.keys(CONDITION_REASONS).sort(), Object.keys(CONDITION).sort(), 'every condition type has its reasons');
  const used = new Set(Object.values(CONDITION_REASONS).flatMap((r) => Object.values(r)));
  t.same(
    [...Object.values(REASON)].filter((r) => !used.has(r)),
    [],
    'every reason belongs to a condition',
  );
  t.equal(CONDITION_REASONS.RepositoryFound.unknown, 'UnableToCheckRepositoryAvailability');
  t.equal(CONDITION_REASONS.BackendRepositoryInitialized.true, 'BackendRepositoryFound');
  t.equal(CONDITION_REASONS.BackupDisrupted.true, 'FailedToCompleteDueToDisruption');
});

t.test('static types follow the schema', async (t) => {
  // Compile-time checks (tsc --noEmit); the runtime part only keeps the values alive.
  const batch: BackupBatch = {
    apiVersion: 'stash.appscode.com/v1beta1',
    kind: 'BackupBatch',
    metadata: { name: 'wordpress-backup', namespace: 'demo' },
    spec: {
      executionOrder: 'Sequential',
      members: [
        {
          target: {
            alias: 'app',
            ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'wordpress' },
            paths: ['/var/www/html'],
          },
        },
      ],
      retentionPolicy: { name: 'keep-last-5', keepLast: 5, prune: true },
      hooks: { postBackup: { executionPolicy: 'OnFinalRetryFailure', exec: { command: ['true'] } } },
    },
  };
  // @ts-expect-error executionOrder is an enum
  const sideways: BackupBatch['spec']['executionOrder'] = 'Sideways';
  // @ts-expect-error a member needs a target
  const targetless: NonNullable<BackupBatch['spec']['members']>[number] = { task: { name: 'x' } };
  // @ts-expect-error retentionPolicy.prune is required
  const noPrune: BackupBatch['spec']['retentionPolicy'] = { name: 'x' };
  const condition: Condition = {
    type: CONDITION.RepositoryFound,
    status: 'True',
    lastTransitionTime: '2026-01-01T00:00:00Z',
    reason: REASON.RepositoryAvailable,
  };
  const phase: NonNullable<BackupSession['status']>['phase'] = 'Skipped';
  const restorePhase: NonNullable<RestoreSession['status']>['phase'] = 'Invalid';
  const port: number | string | undefined = batch.spec.hooks?.preBackup?.httpGet?.port;
  t.same(check(SCHEMAS.BackupBatch, batch), []);
  t.ok([sideways, targetless, noPrune, condition, phase, restorePhase, port]);
});

t.test('fastify (Ajv) compiles every schema with AJV_CUSTOM_OPTIONS', async (t) => {
  const app = Fastify({ ajv: { customOptions: AJV_CUSTOM_OPTIONS } });
  t.teardown(() => app.close());
  for (const [kind, schema] of Object.entries(SCHEMAS)) {
    app.post(`/${kind}`, { schema: { body: schema } }, async () => ({ ok: true }));
  }
  await app.ready();
  for (const f of validFixtures()) {
    const res = await app.inject({ method: 'POST', url: `/${f.object.kind}`, payload: f.object });
    t.equal(res.statusCode, 200, `${f.file}: ${res.body}`);
  }
  const sideways = invalidFixtures().find((f) => f.expectError === 'spec.executionOrder')!;
  const res = await app.inject({ method: 'POST', url: '/BackupBatch', payload: sideways.object });
  t.equal(res.statusCode, 400);
  t.match(res.json(), { message: /executionOrder/ });
});
