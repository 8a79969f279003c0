/** fields.ts' asRead: the content as reading back its stored rows gives it, key order included. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { asRead, layout, unflatten } from './fields.ts';
import { setMember, type Json, type JsonObject } from './json.ts';

/** Every object's keys in order, with the values: equal only if member order is equal too. */
const ordered = (v: Json): unknown =>
  Array.isArray(v) ? v.map(ordered) : typeof v === 'object' && v !== null ? Object.keys(v).map((k) => [k, ordered(v[k]!)]) : Object.is(v, -0) ? '-0' : v;

const key = fc.oneof(fc.string({ maxLength: 3 }), fc.constantFrom('9', '10', 'a~b', 'a/b', '~', '__proto__', 'b', 'a', '\u{1F600}', '\uE000'));
const json: fc.Arbitrary<Json> = fc.letrec<{ v: Json }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.constant(null), fc.boolean(), fc.constantFrom(0, -0, 1.5), fc.string({ maxLength: 3 })),
    fc.array(tie('v'), { maxLength: 3 }),
    object(tie('v')),
  ),
})).v;

function object(value: fc.Arbitrary<Json>): fc.Arbitrary<JsonObject> {
  return fc.array(fc.tuple(key, value), { maxLength: 5 }).map((members) => {
    const o: JsonObject = {};
    for (const [k, x] of members) setMember(o, k, x);
    return o;
  });
}

describe('asRead', () => {
  it('equals unflatten(layout(content)), member order and -0 included', () => {
    fc.assert(
      fc.property(object(json), (content) => {
        assert.deepEqual(ordered(asRead(content)), ordered(unflatten(layout(content, new Map()))));
      }),
      { numRuns: 2000 },
    );
  });
});
