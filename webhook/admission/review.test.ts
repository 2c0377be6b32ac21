// decodeReview's cut (request.oldObject left undecoded) must only ever be taken for the apiserver's shape of body,
// must then give exactly what a full decode gives, less oldObject, and must never accept a truncated body.
import t from 'tap';
import { deployment, review } from '../../test/fixtures/reviews/fixtures.ts';
import { allow, allowPatchText, allowText, decodeReview, reviewShell } from './review.ts';
import type { Obj } from './types.ts';

/** What the cut decodes to: the review less request.oldObject. */
function withoutOld(body: Obj): Obj {
  const copy = structuredClone(body);
  delete (copy.request as Obj).oldObject;
  return copy;
}

const update = review('u-1', deployment(), { operation: 'UPDATE', oldObject: deployment() });
const create = review('c-1', deployment());

t.test('apiserver-shaped bodies: oldObject left out, everything else as decoded', async (t) => {
  const text = JSON.stringify(update);
  t.same(decodeReview(text, false), withoutOld(update));
  t.same(decodeReview(text, true), update, 'decoded whole when asked for oldObject');
  t.same(decodeReview(`${text}\n  `, false), withoutOld(update), 'trailing white space');
  t.same(decodeReview(JSON.stringify(update, null, 2), true), update);
  // A CREATE's null oldObject costs nothing to decode: the body is decoded whole.
  t.same(decodeReview(JSON.stringify(create), false), create, 'null oldObject kept');
  // A key named oldObject inside request's oldObject is never reached.
  const nestedOld = structuredClone(update);
  (((nestedOld.request as Obj).oldObject as Obj).metadata as Obj).oldObject = { x: 1 };
  t.same(decodeReview(JSON.stringify(nestedOld), false), withoutOld(nestedOld), 'oldObject key inside oldObject');
  const r = decodeReview(JSON.stringify(update), false) as { request: Obj };
  t.notOk('oldObject' in r.request);
});

t.test('any other shape is decoded whole', async (t) => {
  const cases: Array<[string, Obj]> = [];
  // oldObject before object: the text before the cut has no object.
  const req = update.request as Obj;
  const { object, oldObject, ...rest } = req;
  cases.push(['oldObject first', { ...update, request: { ...rest, oldObject, object } }]);
  // A key named oldObject inside object, before request's own: the first match is not request's.
  const nestedInObject = structuredClone(update);
  (((nestedInObject.request as Obj).object as Obj).metadata as Obj).oldObject = { x: 1 };
  cases.push(['oldObject key nested in object', nestedInObject]);
  // A key named oldObject inside object, and no oldObject in request.
  const inObject = structuredClone(create);
  delete (inObject.request as Obj).oldObject;
  (((inObject.request as Obj).object as Obj).spec as Obj).oldObject = { y: 2 };
  cases.push(['oldObject key only inside object', inObject]);
  // oldObject that is not an object: must reach parseReview's check.
  cases.push(['oldObject a number', { ...update, request: { ...req, oldObject: 5 } }]);
  cases.push(['oldObject a string', { ...update, request: { ...req, oldObject: 'x' } }]);
  // Review wrapped in something else: the cut would not be at request level.
  cases.push(['review nested', { wrapper: update, request: { uid: 'w' } }]);
  // No dryRun after oldObject, or one only inside oldObject.
  const { dryRun, options, ...noDry } = req;
  cases.push(['no dryRun', { ...update, request: noDry }]);
  cases.push(['dryRun only inside oldObject', { ...update, request: { ...noDry, oldObject: { dryRun: true, options } } }]);
  cases.push(['dryRun before oldObject', { ...update, request: { dryRun, ...noDry, options } }]);
  t.ok(dryRun === false && options !== undefined);
  for (const [name, body] of cases) {
    t.same(decodeReview(JSON.stringify(body), false), body, name);
  }
  // Review fields after request: the body does not end with request's and the review's braces.
  const reordered = { request: update.request, apiVersion: update.apiVersion, kind: update.kind };
  t.same(decodeReview(JSON.stringify(reordered), false), reordered, 'request not last');
});

t.test('text that is not JSON throws as JSON.parse does', async (t) => {
  const text = JSON.stringify(update);
  const bad = ['{nope', `${text}x`, `${text.slice(0, -2)}]}`, text.replace('"dryRun":false', '"dryRun":fals')];
  // Every truncation from inside oldObject on, the cases the closing-brace checks must catch.
  for (let n = text.lastIndexOf(',"oldObject":') + 1; n < text.length; n++) bad.push(text.slice(0, n));
  let thrown = 0;
  for (const b of bad) {
    try {
      decodeReview(b, false);
    } catch (err) {
      if (err instanceof SyntaxError) thrown++;
    }
  }
  t.equal(thrown, bad.length, 'every one throws a SyntaxError');
  t.throws(() => decodeReview('', false), SyntaxError);
});

t.test('answer texts are the JSON of the answer objects', async (t) => {
  for (const uid of ['u', 'quote " back \\ slash', 'é😀\u2028']) {
    t.equal(allowText(JSON.stringify(uid)), JSON.stringify(allow(uid)));
    const ops = [{ op: 'add' as const, path: '/metadata/annotations/a~1b', value: { x: 'é' } }];
    t.equal(allowPatchText(JSON.stringify(uid), JSON.stringify(ops)), JSON.stringify(allow(uid, ops)));
  }
});

t.test('the one part the cut path does not check: the inside of oldObject', async (t) => {
  const text = JSON.stringify(update).replace(/,"oldObject":\{/, ',"oldObject":{not json at all,');
  t.throws(() => decodeReview(text, true), SyntaxError, 'decoded whole: rejected');
  t.same(decodeReview(text, false), withoutOld(update), 'cut: the rest decodes, oldObject is never looked at');
});

/** What the shell decodes to: the review less request.object and request.oldObject. */
function withoutObjects(body: Obj): Obj {
  const copy = withoutOld(body);
  delete (copy.request as Obj).object;
  return copy;
}

t.test('reviewShell: the envelope of apiserver-shaped bodies, and the objects as text', async (t) => {
  for (const [name, body] of [['update', update], ['create', create]] as const) {
    const text = JSON.stringify(body);
    const shell = reviewShell(text);
    t.ok(shell, name);
    t.same(shell!.review, withoutObjects(body), `${name}: everything but the objects, as decoded`);
    const req = body.request as Obj;
    t.equal(shell!.objectsText, `${JSON.stringify(req.object)},"oldObject":${JSON.stringify(req.oldObject)}`, `${name}: objects text`);
  }
  const seen: string[] = [];
  t.equal(reviewShell(JSON.stringify(update), (text) => (seen.push(text), false)), undefined, 'objects not wanted: no shell');
  t.same(seen, [reviewShell(JSON.stringify(update))!.objectsText], 'the objects text is what `wanted` sees');
  const spaced = reviewShell(`${JSON.stringify(update)} \n`);
  t.same(spaced?.review, withoutObjects(update), 'trailing white space');
});

t.test('reviewShell: any other shape gets no shell', async (t) => {
  const req = update.request as Obj;
  const cases: Array<[string, string]> = [];
  const { object, oldObject, dryRun, options, ...envelope } = req;
  t.ok(object && oldObject && dryRun === false && options);
  // A key named object inside userInfo, before request's own: the first match is not request's.
  const extra = { ...update, request: { ...envelope, userInfo: { username: 'u', extra: { a: ['b'], object: ['c'] } }, object, oldObject, dryRun, options } };
  cases.push(['object key inside userInfo.extra', JSON.stringify(extra)]);
  cases.push(['object before the envelope ends', JSON.stringify({ ...update, request: { object, ...envelope, oldObject, dryRun, options } })]);
  cases.push(['object null (DELETE)', JSON.stringify({ ...update, request: { ...envelope, object: null, oldObject, dryRun, options } })]);
  cases.push(['object a string', JSON.stringify({ ...update, request: { ...envelope, object: 'x', oldObject, dryRun, options } })]);
  cases.push(['no dryRun', JSON.stringify({ ...update, request: { ...envelope, object, oldObject } })]);
  cases.push(['dryRun only inside oldObject', JSON.stringify({ ...update, request: { ...envelope, object, oldObject: { dryRun: true, options } } })]);
  cases.push(['object key again after dryRun', JSON.stringify({ ...update, request: { ...envelope, object, oldObject, dryRun, options, object2: 1 } }).replace('"object2"', '"object"')]);
  cases.push(['review nested', JSON.stringify({ wrapper: update, request: { uid: 'w' } })]);
  cases.push(['request not last', JSON.stringify({ request: update.request, apiVersion: update.apiVersion, kind: update.kind })]);
  cases.push(['not JSON', '{nope']);
  cases.push(['empty', '']);
  for (const [name, text] of cases) t.equal(reviewShell(text), undefined, name);
  // Every truncation from the objects on: the envelope or the rest fails to decode, or the shape checks fail.
  const text = JSON.stringify(update);
  let shells = 0;
  for (let n = text.indexOf(',"object":') + 1; n < text.length; n++) if (reviewShell(text.slice(0, n))) shells++;
  t.equal(shells, 0, 'no truncated body gets a shell');
});
