import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bytesEqual, compareBytes, compareValues, storageClass, StorageClass } from './value.ts';
import type { SqlValue } from './sqlite.ts';
import { binaryString } from '../../test/support/binary-string.ts';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Values SQLite can hold. NaN is left out: SQLite stores it as NULL, and it is unordered (see the
 * last test).
 */
const valueArb: fc.Arbitrary<SqlValue> = fc.oneof(
  fc.constant(null),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.constantFrom(0n, 1n, -1n, 2n, 2n ** 53n, 2n ** 53n + 1n, INT64_MAX, INT64_MIN),
  fc.double({ noNaN: true }),
  fc.constantFrom(0, -0, 1, 2.0, 1.5, -Infinity, Infinity, 2 ** 53, 2 ** 53 + 2),
  binaryString({ maxLength: 6 }),
  fc.string({ unit: 'binary-ascii', maxLength: 4 }),
  fc.constantFrom('', 'a', 'ab', 'z', 'é', '\uffff', '\u{10000}', '\u0000'),
  fc.uint8Array({ maxLength: 4 }),
  fc.constantFrom(new Uint8Array(0), new Uint8Array([0]), new Uint8Array([0xff])),
);

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** SQL equality of two values of one storage class (-0 = 0; blobs/text by bytes). */
function sqlEqual(a: SqlValue, b: SqlValue): boolean {
  if (storageClass(a) !== storageClass(b)) return false;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b) === 0;
  return a === b || (a === null && b === null);
}

describe('compareValues', () => {
  it('is reflexive and agrees with equality', () => {
    fc.assert(
      fc.property(valueArb, valueArb, (a, b) => {
        assert.equal(compareValues(a, a), 0);
        assert.equal(compareValues(a, b) === 0, sqlEqual(a, b), 'cmp = 0 exactly when the values are equal');
      }),
      { numRuns: 2000 },
    );
  });

  it('is antisymmetric', () => {
    fc.assert(
      fc.property(valueArb, valueArb, (a, b) => {
        assert.equal(sign(compareValues(a, b)), 0 - sign(compareValues(b, a)));
      }),
      { numRuns: 2000 },
    );
  });

  it('is transitive', () => {
    fc.assert(
      fc.property(valueArb, valueArb, valueArb, (a, b, c) => {
        const [x, y, z] = [a, b, c].sort(compareValues) as [SqlValue, SqlValue, SqlValue];
        assert.ok(compareValues(x, y) <= 0 && compareValues(y, z) <= 0);
        assert.ok(compareValues(x, z) <= 0, 'x ≤ y ≤ z implies x ≤ z');
        if (compareValues(x, y) < 0 || compareValues(y, z) < 0) assert.ok(compareValues(x, z) < 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('sorting is independent of the input order (a total order)', () => {
    fc.assert(
      fc.property(fc.array(valueArb, { maxLength: 12 }), fc.func(fc.integer()), (values, key) => {
        const shuffled = values.map((v, i) => [key(i), v] as const).sort((p, q) => p[0] - q[0]).map((p) => p[1]);
        const s1 = [...values].sort(compareValues);
        const s2 = shuffled.sort(compareValues);
        for (let i = 0; i < s1.length; i++) assert.equal(compareValues(s1[i]!, s2[i]!), 0);
      }),
    );
  });

  it('orders storage classes NULL < BLOB < TEXT < REAL < INTEGER', () => {
    const order: SqlValue[] = [null, new Uint8Array([0xff, 0xff]), '\u{10ffff}', Infinity, INT64_MIN];
    for (let i = 0; i < order.length; i++) {
      for (let j = 0; j < order.length; j++) assert.equal(sign(compareValues(order[i]!, order[j]!)), sign(i - j), `${i} vs ${j}`);
    }
    fc.assert(
      fc.property(valueArb, valueArb, (a, b) => {
        const ca = storageClass(a);
        const cb = storageClass(b);
        if (ca !== cb) assert.equal(sign(compareValues(a, b)), sign(ca - cb));
      }),
      { numRuns: 2000 },
    );
    // Across classes the class decides, not the number: 2.0 (REAL) < 1 (INTEGER), '9' < 1.0.
    assert.ok(compareValues(2.0, 1n) < 0);
    assert.ok(compareValues('9', 1.0) < 0);
    assert.ok(compareValues(new Uint8Array([0x7a]), 'a') < 0);
  });

  it('storageClass', () => {
    assert.equal(storageClass(null), StorageClass.Null);
    assert.equal(storageClass(new Uint8Array(0)), StorageClass.Blob);
    assert.equal(storageClass(''), StorageClass.Text);
    assert.equal(storageClass(2.0), StorageClass.Real);
    assert.equal(storageClass(2n), StorageClass.Integer);
  });

  it('compares integers exactly, beyond 2^53', () => {
    assert.ok(compareValues(2n ** 53n + 1n, 2n ** 53n) > 0);
    assert.ok(compareValues(INT64_MAX - 1n, INT64_MAX) < 0);
    assert.ok(compareValues(INT64_MIN, INT64_MIN + 1n) < 0);
    fc.assert(
      fc.property(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), (a, b) => {
        assert.equal(sign(compareValues(a, b)), a < b ? -1 : a > b ? 1 : 0);
      }),
    );
  });

  it('compares reals numerically (-0 = 0, infinities at the ends)', () => {
    assert.equal(compareValues(-0, 0), 0);
    assert.ok(compareValues(-Infinity, -Number.MAX_VALUE) < 0);
    assert.ok(compareValues(Infinity, Number.MAX_VALUE) > 0);
    assert.ok(compareValues(-Number.MIN_VALUE, 0) < 0);
    fc.assert(
      fc.property(fc.double({ noNaN: true }), fc.double({ noNaN: true }), (a, b) => {
        assert.equal(sign(compareValues(a, b)), a < b ? -1 : a > b ? 1 : 0);
      }),
    );
  });

  it('compares text by UTF-8 bytes (memcmp), not UTF-16 code units', () => {
    assert.ok(compareValues('é', 'z') > 0);
    assert.ok(compareValues('ab', 'a') > 0);
    assert.ok(compareValues('a', 'ab') < 0);
    assert.ok(compareValues('B', 'a') < 0); // no collation: bytes
    assert.ok(compareValues('', '\u0000') < 0);
    // U+FFFF is ef bf bf, U+10000 is f0 90 80 80; in UTF-16 the surrogate 0xd800 sorts first.
    assert.ok(compareValues('\uffff', '\u{10000}') < 0);
    assert.ok('\uffff' > '\u{10000}', 'JS string order differs here');
    assert.ok(compareValues('a\uffff', 'a\u{10000}') < 0);
    fc.assert(
      fc.property(binaryString(), binaryString(), (a, b) => {
        assert.equal(sign(compareValues(a, b)), sign(Buffer.compare(utf8(a), utf8(b))));
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii' }), fc.string({ unit: 'binary-ascii' }), (a, b) => {
        assert.equal(sign(compareValues(a, b)), sign(Buffer.compare(utf8(a), utf8(b))));
      }),
    );
  });

  it('compares blobs bytewise, a prefix first', () => {
    const b = (...x: number[]): Uint8Array => new Uint8Array(x);
    assert.ok(compareValues(b(), b(0)) < 0);
    assert.ok(compareValues(b(1), b(0, 9)) > 0);
    assert.ok(compareValues(b(0x7f), b(0x80)) < 0); // unsigned bytes
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (x, y) => {
        assert.equal(sign(compareValues(x, y)), sign(Buffer.compare(x, y)));
        assert.equal(sign(compareBytes(x, y)), sign(Buffer.compare(x, y)));
        assert.equal(bytesEqual(x, y), Buffer.compare(x, y) === 0);
      }),
    );
  });

  it('NaN is not ordered (documented: SQLite stores NaN as NULL, so it never reaches a stored clock)', () => {
    // compareValues(NaN, x) is 0 for every REAL x, so NaN would break transitivity.
    assert.equal(compareValues(NaN, 1), 0);
    assert.equal(compareValues(NaN, 2), 0);
    assert.ok(compareValues(1, 2) < 0);
  });
});
