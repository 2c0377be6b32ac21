// The WebAssembly engine run here renders every hook template of Stash's docs examples (and the sprig
// functions around them) to the same bytes as Go's text/template + sprig run directly: the same program built
// natively (hack/build-bins.sh template), fed the same request on stdin.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { templateEngineDir, templateWasm } from '../../test/backends/bins.ts';
import { isTemplate, renderHookText, templateEngine, type TemplateData } from './engine.ts';

const native = join(templateEngineDir(), 'stash-template');
function goRender(template: string, data: TemplateData): { output: string; error?: string } {
  const out = execFileSync(native, { input: JSON.stringify({ template, data }), encoding: 'utf8' });
  return JSON.parse(out) as { output: string; error?: string };
}

// Stash docs, guides/hooks/slack-notification (all_backup_notification.yaml, failed_backup_notification.yaml)
// and the hooks concept page's "Templating Support in Hook" (its OnFailure body is the guide's, once YAML's
// `body: |` has stripped the indentation): the bodies as the block scalar delivers them.
const slack = (line: string, indent: string) =>
  [
    line,
    `${indent}{`,
    `${indent}  "blocks": [`,
    `${indent}      {`,
    `${indent}        "type": "section",`,
    `${indent}        "text": {{ toJson $msg }}`,
    `${indent}      }`,
    `${indent}    ]`,
    `${indent}}`,
    '',
  ].join('\n');
const STASH_DOCS: Record<string, string> = {
  'slack guide, every backup': slack(
    '{{- $msg := dict  "type" "mrkdwn" "text" (printf "Backup completed for %s/%s Status: %s." .Namespace .Target.Name .Status.Phase) -}}',
    '',
  ),
  'slack guide, failed backup': slack(
    '{{- $msg := dict  "type" "mrkdwn" "text" (printf ":x: Backup failed for %s/%s Reason: %s." .Namespace .Target.Name .Status.Error) -}}',
    '',
  ),
  // The data fields the concept page lists, as one exec hook would print them.
  'hooks concept page, every field':
    '{{ .Name }} {{ .Namespace }} {{ .Invoker.Kind }} {{ .Invoker.Name }} {{ .Target.Kind }} {{ .Target.Name }} {{ .Target.APIVersion }} {{ .Status.Phase }} {{ .Status.Duration }} {{ .Status.Error }}',
};
const MORE: Record<string, string> = {
  'the summary as JSON': '{{ toJson . }}',
  'one body for both outcomes (if/else reassigning $msg)':
    '{{$msg := dict "type" "mrkdwn" "text" "ooo"}}{{if eq .Status.Phase "Succeeded"}}{{- $msg = dict  "type" "mrkdwn" "text" (printf "Backup completed for %s/%s Status: %s." .Namespace .Target.Name .Status.Phase) -}}{{else}}{{- $msg = dict  "type" "mrkdwn" "text" (printf "Backup failed for %s/%s Status: %s." .Namespace .Target.Name .Status.Error) -}}{{end}}\n  {"text": {{ toJson $msg }}}\n',
  'pointer field and missing string': '[{{ .Invoker.APIGroup }}] [{{ .Target.Namespace }}] {{ .RetryLeft }}',
  'sprig strings, defaults, conditionals':
    '{{ .Status.Phase | upper }} {{ .Status.Error | default "none" | quote }} {{ if eq .Status.Phase "Failed" }}:x:{{ else }}:white_check_mark:{{ end }} {{ .Target.Name | trunc 3 }} {{ list 1 2 3 | join "," }}',
  'dict, set and toPrettyJson':
    '{{- $m := dict "a" .Name -}}{{- $_ := set $m "b" .Status.Duration -}}{{ toPrettyJson $m }}',
  'whitespace trimming and escapes': '  {{- "x\\n" -}}  \n{{ printf "%q" .Status.Error }}\n',
  'unicode and JSON escaping': '{{ toJson (dict "t" (printf "<%s> & ✓" .Status.Error)) }}',
};

const data: TemplateData[] = [
  {
    Name: 'deployment-backup-1646741400',
    Namespace: 'demo',
    Invoker: { APIGroup: 'stash.appscode.com', Kind: 'BackupConfiguration', Name: 'deployment-backup' },
    Target: { APIVersion: 'apps/v1', Kind: 'Deployment', Name: 'stash-demo' },
    Status: { Phase: 'Failed', Duration: '10s', Error: 'failed to backup host-0. Reason: path not found "x"' },
    RetryLeft: 2,
  },
  {
    Name: 'sample-restore',
    Namespace: 'prod',
    Invoker: { Kind: 'RestoreSession', Name: 'sample-restore' },
    Target: { Kind: 'StatefulSet', Name: 'db', Namespace: 'prod' },
    Status: { Phase: 'Succeeded', Duration: '1m2.5s' },
  },
];

t.test('every template renders to the bytes Go text/template + sprig render', async (t) => {
  const engine = await templateEngine(templateWasm());
  for (const [name, template] of Object.entries({ ...STASH_DOCS, ...MORE })) {
    for (const d of data) {
      const want = goRender(template, d);
      t.equal(want.error, undefined, `${name}: Go renders it`);
      t.equal(engine.render(template, d), want.output, `${name} (${d.Status?.Phase})`);
    }
  }
  const first = engine.render(STASH_DOCS['slack guide, every backup']!, { ...data[1], Namespace: 'demo' });
  t.equal(
    first,
    '{\n  "blocks": [\n      {\n        "type": "section",\n        "text": {"text":"Backup completed for demo/db Status: Succeeded.","type":"mrkdwn"}\n      }\n    ]\n}',
    "the Slack guide's message, as its screenshot shows it (Stash trims the block scalar's final newline)",
  );
});

t.test('parse and execution errors are those of Go', async (t) => {
  const engine = await templateEngine(templateWasm());
  for (const bad of ['{{ .Name', '{{ nosuchfunc .Name }}', '{{ end }}', '{{ if .Name }}x']) {
    const go = goRender(bad, data[0]!);
    t.ok(go.error, `Go rejects ${bad}`);
    t.equal(engine.parseError(bad), go.error, `same parse error for ${bad}`);
  }
  const exec = '{{ .Status.Nope }}';
  t.equal(engine.parseError(exec), undefined, 'a missing field parses');
  t.throws(() => engine.render(exec, data[0]!), { name: 'TemplateError', message: goRender(exec, data[0]!).error });
  t.equal(engine.render('{{ env "HOME" }}|{{ expandenv "$PATH" }}', {}), '|', 'the engine has no environment to read');
});

t.test('only text with an action is rendered', async (t) => {
  process.env.STASH_TEMPLATE_WASM = templateWasm();
  t.notOk(isTemplate('{"text": "plain"}'));
  t.equal(await renderHookText('{"text": "%s {plain}"}', undefined), '{"text": "%s {plain}"}');
  t.equal(await renderHookText('{{ .Name }}', { Name: 'x' }), 'x');
});

// Stash's renderTemplate: strings.TrimSpace of the output, in the template named hook-template.
t.test("rendered text is trimmed by Go's white-space rule; errors name hook-template", async (t) => {
  const engine = await templateEngine(templateWasm());
  t.equal(engine.render('\u0085\u00a0 {{ .Name }}\u2003\n\t', { Name: 'x' }), 'x', 'NEL, NBSP, em space: Go spaces');
  t.equal(
    engine.render('\ufeff{{ .Name }}', { Name: 'x' }),
    '\ufeffx',
    'a BOM is not Go white space (JS trim would cut it)',
  );
  t.match(engine.parseError('{{ .Name'), /^template: hook-template:1: /);
});
