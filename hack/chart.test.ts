// The Helm chart charts/stash-ts without a cluster: `helm lint`, the manifests rendered from it (one source,
// hack/render-manifests.ts), the alert rules (`promtool check rules`, `promtool test rules` on
// test/alerts/alerts.test.yaml) and the dashboard, whose every panel must query metrics the operator serves.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { binary } from '../test/world/bins.ts';
import { StashMetrics } from '../webhook/metrics.ts';
import { renderManifests } from './render-manifests.ts';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const chart = path.join(root, 'charts', 'stash-ts');
const ALL_ON = [
  'monitoring.agent=prometheus.io/operator',
  'monitoring.backup=true',
  'monitoring.alerts.enabled=true',
  'monitoring.dashboard.enabled=true',
];

function run(bin: string, args: string[]): { code: number; out: string } {
  try {
    return { code: 0, out: execFileSync(bin, args, { encoding: 'utf8', stdio: 'pipe', cwd: root }) };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { code: e.status ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Every metric name /metrics states (HELP lines), process defaults aside. */
async function servedNames(): Promise<Set<string>> {
  const text = await new StashMetrics({ defaults: false }).text();
  return new Set([...text.matchAll(/^# HELP (\S+) /gm)].map((m) => m[1]!));
}

t.test('helm lint passes with the defaults and with every optional part on', async (t) => {
  for (const sets of [[], ALL_ON]) {
    const r = run(binary('helm'), ['lint', chart, ...sets.flatMap((s) => ['--set', s])]);
    t.equal(r.code, 0, `helm lint ${sets.join(' ')}`, { out: r.out });
    t.notMatch(r.out, /\[(WARNING|ERROR)\]/, 'no warnings', { out: r.out });
  }
});

t.test('manifests/ is what the chart renders (edit the chart, then npm run gen:manifests)', async (t) => {
  for (const [rel, text] of renderManifests()) {
    t.equal(readFileSync(path.join(root, rel), 'utf8'), text, `${rel} matches the chart`);
  }
});

t.test('the chart serves the serving certificate it puts in the caBundle, or the user one', async (t) => {
  const docs = (sets: string[]) =>
    run(binary('helm'), ['template', 'x', chart, '--namespace', 'ns1', ...sets.flatMap((s) => ['--set', s])])
      .out.split(/^---\n/m)
      .map((d) => parse(d) as Record<string, unknown> | null)
      .filter((d): d is Record<string, unknown> => !!d);
  const generated = docs([]);
  const secret = generated.find((d) => d.kind === 'Secret') as { data: Record<string, string> } | undefined;
  t.ok(secret, 'a generated TLS Secret');
  const hooks = generated.filter((d) => String(d.kind).endsWith('WebhookConfiguration')) as Array<{
    webhooks: Array<{ clientConfig: { caBundle: string; service: { namespace: string } } }>;
  }>;
  t.equal(hooks.length, 2);
  for (const h of hooks.flatMap((x) => x.webhooks)) {
    t.equal(h.clientConfig.caBundle, secret?.data['ca.crt'], 'caBundle is the CA of the generated certificate');
    t.equal(h.clientConfig.service.namespace, 'ns1');
  }
  const user = docs([
    'apiserver.servingCerts.generate=false',
    'apiserver.servingCerts.existingSecret=mine',
    'apiserver.servingCerts.caCrt=CA',
  ]);
  t.notOk(
    user.some((d) => d.kind === 'Secret'),
    'no Secret when the user brings one',
  );
  const dep = user.find((d) => d.kind === 'Deployment') as {
    spec: { template: { spec: { volumes: Array<{ secret?: { secretName: string } }> } } };
  };
  t.equal(dep.spec.template.spec.volumes[0]?.secret?.secretName, 'mine', "the user's Secret is mounted");
  const cfg = user.find((d) => d.kind === 'ValidatingWebhookConfiguration') as {
    webhooks: Array<{ clientConfig: { caBundle: string }; failurePolicy: string }>;
  };
  t.equal(
    cfg.webhooks[0]?.clientConfig.caBundle,
    Buffer.from('CA').toString('base64'),
    'caBundle from apiserver.servingCerts.caCrt',
  );
  const ignore = docs(['apiserver.webhook.failurePolicy=Ignore']).find(
    (d) => d.kind === 'ValidatingWebhookConfiguration',
  ) as typeof cfg;
  t.same([...new Set(ignore.webhooks.map((w) => w.failurePolicy))], ['Ignore'], 'apiserver.webhook.failurePolicy');
});

t.test('alert rules: promtool check rules, and promtool test rules fires and spares each alert', async (t) => {
  const rules = path.join(chart, 'files', 'alerts.yaml');
  const check = run(binary('promtool'), ['check', 'rules', rules]);
  t.equal(check.code, 0, 'promtool check rules', { out: check.out });
  const test = run(binary('promtool'), ['test', 'rules', path.join(root, 'test', 'alerts', 'alerts.test.yaml')]);
  t.equal(test.code, 0, 'promtool test rules', { out: test.out });
  const groups = (
    parse(readFileSync(rules, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> }
  ).groups;
  const alerts = groups.flatMap((g) => g.rules);
  const tests = readFileSync(path.join(root, 'test', 'alerts', 'alerts.test.yaml'), 'utf8');
  const served = await servedNames();
  for (const a of alerts) {
    t.ok(
      new RegExp(`alertname: ${a.alert}\\n\\s+exp_alerts: \\[\\]`).test(tests),
      `${a.alert} has a test where it does not fire`,
    );
    t.ok(new RegExp(`alertname: ${a.alert}\\n\\s+exp_alerts:\\n`).test(tests), `${a.alert} has a test where it fires`);
    for (const name of a.expr.match(/\bstash_\w+/g) ?? []) t.ok(served.has(name), `${a.alert} uses served ${name}`);
  }
});

t.test('the dashboard parses and every panel queries served metrics', async (t) => {
  const d = JSON.parse(readFileSync(path.join(chart, 'files', 'dashboard.json'), 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    templating: { list: Array<{ query?: unknown }> };
  };
  const served = await servedNames();
  t.ok(d.panels.length >= 8, `${d.panels.length} panels`);
  for (const p of d.panels) {
    const names = (p.targets ?? []).flatMap((x) => x.expr.match(/\bstash_\w+/g) ?? []);
    t.ok(names.length > 0, `${p.title}: queries a stash metric`);
    for (const n of names) t.ok(served.has(n), `${p.title}: ${n} is served`);
  }
  for (const v of d.templating.list) {
    for (const n of String(v.query ?? '').match(/\bstash_\w+/g) ?? [])
      t.ok(served.has(n), `variable query: ${n} is served`);
  }
});
