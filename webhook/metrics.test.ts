// Stash's families computed from object status (webhook/stash-metrics.ts) and the /metrics endpoint: which
// session, target and host each value comes from, both name prefixes, labels, and the text format.
import t from 'tap';
import { StashMetrics, scheduleInterval, serveMetrics } from './metrics.ts';
import { FAMILIES, parseClock, parseSize, type MetricsSource, type Obj } from './stash-metrics.ts';

const inv: Obj = {
  kind: 'BackupBatch',
  metadata: { name: 'wp', namespace: 'a' },
  spec: { repository: { name: 'repo' }, schedule: '*/5 * * * *' },
};
const ref = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' };
const host = (phase: string, files: number, extra: Record<string, unknown> = {}) => ({
  hostname: 'web',
  phase,
  duration: '2.5s',
  snapshots: [
    {
      totalSize: '1.500 KiB',
      uploaded: '512 B',
      processingTime: '1:05',
      fileStats: { totalFiles: files, newFiles: 1, modifiedFiles: 2, unmodifiedFiles: files - 3 },
    },
  ],
  ...extra,
});
const session = (name: string, created: string, phase: string, hostPhase: string, files: number): Obj => ({
  kind: 'BackupSession',
  metadata: { name, namespace: 'a', creationTimestamp: created },
  spec: { invoker: { kind: 'BackupBatch', name: 'wp' } },
  status: {
    phase,
    sessionDuration: '10s',
    targets: [
      { ref, totalHosts: 1, phase, stats: [host(hostPhase, files, hostPhase === 'Failed' ? { error: 'boom' } : {})] },
    ],
    conditions:
      phase === 'Failed'
        ? [
            { type: 'GlobalPreBackupHookSucceeded', status: 'False' },
            { type: 'BackendRepositoryInitialized', status: 'False' },
          ]
        : [{ type: 'BackendRepositoryInitialized', status: 'True' }],
  },
});
const source: MetricsSource = {
  backupInvokers: () => [inv],
  backupSessions: () => [
    session('wp-1', '2026-01-01T00:00:00Z', 'Succeeded', 'Succeeded', 10),
    session('wp-3', '2026-01-01T02:00:00Z', 'Failed', 'Failed', 0),
    session('wp-2', '2026-01-01T01:00:00Z', 'Succeeded', 'Succeeded', 20),
    { ...session('wp-4', '2026-01-01T03:00:00Z', 'Running', 'Running', 0), status: { phase: 'Running' } },
  ],
  restoreInvokers: () => [
    {
      kind: 'RestoreBatch',
      metadata: { name: 'rb', namespace: 'a' },
      spec: { repository: { name: 'repo' } },
      status: {
        phase: 'Failed',
        sessionDuration: '4s',
        members: [
          { ref, phase: 'Succeeded', totalHosts: 1, stats: [{ hostname: 'web', phase: 'Succeeded', duration: '3s' }] },
          {
            ref: { ...ref, name: 'db' },
            phase: 'Failed',
            totalHosts: 1,
            stats: [{ hostname: 'db', phase: 'Failed', error: 'x' }],
          },
        ],
      },
    },
    {
      kind: 'RestoreSession',
      metadata: { name: 'rs', namespace: 'a' },
      spec: { target: { ref } },
      status: { phase: 'Running' },
    },
  ],
  repositories: () => [
    {
      kind: 'Repository',
      metadata: { name: 'repo', namespace: 'a' },
      spec: { backend: { s3: { bucket: 'b', prefix: 'p/q' } } },
      status: {
        integrity: false,
        totalSize: '2.000 MiB',
        snapshotCount: 3,
        snapshotsRemovedOnLastCleanup: 1,
        lastBackupTime: '2026-01-01T02:00:00Z',
      },
    },
    {
      kind: 'Repository',
      metadata: { name: 'fresh', namespace: 'a' },
      spec: { backend: { local: { mountPath: '/r' } } },
    },
  ],
};

const INV = 'invoker_kind="BackupBatch",invoker_name="wp",namespace="a",driver="Restic",repository="repo"';
const TGT = `${INV},kind="Deployment",group="apps",name="web"`;
const HOST = `${TGT},hostname="web"`;

t.test('parsers of the status formats', async (t) => {
  t.equal(parseSize('1.500 KiB'), 1536);
  t.equal(parseSize('512 B'), 512);
  t.equal(parseSize('2.000 MiB'), 2 * 2 ** 20);
  t.equal(parseSize('lots'), undefined);
  t.equal(parseClock('1:05'), 65);
  t.equal(parseClock('1:00:01'), 3601);
  t.equal(parseClock('x'), undefined);
  t.equal(scheduleInterval('0 2 * * *'), 86400);
  t.equal(scheduleInterval('not cron'), undefined);
});

t.test('the families of backup, repository and restore, from status', async (t) => {
  const m = new StashMetrics({ defaults: false });
  m.setSource(source);
  const text = await m.text();
  const has = (line: string, msg: string) => t.ok(text.split('\n').includes(line), `${msg}: ${line}`);
  // The newest finished session (wp-3) failed: success 0, but the values of the newest success (wp-2) stay.
  has(`stash_backup_session_success{${INV}} 0`, 'newest finished session decides success');
  has(`stash_appscode_com_backupsession_success{${INV}} 0`, 'the same under the second prefix');
  has(`stash_backup_session_duration_seconds{${INV}} 10`, 'duration of the newest success');
  has(
    `stash_backup_last_success_time_seconds{${INV}} ${Date.parse('2026-01-01T01:00:10Z') / 1000}`,
    'creation + duration of wp-2',
  );
  has(`stash_backup_target_count_total{${INV}} 1`, 'targets of the newest success');
  has(`stash_backup_target_success{${TGT}} 0`, 'target failed in the newest session');
  has(`stash_backup_target_host_count_total{${TGT}} 1`, 'hosts of the target');
  has(`stash_backup_host_backup_success{${HOST}} 0`, 'host failed in the newest session');
  has(
    `stash_backup_host_files_total{${HOST}} 20`,
    'files of the newest successful backup of the host (wp-2, not wp-1)',
  );
  has(`stash_backup_host_files_new{${HOST}} 1`, 'new files');
  has(`stash_backup_host_files_modified{${HOST}} 2`, 'modified files');
  has(`stash_backup_host_files_unmodified{${HOST}} 17`, 'unmodified files');
  has(`stash_backup_host_data_size_bytes{${HOST}} 1536`, 'data size in bytes');
  has(`stash_backup_host_data_uploaded_bytes{${HOST}} 512`, 'uploaded bytes');
  has(`stash_backup_host_data_processing_time_seconds{${HOST}} 65`, 'processing time');
  has(`stash_backup_host_backup_duration_seconds{${HOST}} 2.5`, 'host duration');
  const REPO = `${INV.replace('namespace="a",', 'namespace="a",')},name="repo",backend="s3",bucket="b",prefix="p/q"`;
  has(`stash_repository_integrity{${REPO}} 0`, 'integrity false is 0');
  has(`stash_repository_size_bytes{${REPO}} ${2 * 2 ** 20}`, 'repository size');
  has(`stash_repository_snapshot_count{${REPO}} 3`, 'snapshot count');
  has(`stash_repository_snapshot_cleaned{${REPO}} 1`, 'snapshots cleaned');
  t.notMatch(text, /name="fresh"/, 'a repository never backed up has no series');
  const RB = 'invoker_kind="RestoreBatch",invoker_name="rb",namespace="a",driver="Restic",repository="repo"';
  has(`stash_restore_session_success{${RB}} 0`, 'failed restore');
  t.notMatch(text, /stash_restore_session_duration_seconds\{/, 'no duration for a failed restore');
  has(`stash_restore_target_success{${RB},kind="Deployment",group="apps",name="web"} 1`, 'member succeeded');
  has(`stash_restore_target_success{${RB},kind="Deployment",group="apps",name="db"} 0`, 'member failed');
  has(`stash_restore_target_host_count_total{${RB},kind="Deployment",group="apps",name="web"} 1`, 'restored hosts');
  has(
    `stash_appscode_com_restoresession_host_restore_duration_seconds{${RB},kind="Deployment",group="apps",name="web",hostname="web"} 3`,
    'host restore duration',
  );
  has(
    `stash_restore_host_restore_success{${RB},kind="Deployment",group="apps",name="db",hostname="db"} 0`,
    'host restore failed',
  );
  t.notMatch(
    text,
    /^stash_(restore|appscode_com_restoresession)_\w+\{[^}]*invoker_name="rs"/m,
    'a running restore has no Stash series',
  );
  has(`# TYPE stash_backup_target_count_total untyped`, 'a _total gauge is untyped');
  has(`# TYPE stash_repository_snapshot_count untyped`, 'a _count gauge is untyped');
  has(`# TYPE stash_backup_session_success gauge`, 'others are gauges');
  for (const [legacy, modern] of Object.values(FAMILIES)) {
    t.match(text, `# HELP ${legacy} `, `${legacy} is described`);
    if (modern) t.match(text, `# HELP ${modern} `, `${modern} is described`);
  }
  // Ours, where Stash has none.
  has(
    'stash_sessions{kind="BackupSession",namespace="a",invoker_kind="BackupBatch",invoker_name="wp",phase="Succeeded"} 2',
    'sessions by phase',
  );
  has(
    'stash_sessions{kind="RestoreSession",namespace="a",invoker_kind="RestoreSession",invoker_name="rs",phase="Running"} 1',
    'restores by phase',
  );
  has(
    'stash_hook_failed_sessions{namespace="a",invoker_kind="BackupBatch",invoker_name="wp",hook="preBackup"} 1',
    'failed global hooks',
  );
});

t.test('/metrics serves process defaults and the families; other paths are 404', async (t) => {
  const m = new StashMetrics();
  m.setSource(source);
  const srv = await serveMetrics({ host: '127.0.0.1', port: 0, metrics: m });
  t.teardown(() => srv.close());
  const res = await fetch(`http://127.0.0.1:${srv.port}/metrics`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /text\/plain/);
  const text = await res.text();
  t.match(text, /^process_resident_memory_bytes \d+/m, 'process defaults');
  t.match(text, /^nodejs_heap_size_used_bytes \d+/m, 'Node.js defaults');
  t.match(text, /^# TYPE nodejs_active_handles_total untyped$/m, "prom-client's _total gauges are untyped");
  t.match(text, /^stash_backup_session_success\{/m, 'Stash families');
  t.equal((await fetch(`http://127.0.0.1:${srv.port}/other`)).status, 404);
});
