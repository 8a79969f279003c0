/** json.ts' canonical text: the same text as the plain sorted-keys walk, whatever the keys and nesting. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonical, setMember, type Json, type JsonObject } from './json.ts';

/** The definition: keys sorted by UTF-16 units at every level, values as JSON.stringify writes them. */
function reference(v: Json): string {
  if (typeof v !== 'object' || v === null) return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
  return `{${Object.keys(v)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${reference(v[k]!)}`)
    .join(',')}}`;
}

// Keys that objects keep out of insertion order (integer-like ones, __proto__), or that sort oddly.
const key = fc.oneof(fc.string(), fc.constantFrom('0', '1', '10', '9', '01', '-1', '4294967295', '__proto__', 'toJSON', 'a~b', 'a/b', '\u{1F600}', '\uE000', ''));
const json: fc.Arbitrary<Json> = fc.letrec<{ v: Json }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.constant(null), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string()),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.array(fc.tuple(key, tie('v')), { maxLength: 5 }).map((members) => {
      const o: JsonObject = {};
      for (const [k, x] of members) setMember(o, k, x);
      return o;
    }),
  ),
})).v;

describe('canonical', () => {
  it('equals the sorted-keys walk for any JSON value', () => {
    fc.assert(fc.property(json, (v) => assert.equal(canonical(v), reference(v))), { numRuns: 2000 });
  });

  it('sorts keys at every level, in and out of order, integer-like keys as strings', () => {
    assert.equal(canonical({ b: 1, a: { d: [{ z: 1, y: -0 }], c: null } }), '{"a":{"c":null,"d":[{"y":0,"z":1}]},"b":1}');
    assert.equal(canonical({ a: 1, b: 2 }), '{"a":1,"b":2}');
    assert.equal(canonical({ 9: 1, 10: 2, x: 3 }), '{"10":2,"9":1,"x":3}');
    const o: JsonObject = { b: 1 };
    setMember(o, '__proto__', { a: 1 });
    assert.equal(canonical(o), '{"__proto__":{"a":1},"b":1}');
  });
});
