// Upstream Stash's Slack notification guide (stashed/docs docs/guides/hooks/slack-notification) followed as a new
// user would: a Deployment's backup with a postBackup httpPost hook to a Slack incoming webhook, first with
// executionPolicy Always on a backup that succeeds, then re-applied with OnFailure and a path that does not exist.
// Changes for this world are said next to them and in test/support/guide-world.ts: local backend for the
// guide's GCS bucket; the files the guide `kubectl exec … touch`es put into the claim by the test (the pod
// runner, our kubelet stand-in, does not run application containers); the `*/5 * * * *` slot started now from
// the trigger CronJob's own jobTemplate; Slack's webhook is a loopback HTTP server.
//
// The guide's bodies are Go text/template with sprig (`dict`, `printf`, `toJson`), rendered by the same engine
// (shared/template): the test checks the bytes Slack receives.
import t from 'tap';
import type { KubeObject } from '../../shared/kube/client.ts';
import { e2eWorld, readTree } from '../support/e2e-world.ts';
import {
  BC,
  claimWithFiles,
  guideRepository,
  namespace,
  nextScheduledBackup,
  noSessionLeftRunning,
  phaseIs,
  podsRunning,
  slackWebhook,
} from '../support/guide-world.ts';

t.setTimeout(300_000);
const w = await e2eWorld(t, 'guide-slack');

const SLACK_PATH = '/services/XX/XXX/XXXX';

// The guide's bodies, byte for byte (YAML `body: |` keeps the final newline).
const ALL_BODY = [
  '{{- $msg := dict  "type" "mrkdwn" "text" (printf "Backup completed for %s/%s Status: %s." .Namespace .Target.Name .Status.Phase) -}}',
  '{',
  '  "blocks": [',
  '      {',
  '        "type": "section",',
  '        "text": {{ toJson $msg }}',
  '      }',
  '    ]',
  '}',
  '',
].join('\n');
const FAILED_BODY = ALL_BODY.replace(
  'Backup completed for %s/%s Status: %s.',
  ':x: Backup failed for %s/%s Reason: %s.',
).replace('.Status.Phase', '.Status.Error');

/**
 * What Stash sends for these two bodies: `{{- … -}}` leaves nothing and trims the newline after it, sprig's
 * toJson is Go's json.Marshal of the dict (keys sorted), and the result is trimmed (strings.TrimSpace), so the
 * block scalar's final newline is not sent. Written out for these two templates, so the assertions say what the
 * user sees in Slack (shared/template/engine.test.ts compares the engine with Go itself).
 */
function upstreamRendering(text: string): string {
  const msg = JSON.stringify({ text, type: 'mrkdwn' });
  return ALL_BODY.slice(ALL_BODY.indexOf('\n') + 1, -1).replace('{{ toJson $msg }}', msg);
}

function backupConfiguration(
  ns: string,
  port: number,
  policy: 'Always' | 'OnFailure',
  paths: string[],
  body: string,
): KubeObject {
  return {
    apiVersion: BC,
    kind: 'BackupConfiguration',
    metadata: { name: 'deployment-backup', namespace: ns },
    spec: {
      repository: { name: 'gcs-repo' },
      schedule: '*/5 * * * *',
      target: {
        ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'stash-demo' },
        volumeMounts: [{ name: 'source-data', mountPath: '/source/data' }],
        paths,
      },
      hooks: {
        postBackup: {
          executionPolicy: policy,
          // host hooks.slack.com, port 443, scheme HTTPS → the loopback webhook over HTTP (no Internet here);
          // path, headers and body are the guide's.
          httpPost: {
            host: '127.0.0.1',
            path: SLACK_PATH,
            port,
            scheme: 'HTTP',
            httpHeaders: [{ name: 'Content-Type', value: 'application/json' }],
            body,
          },
        },
      },
      retentionPolicy: { name: 'keep-last-5', keepLast: 5, prune: true },
    },
  };
}

t.test('hooks/slack-notification: a notification after every backup, then only after a failed one', async (t) => {
  const ns = 'demo-slack';
  await namespace(w, ns);
  const slack = await slackWebhook(t);
  // kubectl exec … -- touch /source/data/file-{1,2,3}.txt
  const claim = await claimWithFiles(
    w,
    ns,
    {
      kind: 'PersistentVolumeClaim',
      apiVersion: 'v1',
      metadata: { name: 'stash-sample-data' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    },
    { 'file-1.txt': '', 'file-2.txt': '', 'file-3.txt': '' },
  );
  t.same(
    Object.keys(readTree(claim)).sort(),
    ['file-1.txt', 'file-2.txt', 'file-3.txt'],
    'ls /source/data: file-1.txt file-2.txt file-3.txt',
  );
  await w.kube.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { labels: { app: 'stash-demo' }, name: 'stash-demo', namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'stash-demo' } },
      template: {
        metadata: { labels: { app: 'stash-demo' }, name: 'busybox' },
        spec: {
          containers: [
            {
              args: ['sleep 3000'],
              command: ['/bin/sh', '-c'],
              image: 'busybox',
              imagePullPolicy: 'IfNotPresent',
              name: 'busybox',
              volumeMounts: [{ mountPath: '/source/data', name: 'source-data' }],
            },
          ],
          restartPolicy: 'Always',
          volumes: [{ name: 'source-data', persistentVolumeClaim: { claimName: 'stash-sample-data' } }],
        },
      },
    },
  });
  await podsRunning(w, ns, 'stash-demo', 1);
  await guideRepository(w, ns, 'gcs-repo', 'gcs-secret');

  // all_backup_notification.yaml
  await w.kube.create(backupConfiguration(ns, slack.port, 'Always', ['/source/data'], ALL_BODY));
  await phaseIs(w, BC, 'BackupConfiguration', ns, 'deployment-backup', 'Ready');
  await podsRunning(w, ns, 'stash-demo', 1, { sidecar: true });
  const ok = await nextScheduledBackup(w, ns, 'deployment-backup');
  t.equal(ok.status?.phase, 'Succeeded', 'kubectl get backupsession: Succeeded', { status: ok.status });
  t.equal(ok.status?.targets?.[0]?.stats?.[0]?.snapshots?.[0]?.fileStats?.totalFiles, 3, 'the three files backed up');
  t.equal(slack.calls.length, 1, 'one notification in the channel');
  const first = slack.calls[0];
  t.match(
    first,
    { method: 'POST', path: SLACK_PATH, contentType: 'application/json' },
    "POSTed to the webhook path with the guide's Content-Type",
  );
  t.equal(
    first?.body,
    upstreamRendering(`Backup completed for ${ns}/stash-demo Status: Succeeded.`),
    'as Stash renders it: "Backup completed for demo/stash-demo Status: Succeeded."',
  );

  // failed_backup_notification.yaml: `kubectl apply` → "configured"
  await w.kube.apply(backupConfiguration(ns, slack.port, 'OnFailure', ['/path/does/not/exist'], FAILED_BODY), {
    force: true,
  });
  const failed = await nextScheduledBackup(w, ns, 'deployment-backup');
  t.equal(failed.status?.phase, 'Failed', 'kubectl get backupsession: Failed', { status: failed.status });
  const error = JSON.stringify(failed.status ?? {});
  t.match(error, /\/path\/does\/not\/exist/, 'the session says the path does not exist');
  t.equal(slack.calls.length, 2, 'a new notification has been sent');
  const second = slack.calls[1];
  t.match(second, { method: 'POST', path: SLACK_PATH, contentType: 'application/json' }, 'to the same webhook');
  const reason =
    /"text":":x: Backup failed for demo-slack\/stash-demo Reason: (.*\/path\/does\/not\/exist.*)\.","type"/.exec(
      second?.body ?? '',
    );
  t.ok(reason, 'as Stash renders it: ":x: Backup failed for demo/stash-demo Reason: …"', { body: second?.body });
  t.equal(
    second?.body,
    upstreamRendering(`:x: Backup failed for ${ns}/stash-demo Reason: ${JSON.parse(`"${reason?.[1] ?? ''}"`)}.`),
    'byte for byte the rendering of that reason',
  );
  await noSessionLeftRunning(t, w, ns);
});
