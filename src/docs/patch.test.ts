/** JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7396) application, and patch diffs. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PatchError } from './errors.ts';
import type { Json } from './json.ts';
import { applyMergePatch } from './merge-patch.ts';
import { applyPatch, diff } from './patch.ts';

describe('JSON Patch', () => {
  it('applies add, remove, replace, move, copy and test (RFC 6902 appendix A cases)', () => {
    assert.deepEqual(applyPatch({ foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }]), { foo: 'bar', baz: 'qux' });
    assert.deepEqual(applyPatch({ foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }]), { foo: ['bar', 'qux', 'baz'] });
    assert.deepEqual(applyPatch({ foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: 'x' }]), { foo: ['bar', 'x'] });
    assert.deepEqual(applyPatch({ baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }]), { foo: 'bar' });
    assert.deepEqual(applyPatch({ foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }]), { foo: ['bar', 'baz'] });
    assert.deepEqual(applyPatch({ baz: 'qux' }, [{ op: 'replace', path: '/baz', value: 'boo' }]), { baz: 'boo' });
    assert.deepEqual(applyPatch({ foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } }, [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }]), {
      foo: { bar: 'baz' },
      qux: { corge: 'grault', thud: 'fred' },
    });
    assert.deepEqual(applyPatch({ foo: ['all', 'grass', 'cows', 'eat'] }, [{ op: 'move', from: '/foo/1', path: '/foo/3' }]), { foo: ['all', 'cows', 'eat', 'grass'] });
    assert.deepEqual(applyPatch({ a: { b: 1 } }, [{ op: 'copy', from: '/a', path: '/c' }]), { a: { b: 1 }, c: { b: 1 } });
    assert.deepEqual(applyPatch({ 'a/b': 1, 'm~n': 2 }, [{ op: 'replace', path: '/a~1b', value: 3 }, { op: 'remove', path: '/m~0n' }]), { 'a/b': 3 });
    assert.deepEqual(applyPatch({ baz: 'qux', foo: ['a', 2, 'c'] }, [{ op: 'test', path: '/foo', value: ['a', 2, 'c'] }]), { baz: 'qux', foo: ['a', 2, 'c'] });
    assert.deepEqual(applyPatch({ a: { x: 1, y: 2 } }, [{ op: 'test', path: '/a', value: { y: 2, x: 1 } }]), { a: { x: 1, y: 2 } });
    // `__proto__` is an ordinary member name, never the prototype.
    const odd = applyPatch({}, [{ op: 'add', path: '/__proto__', value: { p: 1 } }]) as Record<string, unknown>;
    assert.deepEqual(Object.keys(odd), ['__proto__']);
    assert.equal(Object.getPrototypeOf(odd), Object.prototype);
  });

  it('refuses invalid patches with a PatchError naming the operation, leaving the input untouched', () => {
    const doc: Json = { foo: 'bar', list: [1, 2], n: 1 };
    const copy = structuredClone(doc);
    const bad: [unknown, RegExp][] = [
      [{}, /must be an array/],
      [[{ op: 'add', path: '/x' }], /needs a 'value'/],
      [[{ op: 'frob', path: '/x' }], /unknown op/],
      [[{ op: 'remove', path: 'foo' }], /must start with/],
      [[{ op: 'remove', path: '/nope' }], /does not exist/],
      [[{ op: 'replace', path: '/nope', value: 1 }], /does not exist/],
      [[{ op: 'add', path: '/nope/deeper', value: 1 }], /does not exist/],
      [[{ op: 'add', path: '/list/5', value: 1 }], /bad array index/],
      [[{ op: 'add', path: '/list/01', value: 1 }], /bad array index/],
      [[{ op: 'add', path: '/foo/x', value: 1 }], /not an object or array/],
      [[{ op: 'replace', path: '/n', value: 2 }, { op: 'test', path: '/foo', value: 'baz' }], /operation 1: test failed/],
      [[{ op: 'move', from: '/list', path: '/list/0' }], /own child/],
      [[{ op: 'copy', from: '/missing', path: '/x' }], /does not exist/],
      [[{ op: 'add', path: '/x', value: Number.NaN }], /finite/],
    ];
    for (const [patch, message] of bad) {
      assert.throws(() => applyPatch(doc, patch), (e: unknown) => e instanceof PatchError || (e instanceof Error && e.name === 'InvalidDocumentError'), JSON.stringify(patch));
      assert.throws(() => applyPatch(doc, patch), message);
    }
    assert.deepEqual(doc, copy);
  });

  it('diff gives a patch that turns a into b, and its reverse turns b back into a', () => {
    const a: Json = { t: 'x', o: { p: 1, q: [1] }, gone: true };
    const b: Json = { t: 'y', o: { p: 1, q: [1, 2], r: null }, added: { deep: 1 } };
    assert.deepEqual(applyPatch(a, diff(a, b)), b);
    assert.deepEqual(applyPatch(b, diff(b, a)), a);
    assert.deepEqual(diff(a, a), []);
    assert.equal(applyPatch({ x: 1 }, diff({ x: 1 }, undefined)), undefined);
    assert.deepEqual(applyPatch(undefined, diff(undefined, { x: 1 })), { x: 1 });
  });
});

describe('JSON Merge Patch', () => {
  it('follows the RFC 7396 examples', () => {
    const cases: [Json, Json, Json][] = [
      [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
      [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
      [{ a: 'b' }, { a: null }, {}],
      [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
      [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
      [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
      [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
      [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
      [['a', 'b'], ['c', 'd'], ['c', 'd']],
      [{ a: 'b' }, ['c'], ['c']],
      [{ a: 'foo' }, null, null],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
      [[1, 2], { a: 'b', c: null }, { a: 'b' }],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ];
    for (const [target, patch, result] of cases) assert.deepEqual(applyMergePatch(target, patch), result, JSON.stringify({ target, patch }));
  });
});
