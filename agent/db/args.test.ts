import t from 'tap';
import { argsParam, paramValue, splitArgs } from './args.ts';

t.test('splits like a shell without running one', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['', []],
    ['   ', []],
    ['--all-databases', ['--all-databases']],
    ['  --databases  a   b ', ['--databases', 'a', 'b']],
    ['--where="id > 5"', ['--where=id > 5']],
    ['--where=\'a "b" c\'', ['--where=a "b" c']],
    ['a\\ b', ['a b']],
    ['"x\\"y"', ['x"y']],
    ["''", ['']],
    ['--ignore-table=db.t1\t--ignore-table=db.t2\n', ['--ignore-table=db.t1', '--ignore-table=db.t2']],
    ['"a;b|c"', ['a;b|c']],
  ];
  for (const [input, want] of cases) t.same(splitArgs(input), want, JSON.stringify(input));
});

t.test('refuses shell syntax it would not honour', async (t) => {
  for (const input of [
    'a; rm -rf /',
    'a | b',
    '$(id)',
    '`id`',
    '"$HOME"',
    'a > f',
    'a && b',
    '"open',
    "'open",
    'tail\\',
  ]) {
    t.throws(
      () => splitArgs(input),
      { code: 'VALIDATION_FAILED', message: /^task\.params\[args\]: / },
      JSON.stringify(input),
    );
  }
});

t.test('params: last value wins, absent is undefined', async (t) => {
  const params = [
    { name: 'args', value: '--a' },
    { name: 'other', value: 'x' },
    { name: 'args', value: '--b "c d"' },
  ];
  t.equal(paramValue(params, 'args'), '--b "c d"');
  t.same(argsParam(params), ['--b', 'c d']);
  t.equal(argsParam([{ name: 'other', value: 'x' }]), undefined);
  t.equal(argsParam(undefined), undefined);
  t.same(argsParam([{ name: 'args', value: '' }]), []);
});
