/**
 * The batch codec: what is encoded decodes to the same changes (every value kind, several tables,
 * columns and sites, keys and texts past the short-string fast paths), eagerly or one change at a
 * time; a message carries the same bytes after its header; any cut of a valid batch is refused as a
 * CodecError. Checking a batch without decoding it (scanChanges, what a received batch gets before it
 * is staged) refuses exactly what decoding refuses, with the same error, and lists its count and
 * (table, column) pairs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Change } from '../engine/change.ts';
import { packColumns } from '../engine/pack.ts';
import { CodecError } from '../base/errors.ts';
import { decodeChanges, eachChange, encodeChanges, scanChanges } from './codec.ts';
import { decodeMessage, encodeMessage } from './messages.ts';
import { binaryString } from '../../test/support/binary-string.ts';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const value = fc.oneof(
  fc.constant(null),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.double({ noNaN: true }), // a NaN is refused when read (issue 8)
  binaryString({ maxLength: 80 }),
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

/** The distinct (table, column) pairs of changes, in order of first use. */
const pairs = (cs: Change[]) => [...new Map(cs.map((c) => [`${c.table}\0${c.cid}`, { table: c.table, cid: c.cid }])).values()];

/** Changes in runs of one row (a row's cells), as a feed reads them: consecutive changes share key bytes. */
const rows = fc.array(change, { maxLength: 15 }).map((cs) => cs.flatMap((c) => [c, { ...c, cid: 'qty', pk: new Uint8Array(c.pk) }, { ...c, cid: 'name', pk: c.pk }]));

/** What a function throws (its class and message), or 'ok'. */
function outcome(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  }
}

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
        assert.deepEqual(m.scan, { count: cs.length, columns: pairs(cs) });
        assert.deepEqual(scanChanges(bytes), { count: cs.length, columns: pairs(cs) });
      }),
      { numRuns: 500 },
    );
  });

  it('decodes runs of one row (their changes share one key view) to the same keys', () => {
    fc.assert(
      fc.property(rows, (cs) => {
        const bytes = encodeChanges(cs);
        assert.deepEqual(plain(decodeChanges(bytes)), plain(cs));
        assert.deepEqual(plain([...eachChange(bytes)]), plain(cs));
      }),
      { numRuns: 200 },
    );
  });

  it('checks a batch without decoding it exactly as decoding does: same refusals, same errors', () => {
    fc.assert(
      fc.property(rows, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }), fc.nat(), (cs, flips, cut) => {
        const bytes = encodeChanges(cs);
        const bad = bytes.slice(0, bytes.length - (cut % 3));
        for (const [at, b] of flips) if (bad.length > 0) bad[at % bad.length] = b;
        const decoded = outcome(() => decodeChanges(bad));
        assert.equal(outcome(() => scanChanges(bad)), decoded);
        if (decoded === 'ok') assert.equal(scanChanges(bad).count, decodeChanges(bad).length);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses every cut of a valid batch with a CodecError', () => {
    fc.assert(
      fc.property(fc.array(change, { minLength: 1, maxLength: 10 }), (cs) => {
        const bytes = encodeChanges(cs);
        for (let cut = 0; cut < bytes.length; cut++) {
          assert.throws(() => decodeChanges(bytes.subarray(0, cut)), CodecError);
          assert.throws(() => [...eachChange(bytes.subarray(0, cut))], CodecError);
          assert.throws(() => scanChanges(bytes.subarray(0, cut)), CodecError);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('reuses recent names and site ids only for equal bytes: a caller changing a decoded site id in place changes no later decode', () => {
    fc.assert(
      fc.property(fc.array(rows, { minLength: 1, maxLength: 6 }), fc.nat(), (batches, poke) => {
        for (const cs of batches) {
          const bytes = encodeChanges(cs);
          const first = decodeChanges(bytes);
          for (const c of first) c.siteId[poke % 16]! ^= 0xff; // the caller's copy, changed
          assert.deepEqual(plain(decodeChanges(bytes)), plain(cs));
          const m = decodeMessage(encodeMessage({ type: 'batch', version: 1, complete: true, changes: cs }));
          assert.ok(m.type === 'batch');
          assert.deepEqual(plain(m.changes), plain(cs));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('decodes a received batch (checked, then decoded when read) to what decoding at once gives, or refuses it alike', () => {
    fc.assert(
      fc.property(rows, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), (cs, flips) => {
        const frame = encodeMessage({ type: 'batch', version: 7, complete: true, changes: cs });
        const bad = frame.slice();
        for (const [at, b] of flips) if (bad.length > 3) bad[3 + (at % (bad.length - 3))] = b;
        const body = bad.subarray(3);
        const decoded = outcome(() => decodeChanges(body));
        let m;
        try {
          m = decodeMessage(bad);
        } catch {
          assert.notEqual(decoded, 'ok');
          return;
        }
        assert.equal(decoded, 'ok');
        assert.ok(m.type === 'batch');
        assert.deepEqual(plain(m.changes), plain(decodeChanges(body)));
      }),
      { numRuns: 1000 },
    );
  });
});
