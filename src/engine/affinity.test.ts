/** AffinityProbe says "fits" exactly when a real SQLite column of that affinity keeps a value as given. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AffinityProbe } from './affinity.ts';
import type { Affinity } from './affinity.ts';
import { openDatabase, type SqlValue } from './sqlite.ts';
import { valuesKey } from './bulk.ts';

const AFFINITIES: Affinity[] = ['INTEGER', 'TEXT', 'BLOB', 'REAL', 'NUMERIC'];

const value: fc.Arbitrary<SqlValue> = fc.oneof(
  fc.constant(null),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.double({ noNaN: true }),
  fc.constantFrom(0, -0, 1, 1.5, 2 ** 53, 2 ** 63, -(2 ** 63), 2 ** 63 - 1024, -(2 ** 63) + 1024, Infinity, -Infinity, 5e-324),
  fc.string({ maxLength: 8 }),
  // Texts of the characters SQLite's number parser reads, in any order.
  fc.string({ unit: fc.constantFrom('0', '1', '9', '+', '-', '.', 'e', 'E', ' ', '\t', '\n', '\v', '\f', '\r'), maxLength: 8 }),
  fc.constantFrom('007', ' 7 ', '1e999', '-1e999', '9223372036854775807', '9223372036854775808', '-9223372036854775808', '1.0', '0x10', 'inf', '', '1 2'),
  fc.uint8Array({ maxLength: 4 }),
);

describe('AffinityProbe', () => {
  it('fits exactly when a table column of that affinity reads back the value unchanged', () => {
    const db = openDatabase(':memory:');
    db.exec('CREATE TABLE truth (i INTEGER, t TEXT, b BLOB, r REAL, n NUMERIC)');
    const col: Record<Affinity, string> = { INTEGER: 'i', TEXT: 't', BLOB: 'b', REAL: 'r', NUMERIC: 'n' };
    const probe = new AffinityProbe(db);
    fc.assert(
      fc.property(value, fc.constantFrom(...AFFINITIES), (v, a) => {
        db.prepare(`INSERT INTO truth (${col[a]}) VALUES (?)`).run(v);
        const s = db.prepare(`SELECT ${col[a]} FROM truth`);
        s.setReadBigInts(true);
        s.setReturnArrays(true);
        const stored = (s.get() as unknown as [SqlValue])[0];
        db.exec('DELETE FROM truth');
        assert.equal(probe.fits(a, v), valuesKey([stored]) === valuesKey([v]), `${a} ${typeof v} ${String(v)}`);
      }),
      { numRuns: 3000 },
    );
  });

  it('names the column, its affinity and what SQLite would store', () => {
    const probe = new AffinityProbe(openDatabase(':memory:'));
    assert.equal(probe.problem('column n', 'INTEGER', '007'), 'column n has INTEGER affinity: SQLite would store TEXT 007 as INTEGER');
    assert.equal(probe.problem('column r', 'REAL', 5n), 'column r has REAL affinity: SQLite would store INTEGER 5 as REAL');
    assert.equal(probe.problem('column s', 'TEXT', 1.5), 'column s has TEXT affinity: SQLite would store REAL 1.5 as TEXT');
    assert.equal(probe.problem('column n', 'NUMERIC', '2024-01-01'), undefined);
  });
});
