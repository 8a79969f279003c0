/**
 * The byte reader on runs of lines as `ddcp changes` writes them — a row's columns in a row, a
 * transaction's lines sharing one clock and site, keys and values of every kind and size — where its
 * caches (the previous key, site and names, the key pool, the value buffer) are hit line after line,
 * with some lines damaged at random: every line reads as the strict general reader reads it (the same
 * change, or refused by both), and what it handed out earlier stays intact (no change shares memory
 * the reader reuses).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Change } from '../engine/change.ts';
import { packColumns } from '../engine/pack.ts';
import { int64, INT64_MAX } from '../base/int64.ts';
import { formatChange, parseAny } from './jsonl.ts';
import { ChangeLineReader } from './jsonl-reader.ts';

const INT64_MIN = -(2n ** 63n);
const clockValue = fc.oneof(fc.nat(5), fc.nat(), fc.bigInt({ min: 0n, max: INT64_MAX }).map(int64));
const value = fc.oneof(
  fc.constant(null),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.double({ noNaN: true }),
  fc.string({ maxLength: 12 }), // mostly ASCII
  fc.string({ unit: 'grapheme', maxLength: 6 }), // not ASCII
  fc.string({ minLength: 200, maxLength: 600 }), // grows the value buffer
  fc.constantFrom('', '\ufeffmark', 'item 1'),
  fc.uint8Array({ maxLength: 12 }),
);
const key = fc.oneof(
  fc.nat().map((n) => packColumns([BigInt(n)])),
  fc.string({ maxLength: 60 }).map((s) => packColumns([s])), // up to ~60 bytes: the first small pool fills
  fc.tuple(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), fc.string({ maxLength: 8 })).map((v) => packColumns(v)),
);
const site = fc.oneof(fc.constant(new Uint8Array(16).fill(7)), fc.uint8Array({ minLength: 16, maxLength: 16 }));

/** A transaction: rows of one table, each a run of columns, all with one clock and site. */
const transaction = fc
  .record({
    table: fc.constantFrom('items', 'tëst', 'a"b', 'x'),
    columns: fc.constantFrom(['name', 'qty', 'price'], ['-1', 'name'], ['ü', 'quote"d', 'b']),
    rows: fc.array(fc.tuple(key, fc.array(value, { minLength: 1, maxLength: 3 })), { minLength: 1, maxLength: 8 }),
    colVersion: clockValue,
    dbVersion: clockValue,
    siteId: site,
    cl: clockValue,
  })
  .map(({ table, columns, rows, colVersion, dbVersion, siteId, cl }) => {
    const out: Change[] = [];
    for (const [pk, values] of rows) {
      values.forEach((val, i) => out.push({ table, pk, cid: columns[i % columns.length]!, val, colVersion, dbVersion, siteId, cl, seq: out.length }));
    }
    return out;
  });

const CHARS = ['0', '9', 'a', 'F', 'g', '"', '\\', ',', '}', ' ', '-', '.', 'e', 'é', '\u0001'];
const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom('replace', 'delete', 'insert'), char: fc.constantFrom(...CHARS) });

/** Comparable plain data. */
const plain = (c: Change) => ({ ...c, pk: [...c.pk], siteId: [...c.siteId], val: c.val instanceof Uint8Array ? [...c.val] : c.val });

const encoder = new TextEncoder();

describe('JSON lines read as bytes, in runs', () => {
  it('reads every line of runs of related lines, some damaged, as the strict reader does', () => {
    fc.assert(
      fc.property(
        fc.array(transaction, { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(fc.nat(), fc.array(edit, { minLength: 1, maxLength: 2 })), { maxLength: 4 }),
        (transactions, damage) => {
          const lines = transactions.flat().map(formatChange);
          for (const [at, edits] of damage) {
            const n = at % lines.length;
            let text = lines[n]!;
            for (const { at: where, kind, char } of edits) {
              const i = where % (text.length + 1);
              text = kind === 'insert' ? text.slice(0, i) + char + text.slice(i) : text.slice(0, i) + (kind === 'replace' ? char : '') + text.slice(i + 1);
            }
            lines[n] = text;
          }
          // One reader for all lines, as a file's; results compared only after all are read.
          const reader = new ChangeLineReader();
          const read = lines.map((text) => {
            const bytes = encoder.encode(text);
            return reader.canonical(bytes, 0, bytes.length);
          });
          lines.forEach((text, n) => {
            let strict: Change | undefined;
            try {
              strict = parseAny(text, n + 1);
            } catch {
              strict = undefined;
            }
            const fast = read[n];
            if (fast === undefined) return; // not read by position: the strict reader reads or refuses it
            assert.ok(strict, `read by position, refused by the strict reader: ${text}`);
            assert.deepEqual(plain(fast), plain(strict), `line ${n + 1} read otherwise: ${text}`);
          });
          // Undamaged lines are all read by position, but for names with an escape.
          const damaged = new Set(damage.map(([at]) => at % lines.length));
          lines.forEach((text, n) => {
            if (damaged.has(n)) return;
            const { table, cid } = JSON.parse(text) as { table: string; cid: string };
            if (!/["\\]/.test(table + cid)) assert.ok(read[n], `not read by position: ${text}`);
          });
        },
      ),
      { numRuns: 400 },
    );
  });

  it('reads thousands of rows through its key pool and value buffer without mixing them up', () => {
    const siteId = new Uint8Array(16).fill(3);
    const changes: Change[] = [];
    // ~25 bytes a key: the key pool is started anew a few times.
    for (let r = 0; r < 12_000; r++) {
      const pk = packColumns([BigInt(r * 9973), r % 7 === 0 ? `key-${r}-ü` : `k${r % 1000}-0123456789`]);
      changes.push({ table: 'items', pk, cid: 'name', val: r % 5 === 0 ? `ü-${r}` : `item ${r}`, colVersion: 1, dbVersion: 1 + (r >> 10), siteId, cl: 1, seq: 2 * r });
      changes.push({ table: 'items', pk, cid: 'blob', val: new Uint8Array([r & 0xff, r >> 8]), colVersion: 1, dbVersion: 1 + (r >> 10), siteId, cl: 1, seq: 2 * r + 1 });
    }
    const reader = new ChangeLineReader();
    const read = reader.push(encoder.encode(changes.map((c) => formatChange(c) + '\n').join('')));
    assert.equal(read.length, changes.length);
    assert.deepEqual(read.map(plain), changes.map(plain));
  });
});
