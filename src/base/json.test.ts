/** The strict JSON reader: JSON.parse's values, but exact big integers, no duplicate keys, bounded depth. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseJson } from './json.ts';
import { readVarint64, writeVarint } from './varint.ts';
import { ByteWriter } from './bytes.ts';

describe('parseJson', () => {
  it('reads what JSON.parse reads, the same (huge integers aside, which it keeps exact)', () => {
    const rounded = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x));
    fc.assert(
      fc.property(fc.json(), (text) => {
        assert.equal(rounded(parseJson(text)), rounded(JSON.parse(text)));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses what JSON.parse refuses', () => {
    for (const bad of ['', '{', '{"a":1,}', '[1,]', "'x'", 'NaN', '01', '1.', '"\\x"', '"a\nb"', '{"a" 1}', 'tru', '1 2']) {
      assert.throws(() => JSON.parse(bad));
      assert.throws(() => parseJson(bad), { name: 'CodecError' }, bad);
    }
  });

  it('refuses a duplicated key, at any depth', () => {
    assert.throws(() => parseJson('{"a":1,"a":2}'), /duplicate key "a"/);
    assert.throws(() => parseJson('[{"x":{"b":1,"\\u0062":2}}]'), /duplicate key "b"/);
    assert.equal(JSON.stringify(parseJson('{"a":{"a":1}}')), '{"a":{"a":1}}');
  });

  it('keeps integers beyond 2^53 exact, as bigint', () => {
    assert.equal(parseJson('9007199254740993'), 9007199254740993n);
    assert.equal(parseJson('-9223372036854775808'), -9223372036854775808n);
    assert.equal(parseJson('9007199254740991'), 9007199254740991);
    assert.equal(parseJson('1e300'), 1e300);
  });

  it('bounds nesting, and is linear (a long flat input)', () => {
    assert.throws(() => parseJson('['.repeat(65) + ']'.repeat(65)), /nesting deeper than 64/);
    assert.equal((parseJson(`[${'1,'.repeat(200_000)}1]`) as unknown[]).length, 200_001);
  });
});

describe('varints up to 2^63 - 1', () => {
  it('round-trip exactly (numbers while exact, bigint beyond)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 53n + 5n })), (v) => {
        const w = new ByteWriter();
        writeVarint(w, v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        const r = readVarint64(w.result(), 0);
        assert.equal(BigInt(r.value), v);
        assert.equal(typeof r.value, v <= BigInt(Number.MAX_SAFE_INTEGER) ? 'number' : 'bigint');
        assert.equal(r.pos, w.pos);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses 2^63 and longer encodings', () => {
    const w = new ByteWriter();
    for (let i = 0; i < 9; i++) w.byte(0xff);
    w.byte(0x01);
    assert.throws(() => readVarint64(w.result(), 0), /out of the 64-bit range|too long/);
    assert.throws(() => writeVarint(new ByteWriter(), 2n ** 63n), /out of range/);
  });
});
