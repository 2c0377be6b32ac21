import t from 'tap';
import type { RepositoryObject } from './open.ts';
import { repositoryPodSpec as build, type RepositoryPodOptions } from './pod-spec.ts';

const repositoryPodSpec = (o: Omit<RepositoryPodOptions, 'command' | 'component' | 'managedBy' | 'generateName'>) =>
  build({
    ...o,
    command: ['sleep', '60'],
    component: 'kubectl-stash-repository',
    managedBy: 'kubectl-stash',
    generateName: 'x-',
  });

type Spec = {
  metadata: { generateName: string; labels: Record<string, string>; ownerReferences?: Array<{ uid: string }> };
  spec: {
    automountServiceAccountToken: boolean;
    securityContext: Record<string, unknown>;
    containers: Array<{
      command: string[];
      env: Array<{ name: string; value?: string; valueFrom?: unknown }>;
      securityContext: Record<string, unknown>;
      volumeMounts: Array<{ name: string; readOnly?: boolean; subPath?: string }>;
    }>;
    volumes: Array<{ name: string; persistentVolumeClaim?: { claimName: string; readOnly?: boolean } }>;
  };
};

const repo = {
  apiVersion: 'stash.appscode.com/v1alpha1',
  kind: 'Repository',
  metadata: { name: 'pvc-repo', namespace: 'demo', uid: 'u-1' },
  spec: {
    backend: {
      storageSecretName: 'repo-secret',
      local: { mountPath: '/safe/data', subPath: 'team-a', persistentVolumeClaim: { claimName: 'backups' } },
    },
  },
} as unknown as RepositoryObject;

t.test('read-only: the claim and the mount are read-only, the password comes from the Secret', async (t) => {
  const p = repositoryPodSpec({ repo, image: 'stash-ts/agent:0.1.0', writable: false }) as unknown as Spec;
  const c = p.spec.containers[0]!;
  t.equal(p.spec.volumes[0]!.persistentVolumeClaim?.claimName, 'backups');
  t.equal(p.spec.volumes[0]!.persistentVolumeClaim?.readOnly, true, 'claim mounted read-only');
  const mount = c.volumeMounts.find((m) => m.name === 'repository')!;
  t.equal(mount.readOnly, true);
  t.equal(mount.subPath, 'team-a', 'the Repository subPath is kept');
  const pw = c.env.find((e) => e.name === 'RESTIC_PASSWORD')!;
  t.same(pw.valueFrom, { secretKeyRef: { name: 'repo-secret', key: 'RESTIC_PASSWORD' } });
  t.equal(pw.value, undefined, 'no password value in the spec');
  t.notOk(JSON.stringify(c.command).includes('repo-secret'), 'nothing of the Secret on the command line');
  t.equal(p.metadata.labels['app.kubernetes.io/managed-by'], 'kubectl-stash', 'findable by label');
  t.equal(p.metadata.labels['stash.appscode.com/repository'], 'pvc-repo');
  t.equal(p.metadata.ownerReferences?.[0]?.uid, 'u-1', 'owned by the Repository');
  t.equal(p.spec.automountServiceAccountToken, false, 'no API token in the pod');
  t.same(repo.spec.backend.local?.persistentVolumeClaim, { claimName: 'backups' }, 'the Repository is not changed');
});

t.test('restricted Pod Security level', async (t) => {
  const p = repositoryPodSpec({ repo, image: 'img', writable: true }) as unknown as Spec;
  const c = p.spec.containers[0]!;
  t.same(c.securityContext, {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
  });
  t.same(p.spec.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
  t.notOk(p.spec.volumes[0]!.persistentVolumeClaim?.readOnly, 'writable: the claim is not read-only');
  t.notOk(c.volumeMounts.find((m) => m.name === 'repository')!.readOnly);
  const asOwner = repositoryPodSpec({ repo, image: 'img', writable: false, user: { uid: 1000, gid: 2000 } });
  t.match((asOwner as unknown as Spec).spec.securityContext, { runAsUser: 1000, runAsGroup: 2000, runAsNonRoot: true });
});
