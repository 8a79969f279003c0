/**
 * The batch codec: what is encoded decodes to the same changes (every value kind, several tables,
 * columns and sites, keys and texts past the short-string fast paths), eagerly or one change at a
 * time; a message carries the same bytes after its header; any cut of a valid batch is refused as a
 * CodecError.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Change } from '../engine/change.ts';
import { packColumns } from '../engine/pack.ts';
import { CodecError } from '../base/errors.ts';
import { decodeChanges, eachChange, encodeChanges } from './codec.ts';
import { decodeMessage, encodeMessage } from './messages.ts';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const value = fc.oneof(
  fc.constant(null),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.double({ noNaN: true }), // a NaN is refused when read (issue 8)
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ maxLength: 80 }),
  fc.constantFrom('', 'é', 'a'.repeat(64), 'a'.repeat(65), `${'a'.repeat(63)}é`),
  fc.uint8Array({ maxLength: 40 }),
);
const site = fc.constantFrom(...[1, 2, 3].map((i) => new Uint8Array(16).fill(i)));
const change: fc.Arbitrary<Change> = fc.record({
  table: fc.constantFrom('items', 'notes', 'tëst'),
  pk: fc.array(fc.oneof(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), fc.string({ maxLength: 40 })), { minLength: 1, maxLength: 3 }).map((v) => packColumns(v)),
  cid: fc.constantFrom('-1', 'name', 'qty', 'ü'),
  val: value,
  colVersion: fc.nat(),
  dbVersion: fc.maxSafeNat(),
  siteId: site,
  cl: fc.nat(),
  seq: fc.nat(),
});

/** Changes as comparable plain data (NaN and -0 kept apart by Object.is via deepEqual). */
const plain = (cs: Change[]) => cs.map((c) => ({ ...c, pk: [...c.pk], siteId: [...c.siteId], val: c.val instanceof Uint8Array ? [...c.val] : c.val }));

describe('batch codec', () => {
  it('decodes what it encodes, alone and inside a batch message', () => {
    fc.assert(
      fc.property(fc.array(change, { maxLength: 40 }), fc.maxSafeNat(), fc.boolean(), (cs, version, complete) => {
        const bytes = encodeChanges(cs);
        assert.deepEqual(plain(decodeChanges(bytes)), plain(cs));
        assert.deepEqual(plain([...eachChange(bytes)]), plain(cs));
        const m = decodeMessage(encodeMessage({ type: 'batch', version, complete, changes: cs }));
        assert.equal(m.type, 'batch');
        if (m.type !== 'batch') return;
        assert.deepEqual([m.version, m.complete], [version, complete]);
        assert.deepEqual(m.encoded, bytes);
        assert.deepEqual(plain(m.changes), plain(cs));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses every cut of a valid batch with a CodecError', () => {
    fc.assert(
      fc.property(fc.array(change, { minLength: 1, maxLength: 10 }), (cs) => {
        const bytes = encodeChanges(cs);
        for (let cut = 0; cut < bytes.length; cut++) {
          assert.throws(() => decodeChanges(bytes.subarray(0, cut)), CodecError);
          assert.throws(() => [...eachChange(bytes.subarray(0, cut))], CodecError);
        }
      }),
      { numRuns: 100 },
    );
  });
});
