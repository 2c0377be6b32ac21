import t from 'tap';
import { nodeAffinityAdmits } from './runner.ts';
import type { Pod } from './types.ts';

const pod = (terms?: unknown[]): Pod =>
  ({
    spec: {
      containers: [],
      ...(terms
        ? {
            affinity: {
              nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } },
            },
          }
        : {}),
    },
  }) as Pod;

t.test('the pod runner binds only pods whose required node affinity admits its node', async (t) => {
  t.ok(nodeAffinityAdmits(pod(), 'a'), 'no affinity: any node');
  const byName = [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['b'] }] }];
  t.notOk(nodeAffinityAdmits(pod(byName), 'a'));
  t.ok(nodeAffinityAdmits(pod(byName), 'b'));
  const byHostname = [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: ['a'] }] }];
  t.notOk(nodeAffinityAdmits(pod(byHostname), 'a'));
  t.ok(nodeAffinityAdmits(pod(byHostname), 'b'));
  const otherLabel = [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] }];
  t.notOk(nodeAffinityAdmits(pod(otherLabel), 'a'), 'labels this node does not carry never hold');
  t.ok(nodeAffinityAdmits(pod([...otherLabel, ...byName]), 'b'), 'terms are ORed');
});
