/**
 * The JSON-lines format: a line reads back as the change it was written from; the fast readers of
 * canonical lines (on text, and on bytes) and the general strict reader agree on every line — they
 * accept the same lines and return the same change — including lines edited at random (a changed,
 * dropped or added character).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Change } from '../engine/change.ts';
import { packColumns } from '../engine/pack.ts';
import { int64, INT64_MAX } from '../base/int64.ts';
import { formatChange, parseAny, parseCanonical, parseChange } from './jsonl.ts';
import { ChangeLineReader } from './jsonl-reader.ts';

const INT64_MIN = -(2n ** 63n);
const clock = fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: INT64_MAX }).map(int64));
const change: fc.Arbitrary<Change> = fc.record({
  table: fc.oneof(fc.constantFrom('items', 'tëst', 'a"b', 'back\\slash', 'tab\tname'), fc.string({ minLength: 1, maxLength: 8 })),
  pk: fc.array(fc.oneof(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), fc.string({ maxLength: 20 })), { minLength: 1, maxLength: 3 }).map((v) => packColumns(v)),
  cid: fc.oneof(fc.constantFrom('-1', 'name', 'ü', 'quote"d'), fc.string({ minLength: 1, maxLength: 8 })),
  val: fc.oneof(fc.constant(null), fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), fc.double({ noNaN: true }), fc.string({ maxLength: 30 }), fc.uint8Array({ maxLength: 20 })),
  colVersion: clock,
  dbVersion: clock,
  siteId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  cl: clock,
  seq: clock,
});

/** Comparable plain data; a NaN can't occur (refused when read). */
const plain = (c: Change) => ({ ...c, pk: [...c.pk], siteId: [...c.siteId], val: c.val instanceof Uint8Array ? [...c.val] : c.val });

/** What the strict reader makes of a line: the change, or the fact that it refused it. */
function strict(line: string): Change | 'refused' {
  try {
    return parseAny(line, 1);
  } catch {
    return 'refused';
  }
}

describe('JSON lines', () => {
  it('reads back what it writes, and the written line is JSON.stringify of the fields in order', () => {
    fc.assert(
      fc.property(change, (c) => {
        const line = formatChange(c);
        assert.deepEqual(plain(parseChange(line, 1)), plain(c));
        assert.deepEqual(plain(parseAny(line, 1)), plain(c));
        const wide = [c.colVersion, c.dbVersion, c.cl, c.seq].some((v) => typeof v === 'bigint');
        if (!wide) {
          const { table, cid, colVersion, dbVersion, cl, seq } = c;
          const expected = JSON.stringify({ table, pk: Buffer.from(c.pk).toString('hex'), cid, val: Buffer.from(packColumns([c.val])).toString('hex'), col_version: colVersion, db_version: dbVersion, site_id: Buffer.from(c.siteId).toString('hex'), cl, seq });
          assert.equal(line, expected);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('takes the fast path for canonical lines without escapes', () => {
    const c: Change = { table: 'items', pk: packColumns([1n]), cid: 'name', val: 'x', colVersion: 1, dbVersion: 2, siteId: new Uint8Array(16).fill(7), cl: 1, seq: 0 };
    const fast = parseCanonical(formatChange(c));
    assert.ok(fast, 'a canonical line is read by position');
    assert.deepEqual(plain(fast), plain(c));
    assert.equal(parseCanonical(formatChange({ ...c, table: 'a"b' })), undefined, 'an escaped name goes the strict way');
    assert.equal(parseCanonical(' ' + formatChange(c)), undefined, 'so does any other layout');
  });

  it('the fast reader never accepts a line the strict one refuses, nor reads one differently', () => {
    const bytesReader = new ChangeLineReader(); // one for all lines: its caches carry over
    const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom('replace', 'delete', 'insert'), char: fc.constantFrom('0', '9', 'a', 'F', 'g', '"', '\\', ',', '}', ' ', '-', '.', 'e', 'é', '\u0001') });
    fc.assert(
      fc.property(change, fc.array(edit, { minLength: 1, maxLength: 3 }), (c, edits) => {
        let line = formatChange(c);
        for (const { at, kind, char } of edits) {
          const i = at % (line.length + 1);
          line = kind === 'insert' ? line.slice(0, i) + char + line.slice(i) : line.slice(0, i) + (kind === 'replace' ? char : '') + line.slice(i + 1);
        }
        const fast = parseCanonical(line);
        const slow = strict(line);
        // The byte reader's read by position (`ddcp apply`'s, sync/jsonl-reader.ts) takes the same lines alike.
        const bytes = new TextEncoder().encode(line);
        const byBytes = bytesReader.canonical(bytes, 0, bytes.length);
        assert.equal(byBytes === undefined, fast === undefined, `byte reader and parseCanonical disagree on: ${line}`);
        if (byBytes) assert.deepEqual(plain(byBytes), plain(fast!));
        if (fast === undefined) return;
        assert.notEqual(slow, 'refused', `fast path accepted a line the strict reader refuses: ${line}`);
        assert.deepEqual(plain(fast), plain(slow as Change));
      }),
      { numRuns: 3000 },
    );
  });
});
