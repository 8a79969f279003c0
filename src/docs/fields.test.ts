/** The stored form of documents: one row per node, objects as markers, arrays as leaves. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { commonSubsequence, ELEMENT_TOKEN } from './elements.ts';
import { ARRAY_MARKER, flatten, layout, OBJECT_MARKER, unflatten, visibleRows } from './fields.ts';
import { isKey, keyBetween, keysBetween } from './keys.ts';

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

  it('reads a member named __proto__ back as a member', () => {
    const doc = JSON.parse('{"__proto__": {"a": [1]}}');
    const back = unflatten(layout(doc, new Map()));
    assert.deepEqual(Object.keys(back), ['__proto__']);
    assert.equal(JSON.stringify(back), JSON.stringify(doc));
  });
});

describe('array elements', () => {
  it('stores an array as a marker and one row per element, keyed by order tokens', () => {
    const rows = layout({ tags: ['a', { b: 1 }, ['c']] }, new Map());
    assert.equal(rows.get('/tags'), ARRAY_MARKER);
    const elements = [...rows].filter(([p]) => p.startsWith('/tags/'));
    assert.equal(elements.length, 3);
    for (const [p] of elements) assert.match(p.slice('/tags/'.length), ELEMENT_TOKEN);
    assert.deepEqual(unflatten(rows), { tags: ['a', { b: 1 }, ['c']] });
    assert.deepEqual(unflatten([...rows].reverse()), { tags: ['a', { b: 1 }, ['c']] });
  });

  it('keeps the tokens of elements that stay, and of an element changed in place', () => {
    const before = layout({ tags: ['a', 'b', 'c'] }, new Map());
    const tokens = (rows: Map<string, string>) => new Map([...rows].filter(([p]) => p.startsWith('/tags/')).map(([p, v]) => [v, p]));
    const t0 = tokens(before);
    const after = layout({ tags: ['a', 'B', 'c', 'd'] }, visibleRows(before));
    const t1 = tokens(after);
    assert.equal(t1.get('"a"'), t0.get('"a"'));
    assert.equal(t1.get('"B"'), t0.get('"b"'));
    assert.equal(t1.get('"c"'), t0.get('"c"'));
    assert.ok(![...t0.values()].includes(t1.get('"d"')!));
    assert.deepEqual(unflatten(after), { tags: ['a', 'B', 'c', 'd'] });
  });

  it('places new elements exactly, even between elements that share an order key', () => {
    const visible = new Map([
      ['/l', ARRAY_MARKER],
      ['/l/i.000000000001', '"x"'],
      ['/l/i.000000000002', '"y"'],
    ]);
    const rows = layout({ l: ['x', 'new', 'y', 'end'] }, visible);
    assert.deepEqual(unflatten(rows), { l: ['x', 'new', 'y', 'end'] });
    assert.equal(rows.get('/l/i.000000000001'), '"x"');
  });

  it('makes order keys strictly between any two', () => {
    let keys = keysBetween('', undefined, 30);
    for (let round = 0; round < 5; round++) {
      const next: string[] = [];
      keys.forEach((k, i) => next.push(k, ...keysBetween(k, keys[i + 1], 2)));
      keys = next;
    }
    assert.deepEqual([...keys].sort(), keys);
    assert.equal(new Set(keys).size, keys.length);
    assert.ok(keys.every(isKey));
    assert.ok(keyBetween('a', 'b') > 'a' && keyBetween('a', 'b') < 'b' && keyBetween('a', 'a1') < 'a1');
  });
});

describe('common subsequence of arrays', () => {
  it('matches the common prefix, suffix and a longest common middle', () => {
    assert.deepEqual(commonSubsequence(['a', 'b', 'c', 'd'], ['a', 'x', 'c', 'd']), [[0, 0], [2, 2], [3, 3]]);
    assert.deepEqual(commonSubsequence(['a', 'b', 'c'], ['c', 'a', 'b']), [[0, 1], [1, 2]]);
    assert.deepEqual(commonSubsequence([], ['a']), []);
    const big = Array.from({ length: 20_000 }, (_, i) => String(i));
    const pairs = commonSubsequence(big, [...big.slice(0, 10_000), 'new', ...big.slice(10_000)]);
    assert.equal(pairs.length, 20_000);
    assert.deepEqual(pairs[10_000], [10_000, 10_001]);
  });
});
