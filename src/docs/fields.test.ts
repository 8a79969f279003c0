/** The stored form of documents: one row per node, objects as markers, arrays as leaves. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { flatten, OBJECT_MARKER, unflatten } from './fields.ts';

describe('document fields', () => {
  it('flattens nested objects to one row per node and back', () => {
    const doc = { title: 'x', meta: { owner: { name: 'ann' }, 'a/b~c': 1 }, tags: ['a', { b: 2 }], empty: {}, nil: null };
    const rows = flatten(doc);
    assert.deepEqual(Object.fromEntries(rows), {
      '/title': '"x"',
      '/meta': OBJECT_MARKER,
      '/meta/owner': OBJECT_MARKER,
      '/meta/owner/name': '"ann"',
      '/meta/a~1b~0c': '1',
      '/tags': '["a",{"b":2}]',
      '/empty': OBJECT_MARKER,
      '/nil': 'null',
    });
    assert.deepEqual(unflatten(rows), doc);
  });

  it('hides rows whose parent is not a live object, whatever the row order', () => {
    const rows: [string, string][] = [
      ['/a/b', '1'],
      ['/a', '5'],
      ['/c/d', '2'],
      ['/x', OBJECT_MARKER],
      ['/x/y', '3'],
    ];
    assert.deepEqual(unflatten(rows), { a: 5, x: { y: 3 } });
    assert.deepEqual(unflatten([...rows].reverse()), { a: 5, x: { y: 3 } });
  });
});
