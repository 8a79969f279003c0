/** A `replace` of an object member is a remove then an add: the member moves last, at any depth. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { setMember, type Json, type JsonObject } from './json.ts';
import { applyPatch, type Operation } from './patch.ts';
import { escapeToken } from './pointer.ts';

/** Every object's keys in order, with the values. */
const ordered = (v: Json | undefined): unknown =>
  Array.isArray(v) ? v.map(ordered) : typeof v === 'object' && v !== null ? Object.keys(v).map((k) => [k, ordered(v[k]!)]) : v;

const key = fc.constantFrom('a', 'b', 'c', '1', '__proto__', 'x/y');
const json: fc.Arbitrary<Json> = fc.letrec<{ v: Json }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<Json>(null, 1, 'x'),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.array(fc.tuple(key, tie('v')), { maxLength: 4 }).map((members) => {
      const o: JsonObject = {};
      for (const [k, x] of members) setMember(o, k, x);
      return o;
    }),
  ),
})).v;

/** Pointers of every object member under `v`. */
function memberPaths(v: Json, prefix = ''): string[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => memberPaths(x, `${prefix}/${i}`));
  if (typeof v !== 'object' || v === null) return [];
  return Object.keys(v).flatMap((k) => [`${prefix}/${escapeToken(k)}`, ...memberPaths(v[k]!, `${prefix}/${escapeToken(k)}`)]);
}

describe('replace', () => {
  it('gives what remove then add gives, member order included, and leaves its input alone', () => {
    const doc = json.filter((v) => memberPaths(v).length > 0);
    fc.assert(
      fc.property(doc, fc.nat(), json, (d, n, value) => {
        const paths = memberPaths(d);
        const path = paths[n % paths.length]!;
        const before = ordered(d);
        const replaced = applyPatch(d, [{ op: 'replace', path, value }]);
        const reference = applyPatch(d, [{ op: 'remove', path }, { op: 'add', path, value }] as Operation[]);
        assert.deepEqual(ordered(replaced), ordered(reference));
        assert.deepEqual(ordered(d), before);
      }),
      { numRuns: 1000 },
    );
  });
});
