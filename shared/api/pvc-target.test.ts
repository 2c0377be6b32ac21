import t from 'tap';
import { withPvcDefaults } from './pvc-target.ts';

const pvc = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'nfs-pvc' };

t.test(
  'a PVC target as the volumes guide writes it: the claim at /stash-data, and that is what is backed up',
  async (t) => {
    t.same(withPvcDefaults({ ref: pvc }), {
      ref: pvc,
      volumeMounts: [{ name: 'stash-volume', mountPath: '/stash-data' }],
      paths: ['/stash-data'],
    });
    t.same(withPvcDefaults({ ref: pvc, paths: [] }).paths, ['/stash-data'], 'an empty list is no paths');
  },
);

t.test('explicit values stay', async (t) => {
  const mounted = { ref: pvc, volumeMounts: [{ name: 'uploads', mountPath: '/v' }], paths: ['/v/a'] };
  t.equal(withPvcDefaults(mounted), mounted, 'paths and volumeMounts: unchanged');
  const mountsOnly = { ref: pvc, volumeMounts: [{ name: 'uploads', mountPath: '/v' }] };
  t.equal(
    withPvcDefaults(mountsOnly),
    mountsOnly,
    'volumeMounts without paths: unchanged (the agent says nothing is to be backed up)',
  );
  t.same(
    withPvcDefaults({ ref: pvc, paths: ['/stash-data/pod-1'] }),
    { ref: pvc, volumeMounts: [{ name: 'stash-volume', mountPath: '/stash-data' }], paths: ['/stash-data/pod-1'] },
    'paths under the default mount',
  );
  const dep = { ref: { kind: 'Deployment', name: 'd' } };
  t.equal(withPvcDefaults(dep), dep, 'workloads are not touched');
  t.equal(withPvcDefaults(undefined), undefined);
});
