// The agent ClusterRoles of manifests/webhook/agent-rbac.yaml, asked of the real RBAC authorizer: every agent
// role lets its service account keep a heartbeat Lease (create, then renew by patch) and none may delete one
// (the Lease is left to garbage collection with its session). The test agents run with an admin kubeconfig,
// so nothing else here would notice a role that lacks a verb.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../shared/kube/client.ts';
import { useCluster } from '../world/harness.ts';

const ROLES = ['stash-sidecar', 'stash-restore-init-container', 'stash-backup-job', 'stash-restore-job'];

t.test('every agent role may keep a heartbeat Lease', async (t) => {
  const { kube, namespace: ns } = await useCluster(t);
  const docs = parseAllDocuments(
    readFileSync(new URL('../../manifests/webhook/agent-rbac.yaml', import.meta.url), 'utf8'),
  ).map((d) => d.toJSON() as KubeObject);
  for (const d of docs) await kube.apply(d);
  for (const role of docs.map((d) => d.metadata?.name ?? '')) t.ok(role.startsWith('stash-'), role);
  t.same(
    ROLES.filter((r) => !docs.some((d) => d.metadata?.name === r)),
    [],
    'the roles the heartbeat needs are in the file',
  );

  const allowed = async (sa: string, verb: string): Promise<boolean> => {
    const review = await kube.request<{ status?: { allowed?: boolean } }>({
      method: 'POST',
      path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: `system:serviceaccount:${ns}:${sa}`,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
          resourceAttributes: {
            namespace: ns,
            verb,
            group: 'coordination.k8s.io',
            resource: 'leases',
            name: 'stash-heartbeat-0123456789abcdef0123',
          },
        },
      },
    });
    return review.status?.allowed === true;
  };

  for (const role of ROLES) {
    const sa = `${role}-sa`;
    await kube.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: role, namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
    });
    t.notOk(await allowed('unbound-sa', 'patch'), 'a service account without the role may not');
    for (const verb of ['get', 'create', 'patch']) {
      // A fresh RoleBinding reaches the authorizer's cache within moments.
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        ok = await allowed(sa, verb);
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
      t.ok(ok, `${role}: ${verb} leases`);
    }
    t.notOk(await allowed(sa, 'delete'), `${role}: no delete (left to garbage collection)`);
  }
});

t.test(
  'kubedump roles: read (backup) or re-create (restore) every resource, in the bound namespace only',
  async (t) => {
    const { kube, namespace: ns } = await useCluster(t);
    const docs = parseAllDocuments(
      readFileSync(new URL('../../manifests/webhook/agent-rbac.yaml', import.meta.url), 'utf8'),
    ).map((d) => d.toJSON() as KubeObject);
    for (const d of docs) await kube.apply(d);
    const may = async (sa: string, verb: string, group: string, resource: string, namespace = ns): Promise<boolean> => {
      const review = await kube.request<{ status?: { allowed?: boolean } }>({
        method: 'POST',
        path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: `system:serviceaccount:${ns}:${sa}`,
            groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
            resourceAttributes: { namespace, verb, group, resource },
          },
        },
      });
      return review.status?.allowed === true;
    };
    for (const purpose of ['backup', 'restore'] as const) {
      const sa = `stash-kubedump-${purpose}-x`;
      await kube.create({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: sa, namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `stash-kubedump-${purpose}` },
        subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
      });
      let bound = false;
      for (let i = 0; i < 50 && !bound; i++) {
        bound = await may(sa, 'list', 'apps', 'deployments');
        if (!bound) await new Promise((r) => setTimeout(r, 100));
      }
      t.ok(bound, `${purpose}: list deployments`);
      for (const [group, resource] of [
        ['', 'secrets'],
        ['', 'configmaps'],
        ['appcatalog.appscode.com', 'appbindings'],
        ['stash.appscode.com', 'repositories'],
      ] as const)
        t.ok(await may(sa, 'list', group, resource), `${purpose}: list ${resource}`);
      t.equal(await may(sa, 'create', 'apps', 'deployments'), purpose === 'restore', `${purpose}: create deployments`);
      t.equal(await may(sa, 'update', '', 'configmaps'), purpose === 'restore', `${purpose}: update (overwrite)`);
      t.notOk(await may(sa, 'delete', 'apps', 'deployments'), `${purpose}: never delete`);
      t.notOk(await may(sa, 'list', 'apps', 'deployments', 'kube-system'), `${purpose}: nothing in other namespaces`);
      t.notOk(await may(sa, 'create', '', 'namespaces', ''), `${purpose}: no namespace creation`);
    }
  },
);
