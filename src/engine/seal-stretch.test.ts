/**
 * Runs over one ascending stretch of the key map are sealed by range of its key (seal-runs.ts,
 * keyStretch): the same clocks, keys and counts as the rules give — for stretches that are one, and
 * for runs whose two ends look like one but whose middle is not (the check must catch it) — and every
 * read of the changes the same (a set-based delete leaves what is not a clock in the key map).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { assertSameClocks, sealOnce, sealReplica, type SealReplica } from '../../test/support/seal-replicas.ts';
import { Engine } from './engine.ts';
import type { Change } from './change.ts';

const SCHEMA = `
CREATE TABLE items (id INTEGER PRIMARY KEY NOT NULL, name TEXT, qty INTEGER, price REAL);
CREATE TABLE pairs (x TEXT NOT NULL, y INTEGER NOT NULL, v, w, PRIMARY KEY (x, y)) WITHOUT ROWID;`;
const TABLES = ['items', 'pairs'];

const series = (lo: number, hi: number): string => `(WITH RECURSIVE g(value) AS (SELECT ${lo} UNION ALL SELECT value + 1 FROM g WHERE value < ${hi}) SELECT value FROM g)`;

const lines = (cs: Iterable<Change>): string =>
  [...cs].map((c) => JSON.stringify(c, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x))).join('\n');

/**
 * What every read gives (a set-based delete leaves a deleted row clock's db_version, site and seq in
 * the key map, which no read may take for a clock): changes from 0 and from each version, plain, per
 * row with a row filter, and per cell with a column filter; the newest; each version's own. The
 * replica's own site id (each has one of its own) reads as 'self'.
 */
function readChanges(r: SealReplica): { own: Uint8Array; reads: Change[][] } {
  const e = Engine.open(r.db);
  const top = e.currentDbVersion();
  const out: Change[][] = [];
  for (let v = 0; v <= top; v++) {
    out.push([...e.changesSince(v)]);
    out.push([...e.changesSince(v, { read: { rules: [{ table: 'items', where: 'qty IS NOT NULL OR qty IS NULL' }, { table: 'pairs', where: 'y > 0' }] } })]);
    out.push([...e.changesSince(v, { read: { rules: [{ table: 'items', columns: ['qty'] }, { table: 'pairs', columns: ['v'] }] } })]);
    out.push([...e.versionChanges(v)]);
  }
  out.push([...e.recentChanges({ limit: 10_000 })]);
  const own = (r.db.prepare('SELECT site_id FROM ddcp_site_id WHERE ordinal = 0').get() as { site_id: Uint8Array }).site_id;
  return { own, reads: out };
}

/** {@link readChanges} as text, the own site id as 'self'. */
function readsText({ own, reads }: ReturnType<typeof readChanges>): string {
  return reads.map(lines).join('\n--\n').replaceAll(Buffer.from(own).toString('hex'), 'self');
}

/**
 * Asserts that two replicas read the same: `assert.equal` of their {@link readsText}, made only when
 * the reads differ as values (the own site id as 'self'): texts of equal reads are equal, and making
 * them was most of the comparison's CPU.
 */
function assertSameReads(a: SealReplica, b: SealReplica, message: string): void {
  const [ra, rb] = [readChanges(a), readChanges(b)];
  const values = ({ own, reads }: ReturnType<typeof readChanges>): unknown[][] =>
    reads.map((cs) => cs.map((c) => ({ ...c, siteId: Buffer.compare(c.siteId, own) === 0 ? 'self' : c.siteId })));
  if (!isDeepStrictEqual(values(ra), values(rb))) assert.equal(readsText(ra), readsText(rb), message);
}

/** Runs each step on two replicas, seals one set-based (runs from `minRun` entries) and one through the rules, and compares. */
function compare(steps: string[], minRun?: number): void {
  const a = sealReplica(SCHEMA, TABLES);
  const b = sealReplica(SCHEMA, TABLES);
  try {
    for (const sql of steps) {
      for (const r of [a, b]) r.db.exec(`BEGIN; ${sql}; COMMIT;`);
      assert.deepEqual(sealOnce(a, minRun === undefined ? {} : { minRun }), sealOnce(b, { minRun: Infinity }), sql);
      assertSameClocks(a, b, 'cells', sql);
      assertSameReads(a, b, sql);
    }
  } finally {
    a.db.close();
    b.db.close();
  }
}

describe('seal over a stretch of the key map', () => {
  it('gives what the rules give for the bench phases: insert, update one column, update all, delete', () => {
    compare([
      `INSERT INTO items (id, name, qty, price) SELECT value, 'n' || value, value, value * 1.5 FROM ${series(1, 400)}`,
      `INSERT INTO pairs (x, y, v, w) SELECT 'k', value, value, 'w' FROM ${series(1, 300)}`,
      'UPDATE items SET qty = qty + 1',
      "UPDATE pairs SET v = v + 1 WHERE y > 100",
      "UPDATE items SET name = 'm', qty = 0, price = 0.5 WHERE id BETWEEN 101 AND 300",
      'DELETE FROM items WHERE id > 200',
      'DELETE FROM pairs',
      'DELETE FROM items',
    ]);
  });

  it('gives what the rules give when a deleted stretch holds every override, or all but some', () => {
    compare([
      `INSERT INTO items (id, name, qty, price) SELECT value, 'n', value, 1.0 FROM ${series(1, 400)}`,
      `INSERT INTO pairs (x, y, v, w) SELECT 'k', value, value, 'w' FROM ${series(1, 300)}`,
      // Overrides on rows 101…200 only; the stretch 50…250 holds them all, with rows left on both sides.
      'UPDATE items SET qty = 0 WHERE id BETWEEN 101 AND 200',
      'UPDATE pairs SET v = 0 WHERE y BETWEEN 101 AND 200',
      'DELETE FROM items WHERE id BETWEEN 50 AND 250',
      'DELETE FROM pairs WHERE y BETWEEN 50 AND 250',
      // Overrides below and inside the next stretch: those below stay.
      'UPDATE items SET qty = 1 WHERE id < 20 OR id BETWEEN 300 AND 350',
      'UPDATE pairs SET w = 1 WHERE y < 20 OR y BETWEEN 260 AND 280',
      'DELETE FROM items WHERE id >= 290',
      'DELETE FROM pairs WHERE y >= 255',
      // Overrides above the stretch: they stay too.
      'UPDATE items SET name = 2 WHERE id BETWEEN 260 AND 270',
      'DELETE FROM items WHERE id < 260',
      'UPDATE items SET qty = 2',
      'DELETE FROM items',
    ]);
  });

  it('gives the reads the rules give on random runs of deletes, updates and re-inserts', () => {
    const lo = fc.integer({ min: 1, max: 60 });
    const n = fc.integer({ min: 0, max: 40 });
    const step = fc.oneof(
      fc.tuple(lo, n).map(([a, k]) => `INSERT OR REPLACE INTO items (id, name, qty, price) SELECT value, 'r', value, 0.5 FROM ${series(a, a + k)}`),
      fc.tuple(lo, n).map(([a, k]) => `INSERT OR IGNORE INTO pairs (x, y, v, w) SELECT 'k', value, value, 'i' FROM ${series(a, a + k)}`),
      fc.tuple(lo, n, fc.constantFrom('qty = qty + 1', "name = 'u', qty = 0, price = 2.5", 'price = -price')).map(([a, k, set]) => `UPDATE items SET ${set} WHERE id BETWEEN ${a} AND ${a + k}`),
      fc.tuple(lo, n).map(([a, k]) => `UPDATE pairs SET v = 'u' WHERE y BETWEEN ${a} AND ${a + k}`),
      fc.tuple(lo, n).map(([a, k]) => `DELETE FROM items WHERE id BETWEEN ${a} AND ${a + k}`),
      fc.tuple(lo, n).map(([a, k]) => `DELETE FROM pairs WHERE y BETWEEN ${a} AND ${a + k}`),
      fc.integer({ min: 0, max: 2 }).map((m) => `DELETE FROM items WHERE id % 3 = ${m}`),
      fc.constant('DELETE FROM items'),
    );
    fc.assert(
      fc.property(fc.array(fc.array(step, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 6 }), fc.constantFrom(1, 4), (txs, minRun) => {
        compare(txs.map((t) => t.join('; ')), minRun);
      }),
      { numRuns: 25 },
    );
  });

  it('gives what the rules give when a stretch read off the log names a key the key map lacks', () => {
    // Keyed by the rowid, a stretch is read off the log alone; the range statements' counts must
    // catch the missing row (one changed column: overrides inserted; every column: row clocks).
    for (const set of ['qty = qty + 1', "name = 'a', qty = 4, price = 0.25"]) {
      compare([
        `INSERT INTO items (id, name, qty, price) SELECT value, 'n', value, 1.0 FROM ${series(1, 200)}`,
        'DELETE FROM items__ddcp_pks WHERE __key = 150',
        `UPDATE items SET ${set}`,
      ]);
    }
  });

  it('gives what the rules give when only the ends of a run line up with the key map', () => {
    const swapped = (lo: number, hi: number, t = 'items', k = 'id'): string =>
      [`DELETE FROM ${t} WHERE ${k} = ${lo}`, `DELETE FROM ${t} WHERE ${k} = ${lo + 2}`, `DELETE FROM ${t} WHERE ${k} = ${lo + 1}`, `DELETE FROM ${t} WHERE ${k} BETWEEN ${lo + 3} AND ${hi}`].join('; ');
    compare([
      `INSERT INTO items (id, name, qty, price) SELECT value, 'n', value, 1.0 FROM ${series(1, 400)}`,
      `INSERT INTO pairs (x, y, v, w) SELECT 'k', value, value, 'w' FROM ${series(1, 300)}`,
      // Updates of all rows of the stretch but two in swapped order.
      `UPDATE items SET qty = 7 WHERE id = 1; UPDATE items SET qty = 7 WHERE id = 3; UPDATE items SET qty = 7 WHERE id = 2; UPDATE items SET qty = 7 WHERE id BETWEEN 4 AND 200`,
      // A run with a row missing from the middle (two ends 1…100 apart, 100 entries: one twice).
      `UPDATE items SET qty = 8 WHERE id BETWEEN 201 AND 250; UPDATE items SET qty = 9 WHERE id = 250; UPDATE items SET qty = 8 WHERE id BETWEEN 252 AND 300`,
      swapped(1, 200),
      swapped(1, 300, 'pairs', 'y'),
      // Deletes whose stretch has a gap where a row was deleted before.
      'DELETE FROM items WHERE id = 350',
      'DELETE FROM items WHERE id > 300',
      // A run whose log is one stretch, entry by entry, over keys of which one has no key-map row (a
      // stretch keyed by the rowid is read off the log alone; the range statements' counts catch it).
      `INSERT INTO items (id, name, qty, price) SELECT value, 'n', value, 1.0 FROM ${series(500, 600)}`,
      'DELETE FROM items__ddcp_pks WHERE __key = 550',
      'UPDATE items SET qty = 3 WHERE id BETWEEN 500 AND 600',
      "UPDATE items SET name = 'a', qty = 4, price = 0.25 WHERE id BETWEEN 500 AND 600",
      'DELETE FROM items__ddcp_pks WHERE __key = 560',
      'DELETE FROM items WHERE id BETWEEN 500 AND 600',
    ]);
  });
});
