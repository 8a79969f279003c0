/**
 * A merge's report of what it stored (stored.ts) is what reading the changes back gives: for random
 * replicas (local writes, an earlier merge) and several merges after a version — rows new here
 * decided in bulk or by the rules, partial rows, deletions and revivals, a row written by several
 * merges, some through a write guard that refuses (and undoes) — `storedChanges` equals
 * `changesSince` from that version, change for change, value and clocks; or it gives nothing (the
 * reader reads), never something else — and mostly it gives.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Change } from './change.ts';
import { Engine } from './engine.ts';
import type { WriteGuard } from './filter.ts';
import { packColumns } from './pack.ts';
import { SENTINEL } from './schema.ts';
import type { SqlValue } from './sqlite.ts';
import { StoredReport } from './stored.ts';
import { freshCopy } from '../../test/support/fresh-copy.ts';

const SCHEMA = `CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, a, b, c);
CREATE TABLE u (k TEXT NOT NULL, n INTEGER NOT NULL, x, y, PRIMARY KEY (k, n));`;
const COLUMNS: Record<string, string[]> = { t: ['a', 'b', 'c'], u: ['x', 'y'] };
const site = (n: number): Uint8Array => new Uint8Array(16).fill(n);
const VALUES: SqlValue[] = [null, 1n, 2n, 'x', 'y', 1.5, new Uint8Array([1, 2])];
const pkOf = (table: string, i: number): SqlValue[] => (table === 't' ? [BigInt(i)] : [`k${i % 3}`, BigInt(i)]);

/** A row's changes as a peer sends them: consecutive columns with one clock, a sentinel first, last or none. */
const rowArb = fc.constantFrom('t', 'u').chain((table) => {
  const cols = COLUMNS[table]!;
  return fc
    .record({
      row: fc.integer({ min: 1, max: 8 }),
      from: fc.integer({ min: 0, max: cols.length - 1 }),
      count: fc.integer({ min: 0, max: cols.length }),
      sentinel: fc.constantFrom('none', 'first', 'last'),
      cl: fc.constantFrom(1, 1, 1, 3, 2, 4),
      cv: fc.integer({ min: 1, max: 3 }),
      s: fc.integer({ min: 1, max: 3 }),
      v: fc.array(fc.integer({ min: 0, max: VALUES.length - 1 }), { minLength: 3, maxLength: 3 }),
    })
    .map((r): Change[] => {
      const pk = packColumns(pkOf(table, r.row));
      const cl = r.cl % 2 === 0 ? r.cl : r.cl; // even: a deletion (its cells, if any, are of the row before)
      const cells: Change[] = cols.slice(r.from, r.from + r.count).map((cid, i) => ({ table, pk, cid, val: VALUES[r.v[i]!]!, colVersion: r.cv, dbVersion: 1, siteId: site(r.s), cl: cl % 2 === 0 ? cl - 1 : cl, seq: i }));
      const s: Change = { table, pk, cid: SENTINEL, val: null, colVersion: cl, dbVersion: 1, siteId: site(r.s), cl, seq: 9 };
      if (r.sentinel === 'first' || (cl % 2 === 0 && r.sentinel === 'none')) cells.unshift(s);
      if (r.sentinel === 'last') cells.push(s);
      return cells;
    });
});

const mergeArb = fc.record({ rows: fc.array(rowArb, { minLength: 1, maxLength: 8 }).map((g) => g.flat()), guarded: fc.boolean() });

const stateArb = fc.record({
  local: fc.array(fc.record({ op: fc.constantFrom('insert', 'update', 'delete'), table: fc.constantFrom('t', 'u'), row: fc.integer({ min: 1, max: 8 }), v: fc.integer({ min: 0, max: VALUES.length - 1 }) }), { maxLength: 6 }),
  earlier: fc.array(rowArb, { maxLength: 5 }).map((g) => g.flat()),
});

/** Refuses rows of `u` whose `x` would be 'y' (after the merge too: the merge is undone then). */
const GUARD: WriteGuard = { rules: [{ table: 't', label: 'any t' }, { table: 'u', where: "x IS NOT 'y'", label: 'u not y' }] };

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const text = (c: Change): string =>
  JSON.stringify([c.table, hex(c.pk), c.cid, typeof c.val === 'bigint' ? `${c.val}n` : c.val instanceof Uint8Array ? hex(c.val) : c.val, String(c.colVersion), String(c.dbVersion), hex(c.siteId), String(c.cl), String(c.seq)]);

describe('stored report', () => {
  it('gives what reading the changes back gives, or says it cannot', () => {
    let compared = 0;
    fc.assert(
      fc.property(stateArb, fc.array(mergeArb, { minLength: 1, maxLength: 4 }), (state, merges) => {
        // A fresh replica, copied for each of the 300 runs.
        const db = freshCopy('stored', (d, e) => {
          d.exec(SCHEMA);
          e.asCrr('t');
          e.asCrr('u');
        });
        try {
          const e = Engine.open(db);
          for (const w of state.local) {
            const pk = pkOf(w.table, w.row);
            const where = w.table === 't' ? 'id = ?' : 'k = ? AND n = ?';
            const col = COLUMNS[w.table]![0]!;
            if (w.op === 'insert') db.prepare(`INSERT OR REPLACE INTO ${w.table} (${w.table === 't' ? 'id' : 'k, n'}, ${col}) VALUES (${pk.map(() => '?').join(', ')}, ?)`).run(...pk, VALUES[w.v]!);
            if (w.op === 'update') db.prepare(`UPDATE ${w.table} SET ${col} = ? WHERE ${where}`).run(VALUES[w.v]!, ...pk);
            if (w.op === 'delete') db.prepare(`DELETE FROM ${w.table} WHERE ${where}`).run(...pk);
          }
          e.seal();
          if (state.earlier.length > 0) e.applyChanges(state.earlier);
          const since = e.currentDbVersion();
          const report = new StoredReport();
          for (const m of merges) e.applyChanges(m.rows, { report, ...(m.guarded ? { write: GUARD } : {}) });
          const stored = e.storedChanges(report, since);
          if (report.broken) assert.equal(stored, undefined, 'a broken report gives nothing');
          if (stored === undefined) return; // it cannot say exactly (the reader reads)
          assert.deepEqual(stored.map(text), [...e.changesSince(since, { unsealed: true })].map(text));
          compared++;
        } finally {
          db.close();
        }
      }),
      { numRuns: 300 },
    );
    assert.ok(compared > 100, `compared ${compared}`);
  });
});
