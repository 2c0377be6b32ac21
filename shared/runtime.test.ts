import t from 'tap';

t.test('runs on Node.js 24 LTS', async (t) => {
  t.match(process.versions.node, /^24\./, `tests must run on Node 24, got ${process.versions.node}`);
});
