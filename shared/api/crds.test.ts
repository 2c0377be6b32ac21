import t from 'tap';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { KINDS, type StashKind } from './constants.ts';
import { buildCrd, openAPISchema, renderCrds } from './schema/crd.ts';
import { structuralProblems } from './schema/structural.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const crdDir = path.join(repo, 'manifests', 'crds');
const kinds = Object.keys(KINDS) as StashKind[];
const run = promisify(execFile);

/** Follows `spec.members.target`-style paths through properties and array items. */
function at(schema: Record<string, unknown>, dotted: string): Record<string, unknown> {
  let node = schema;
  // `[*]` (a printer column's "every item") is the array step the loop below takes anyway.
  for (const part of dotted.replaceAll('[*]', '').split('.')) {
    while (node['type'] === 'array') node = node['items'] as Record<string, unknown>;
    const next = (node['properties'] as Record<string, Record<string, unknown>> | undefined)?.[part];
    if (!next) throw new Error(`no field ${part} in ${dotted}`);
    node = next;
  }
  return node;
}

t.test('committed CRDs equal a fresh generation from the schemas', async (t) => {
  for (const [name, text] of renderCrds()) {
    const committed = await readFile(path.join(crdDir, name), 'utf8').catch(() => '<missing>');
    t.equal(committed, text, `${name} is up to date (run npm run gen:crds)`);
  }
});

t.test('gen-crds --check passes on the repo and fails on a stale copy', async (t) => {
  const script = path.join(repo, 'hack', 'gen-crds.ts');
  await run(process.execPath, [script, '--check'], { cwd: repo });
  const scratch = await mkdtemp(path.join(tmpdir(), 'crds-'));
  t.teardown(() => rm(scratch, { recursive: true, force: true }));
  await cp(crdDir, scratch, { recursive: true });
  const victim = path.join(scratch, 'backupbatches.stash.appscode.com.yaml');
  await writeFile(victim, (await readFile(victim, 'utf8')).replace('Sequential', 'Serial'));
  const failed = await run(process.execPath, [script, '--check', '--dir', scratch]).then(
    () => undefined,
    (err: { code: number; stderr: string }) => err,
  );
  t.equal(failed?.code, 1, 'exit code 1');
  t.match(failed?.stderr, /backupbatches\.stash\.appscode\.com\.yaml: differs from the schema/);
});

t.test('every schema is structural and fully described', async (t) => {
  for (const kind of kinds) t.same(structuralProblems(openAPISchema(kind)), [], kind);
});

t.test('the structural checker catches what the apiserver would reject', async (t) => {
  const cases: Array<[string, object, RegExp]> = [
    ['untyped field', { type: 'object', properties: { a: { description: 'x' } } }, /^a: type is required/],
    [
      'properties with additionalProperties',
      {
        type: 'object',
        properties: {
          a: { description: 'x', type: 'object', properties: {}, additionalProperties: { type: 'string' } },
        },
      },
      /^a: properties and additionalProperties are mutually exclusive/,
    ],
    [
      'a $ref',
      { type: 'object', properties: { a: { description: 'x', $ref: '#/x' } } },
      /keyword "\$ref" is not allowed/,
    ],
    [
      'anyOf of literals',
      { type: 'object', properties: { a: { description: 'x', type: 'string', anyOf: [{ const: 'A' }] } } },
      /anyOf is not used/,
    ],
    [
      'rich metadata',
      { type: 'object', properties: { metadata: { type: 'object', description: 'm' } } },
      /^metadata: must be exactly/,
    ],
    [
      'missing description',
      { type: 'object', properties: { a: { type: 'string' } } },
      /^a: every field needs a description/,
    ],
    [
      'array without items',
      { type: 'object', properties: { a: { description: 'x', type: 'array' } } },
      /^a: an array needs items/,
    ],
    [
      'int-or-string with a type',
      { type: 'object', properties: { a: { description: 'x', type: 'string', 'x-kubernetes-int-or-string': true } } },
      /must not also set type/,
    ],
    [
      'bad default',
      { type: 'object', properties: { a: { description: 'x', type: 'string', enum: ['A'], default: 'B' } } },
      /^a: default "B" is invalid/,
    ],
    [
      'required but unknown',
      { type: 'object', required: ['b'], properties: { a: { description: 'x', type: 'string' } } },
      /required field b is not among/,
    ],
  ];
  for (const [name, schema, expected] of cases) {
    const problems = structuralProblems(schema);
    t.ok(
      problems.some((p) => expected.test(p)),
      `${name}: ${JSON.stringify(problems)}`,
    );
  }
});

t.test('names, scope, subresource and version come from KINDS', async (t) => {
  for (const kind of kinds) {
    const info = KINDS[kind];
    const crd = parse((await readFile(path.join(crdDir, `${info.plural}.stash.appscode.com.yaml`), 'utf8')) as string);
    t.equal(crd.metadata.name, `${info.plural}.stash.appscode.com`);
    t.equal(crd.spec.group, 'stash.appscode.com');
    // BackupBlueprint is cluster-scoped and has no status, as upstream (docs/api.md §8.1).
    const blueprint = kind === 'BackupBlueprint';
    t.equal(crd.spec.scope, blueprint ? 'Cluster' : 'Namespaced');
    t.same(crd.spec.names, {
      kind,
      listKind: `${kind}List`,
      plural: info.plural,
      singular: info.singular,
      ...(info.shortNames.length ? { shortNames: info.shortNames } : {}),
      categories: info.categories,
    });
    t.equal(crd.spec.versions.length, 1);
    const [version] = crd.spec.versions;
    t.match(version, { name: info.version, served: true, storage: true });
    t.same(version.subresources, blueprint ? undefined : { status: {} });
  }
});

t.test('printer columns follow docs/api.md §1', async (t) => {
  const columns = (kind: StashKind) =>
    (
      buildCrd(kind)['spec'] as {
        versions: Array<{ additionalPrinterColumns: Array<{ name: string; type: string; jsonPath: string }> }>;
      }
    ).versions[0]!.additionalPrinterColumns.map((c) => `${c.name}|${c.type}|${c.jsonPath}`);
  const age = 'Age|date|.metadata.creationTimestamp';
  t.same(columns('Repository'), [
    'Integrity|boolean|.status.integrity',
    'Size|string|.status.totalSize',
    'Snapshot-Count|integer|.status.snapshotCount',
    'Last-Successful-Backup|date|.status.lastBackupTime',
    age,
  ]);
  t.same(columns('BackupConfiguration'), [
    'Task|string|.spec.task.name',
    'Schedule|string|.spec.schedule',
    'Paused|boolean|.spec.paused',
    'Phase|string|.status.phase',
    age,
  ]);
  t.same(columns('BackupBatch'), [
    'Schedule|string|.spec.schedule',
    'Paused|boolean|.spec.paused',
    'Phase|string|.status.phase',
    age,
  ]);
  t.same(columns('BackupSession'), [
    'Invoker-Type|string|.spec.invoker.kind',
    'Invoker-Name|string|.spec.invoker.name',
    'Phase|string|.status.phase',
    'Progress|string|.status.targets[*].progress[*].percent',
    'Duration|string|.status.sessionDuration',
    age,
  ]);
  const restore = [
    'Repository|string|.spec.repository.name',
    'Phase|string|.status.phase',
    'Duration|string|.status.sessionDuration',
    age,
  ];
  t.same(columns('RestoreSession'), restore);
  t.same(columns('RestoreBatch'), restore);
  // every column points at a field the schema declares
  for (const kind of kinds) {
    for (const col of columns(kind)) {
      const jsonPath = col.split('|')[2]!;
      if (jsonPath.startsWith('.metadata')) continue;
      t.doesNotThrow(() => at(openAPISchema(kind), jsonPath.slice(1)), `${kind} ${jsonPath} exists`);
    }
  }
});

t.test('defaults, enums and required fields per the reference', async (t) => {
  const bb = openAPISchema('BackupBatch');
  const bc = openAPISchema('BackupConfiguration');
  const rb = openAPISchema('RestoreBatch');
  const repo = openAPISchema('Repository');
  t.match(at(bb, 'spec.executionOrder'), { type: 'string', enum: ['Parallel', 'Sequential'], default: 'Parallel' });
  t.match(at(rb, 'spec.executionOrder'), { enum: ['Parallel', 'Sequential'], default: 'Parallel' });
  for (const schema of [bb, bc, rb, openAPISchema('RestoreSession')]) {
    t.match(at(schema, 'spec.driver'), { enum: ['Restic', 'VolumeSnapshotter'], default: 'Restic' });
  }
  t.match(at(bc, 'spec.tempDir.disableCaching'), { type: 'boolean', default: false });
  t.match(at(bb, 'spec.members.tempDir.disableCaching'), { type: 'boolean', default: false });
  t.match(at(rb, 'spec.members.tempDir.disableCaching'), { type: 'boolean', default: false });
  for (const schema of [bb, bc]) {
    t.match(at(schema, 'spec.backupHistoryLimit'), { type: 'integer', format: 'int32', default: 1 });
    t.match(at(schema, 'spec.paused'), { type: 'boolean', default: false });
    t.match(at(schema, 'spec.retryConfig.maxRetry'), { type: 'integer', default: 1 });
    t.match(at(schema, 'spec.retryConfig.delay'), { type: 'string' });
    t.match(at(schema, 'spec.timeOut'), { type: 'string' });
    t.same(at(schema, 'spec.retentionPolicy')['required'], ['name', 'prune']);
    t.same(at(schema, 'spec.repository')['required'], ['name']);
    t.match(at(schema, 'spec.hooks.postBackup.executionPolicy'), {
      enum: ['Always', 'OnSuccess', 'OnFailure', 'OnFinalRetryFailure'],
      default: 'Always',
    });
  }
  t.same(at(bc, 'spec')['required'], ['target', 'retentionPolicy']);
  t.same(at(bb, 'spec')['required'], ['retentionPolicy']);
  t.same(at(bb, 'spec.members')['items'], { ...(at(bb, 'spec.members')['items'] as object), required: ['target'] });
  t.same(at(bb, 'spec.members.task.params')['items'], {
    ...(at(bb, 'spec.members.task.params')['items'] as object),
    required: ['name', 'value'],
  });
  t.match(at(openAPISchema('RestoreSession'), 'spec.hooks.postRestore.executionPolicy'), {
    enum: ['Always', 'OnSuccess', 'OnFailure'],
  });
  t.match(at(repo, 'spec.usagePolicy.allowedNamespaces.from'), { enum: ['Same', 'All', 'Selector'], default: 'Same' });
  t.same(at(repo, 'spec')['required'], ['backend']);
  t.same(at(repo, 'spec.backend.local')['required'], ['mountPath']);
  t.match(at(repo, 'spec.backend.local.hostPath'), { type: 'object', required: ['path'] });
  t.same(at(repo, 'spec.backend.s3')['required'], ['endpoint', 'bucket']);
  for (const backend of ['gcs', 'b2']) t.same(at(repo, `spec.backend.${backend}`)['required'], ['bucket']);
  for (const backend of ['azure', 'swift']) t.same(at(repo, `spec.backend.${backend}`)['required'], ['container']);
  t.match(at(repo, 'spec.backend.rest.url'), { type: 'string' });
  t.match(at(repo, 'status.lastBackupTime'), { type: 'string', format: 'date-time' });
  const condition = at(openAPISchema('BackupSession'), 'status.targets.conditions')['items'] as Record<string, unknown>;
  t.same(condition['required'], ['type', 'status', 'lastTransitionTime']);
  t.match(at(bb, 'spec.hooks.preBackup.httpGet.port'), { 'x-kubernetes-int-or-string': true });
});

t.test('descriptions make kubectl explain useful for the fields users write', async (t) => {
  const target = at(openAPISchema('BackupBatch'), 'spec.members.target');
  const props = target['properties'] as Record<string, { description?: string }>;
  t.match(props['alias']?.description, /restic --host/);
  t.match(props['ref']?.description, /back up/);
  t.match(props['paths']?.description, /Directories/);
});
