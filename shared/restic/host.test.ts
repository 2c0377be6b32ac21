import t from 'tap';
import { ValidationError } from '../errors.ts';
import { hostFor, ordinalOf, restoreHostForTemplates } from './host.ts';

t.test('hostFor follows docs/api.md §12 and never uses the pod name itself', async (t) => {
  const table: Array<[Parameters<typeof hostFor>, string]> = [
    [['Deployment', undefined, 'web-7d9f8-abcde'], 'host-0'],
    [['Deployment', 'web', 'web-7d9f8-abcde'], 'web'],
    [['DeploymentConfig', ''], 'host-0'],
    [['ReplicaSet', 'rs'], 'rs'],
    [['ReplicationController'], 'host-0'],
    [['StatefulSet', undefined, 'db-2'], 'host-2'],
    [['StatefulSet', 'db', 'db-12'], 'db-12'],
    [['StatefulSet', 'db', 'ignored', undefined, 3], 'db-3'],
    [['DaemonSet', undefined, 'agent-x1', 'node-a'], 'node-a'],
    [['DaemonSet', 'logs', 'agent-x1', 'node-a'], 'logs-node-a'],
    [['PersistentVolumeClaim'], 'host-0'],
    [['AppBinding', 'mysql'], 'mysql'],
  ];
  for (const [args, want] of table) t.equal(hostFor(...args), want, JSON.stringify(args));
  t.equal(hostFor({ targetKind: 'StatefulSet', alias: ' a ', podName: 'x-0' }), 'a-0', 'object form, alias trimmed');
  t.equal(hostFor('Deployment', 'a', 'pod-1'), hostFor('Deployment', 'a', 'pod-2'), 'a rollout keeps the host');
  t.throws(() => hostFor('StatefulSet', 'db', 'no-ordinal-x'), ValidationError, 'StatefulSet needs an ordinal');
  t.throws(() => hostFor('DaemonSet', 'x', 'p'), ValidationError, 'DaemonSet needs NODE_NAME');
});

t.test('ordinals and volumeClaimTemplate restores', async (t) => {
  t.equal(ordinalOf('web-0'), 0);
  t.equal(ordinalOf('my-db-10'), 10);
  t.equal(ordinalOf('web'), undefined);
  t.equal(restoreHostForTemplates('data', 2, true), 'data-2');
  t.equal(restoreHostForTemplates(undefined, 2, true), 'host-2');
  t.equal(restoreHostForTemplates('data', 2, false), 'data');
  t.equal(restoreHostForTemplates(undefined, undefined, false), 'host-0');
});
