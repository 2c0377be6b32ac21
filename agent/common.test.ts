import t from 'tap';
import type { Kube } from '../shared/kube/client.ts';
import { loadRepository, prefetchRepository } from './common.ts';

// Only getOrNull is reached by the Repository and Secret reads; every read is recorded.
function fakeKube(objects: Record<string, unknown>, failing: string[] = []): { kube: Kube; reads: string[] } {
  const reads: string[] = [];
  const kube = {
    async getOrNull(_apiVersion: string, kind: string, namespace: string, name: string) {
      const key = `${kind} ${namespace}/${name}`;
      reads.push(key);
      if (failing.includes(key)) throw new Error(`${key}: forbidden`);
      return objects[key] ?? null;
    },
  } as unknown as Kube;
  return { kube, reads };
}

const repo = (secret: string) => ({
  metadata: { name: 'r', namespace: 'ns' },
  spec: { backend: { storageSecretName: secret } },
});
const secret = (password: string) => ({ data: { RESTIC_PASSWORD: Buffer.from(password).toString('base64') } });

t.test('without a prefetch the Repository is read, then the Secret it names', async (t) => {
  const { kube, reads } = fakeKube({ 'Repository ns/r': repo('s'), 'Secret ns/s': secret('pw') });
  const loaded = await loadRepository(kube, { name: 'r' }, 'ns');
  t.same(loaded.secretData, { RESTIC_PASSWORD: 'pw' });
  t.same(reads, ['Repository ns/r', 'Secret ns/s']);
});

t.test('a failed read of a guessed Secret the Repository no longer names is not used', async (t) => {
  const { kube, reads } = fakeKube({ 'Repository ns/r': repo('new'), 'Secret ns/new': secret('pw') }, [
    'Secret ns/old',
  ]);
  const prefetch = prefetchRepository(kube, { name: 'r' }, 'ns', 'old');
  const loaded = await loadRepository(kube, { name: 'r' }, 'ns', prefetch);
  t.same(loaded.secretData, { RESTIC_PASSWORD: 'pw' });
  t.same(reads.sort(), ['Repository ns/r', 'Secret ns/new', 'Secret ns/old']);
});

t.test('a failed read of the Secret the Repository names surfaces', async (t) => {
  const { kube, reads } = fakeKube({ 'Repository ns/r': repo('s') }, ['Secret ns/s']);
  await t.rejects(
    loadRepository(kube, { name: 'r' }, 'ns', prefetchRepository(kube, { name: 'r' }, 'ns', 's')),
    /Secret ns\/s: forbidden/,
  );
  t.same(reads.sort(), ['Repository ns/r', 'Secret ns/s'], 'not read a second time');
  const other = fakeKube({ 'Repository ns/r': repo('s') }, ['Secret ns/s']);
  await t.rejects(loadRepository(other.kube, { name: 'r' }, 'ns'), /Secret ns\/s: forbidden/);
});

t.test('a prefetch of another Repository is not used', async (t) => {
  const { kube, reads } = fakeKube({
    'Repository ns/r': repo('s'),
    'Secret ns/s': secret('pw'),
    'Repository ns/q': repo('s'),
  });
  const loaded = await loadRepository(kube, { name: 'r' }, 'ns', prefetchRepository(kube, { name: 'q' }, 'ns'));
  t.same(loaded.secretData, { RESTIC_PASSWORD: 'pw' });
  await new Promise((resolve) => setImmediate(resolve));
  t.same(
    reads.sort(),
    ['Repository ns/q', 'Repository ns/r', 'Secret ns/s', 'Secret ns/s'],
    'the Repository and its Secret read again',
  );
});
