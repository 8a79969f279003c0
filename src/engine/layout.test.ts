/**
 * The row-level clock layout (layout.ts): any cell clocks a row can have are stored and read back
 * exactly — through the per-cell view and through the changes feed, in (db_version, seq) order — and
 * the rules' save (JavaScript) and the set-based re-encoding (SQL) store the same canonical rows.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Engine } from './engine.ts';
import { reencodeTable } from './layout.ts';
import { introspect } from './schema.ts';
import { sealTables } from './seal.ts';
import { openDatabase, type SqliteConnection } from './sqlite.ts';
import { CrrTable } from './table.ts';
import { Versions } from './clock.ts';

const COLUMNS = ['a', 'b', 'c', 'd'];

function q(db: SqliteConnection, sql: string): string {
  const s = db.prepare(sql);
  s.setReadBigInts(true);
  s.setReturnArrays(true);
  return JSON.stringify(s.all(), (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
}

interface Cell {
  cv: number;
  site: number;
}

/** Rows of cell clocks: per row, per column, a clock or none; the row's cells may be consecutive from one seq (a row clock) or scattered. */
const rowsArb = fc.array(
  fc.record({
    cells: fc.array(fc.option(fc.record({ cv: fc.integer({ min: 1, max: 2 }), site: fc.integer({ min: 0, max: 1 }) }), { nil: undefined }), { minLength: 4, maxLength: 4 }),
    together: fc.boolean(),
    dbv: fc.integer({ min: 1, max: 3 }),
  }),
  { minLength: 1, maxLength: 30 },
);

describe('row-level clock layout', () => {
  it('stores any cell clocks exactly, reads them in (db_version, seq) order, and JS and SQL encode them alike', () => {
    fc.assert(
      fc.property(rowsArb, fc.integer({ min: 0, max: 1000 }), (rows, salt) => {
        const e = Engine.open(openDatabase(':memory:'));
        try {
          e.db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, a, b, c, d)');
          e.asCrr('t');
          e.db.prepare('INSERT INTO ddcp_site_id (ordinal, site_id) VALUES (1, ?)').run(new Uint8Array(16).fill(7));
          const table = new CrrTable(e.db, introspect(e.db, 't'));
          // Unique seqs per db_version, handed out in an order mixing the rows (salted).
          const next = new Map<number, number>();
          const take = (dbv: number, n: number): number => {
            const s = next.get(dbv) ?? (salt % 7);
            next.set(dbv, s + n + ((salt >> 3) % 3));
            return s;
          };
          const expected: string[] = [];
          e.db.exec('BEGIN');
          rows.forEach((r, i) => {
            const [entry] = table.loadMany([[BigInt(i + 1)]]);
            const base = r.together ? take(r.dbv, COLUMNS.length) : 0;
            r.cells.forEach((c: Cell | undefined, j) => {
              if (!c) return;
              const seq = r.together ? base + j : take(r.dbv, 1);
              entry!.row.setCell(COLUMNS[j]!, { colVersion: c.cv, dbVersion: r.dbv, site: c.site, seq });
              expected.push(JSON.stringify([i + 1, COLUMNS[j], c.cv, r.dbv, c.site, seq]));
            });
            if (entry!.row.dirty) table.saveMany([entry!]);
          });
          e.db.exec('COMMIT');
          const view = JSON.parse(q(e.db, `SELECT p.id, c.cid, c.col_version, c.db_version, c.site, c.seq FROM t__ddcp_clock c JOIN t__ddcp_pks p ON p.__key = c.key ORDER BY p.id, c.cid`)) as unknown[];
          assert.deepEqual(view.map((v) => JSON.stringify(v)), expected.sort((x, y) => (JSON.parse(x)[0] - JSON.parse(y)[0]) || (JSON.parse(x)[1] < JSON.parse(y)[1] ? -1 : 1)));
          // The feed: every cell once, in (db_version, seq) order.
          const feed = [...e.changesSince(0)].map((c) => [Number(c.dbVersion), Number(c.seq)]);
          const sorted = JSON.parse(q(e.db, 'SELECT db_version, seq FROM t__ddcp_clock ORDER BY db_version, seq'));
          assert.deepEqual(feed, sorted);
          // Newest first (logs): the feed's tail, reversed.
          assert.deepEqual(e.recentChanges({ limit: 5 }).map((c) => [Number(c.dbVersion), Number(c.seq)]), feed.slice(-5).reverse());
          // The set-based encoding of the same clocks is the same rows.
          const stored = q(e.db, 'SELECT * FROM t__ddcp_pks ORDER BY __key') + q(e.db, 'SELECT * FROM t__ddcp_cells ORDER BY key, cid');
          e.db.exec('BEGIN');
          reencodeTable(e.db, table.info, table.names);
          e.db.exec('COMMIT');
          assert.equal(q(e.db, 'SELECT * FROM t__ddcp_pks ORDER BY __key') + q(e.db, 'SELECT * FROM t__ddcp_cells ORDER BY key, cid'), stored);
        } finally {
          e.db.close();
        }
      }),
      { numRuns: 150 },
    );
  });

  it('reads cells in seq order when other rows hold the seqs between a row clock\'s cells', () => {
    const e = Engine.open(openDatabase(':memory:'));
    e.db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, a, b, c, d)');
    e.asCrr('t');
    const table = new CrrTable(e.db, introspect(e.db, 't'));
    e.db.exec('BEGIN');
    const [x, y] = table.loadMany([[1n], [2n]]);
    // Row 1: a and d on the row clock (seqs 10 and 13), b and c older; row 2 holds seqs 11 and 12.
    x!.row.setCell('a', { colVersion: 3, dbVersion: 5, site: 0, seq: 10 });
    x!.row.setCell('b', { colVersion: 1, dbVersion: 2, site: 0, seq: 4 });
    x!.row.setCell('c', { colVersion: 1, dbVersion: 2, site: 0, seq: 9 });
    x!.row.setCell('d', { colVersion: 3, dbVersion: 5, site: 0, seq: 13 });
    y!.row.setCell('a', { colVersion: 1, dbVersion: 5, site: 0, seq: 11 });
    y!.row.setCell('b', { colVersion: 1, dbVersion: 5, site: 0, seq: 12 });
    table.saveMany([x!, y!]);
    e.db.exec('COMMIT');
    assert.equal(q(e.db, 'SELECT id, __ddcp_cv, __ddcp_dbv, __ddcp_seq FROM t__ddcp_pks ORDER BY id'), '[[1,3,5,10],[2,1,5,11]]');
    assert.deepEqual([...e.changesSince(0)].map((c) => `${c.dbVersion}.${c.seq}`), ['2.4', '2.9', '5.10', '5.11', '5.12', '5.13']);
    e.db.close();
  });

  it('seals updates of every column, of some, and deletes set-based as the rules would', () => {
    const replica = () => {
      const e = Engine.open(openDatabase(':memory:'));
      e.db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, a, b, c)');
      e.asCrr('t');
      return { db: e.db, versions: new Versions(e.db), table: new CrrTable(e.db, introspect(e.db, 't')) };
    };
    const a = replica();
    const b = replica();
    const steps = [
      `INSERT INTO t (id, a, b, c) SELECT value, value, 'b', 1.5 FROM generate_series(1, 300)`,
      'UPDATE t SET a = -a, b = id, c = 0',
      'UPDATE t SET c = 3 WHERE id > 100',
      'UPDATE t SET a = 1, b = 2, c = 3 WHERE id % 2 = 0',
      'UPDATE t SET b = 7 WHERE id % 3 = 0',
      'UPDATE t SET a = 2, b = 3, c = 4',
      'DELETE FROM t WHERE id > 250',
      `INSERT INTO t (id, a) SELECT value, 0 FROM generate_series(251, 280)`,
      'UPDATE t SET a = 9, b = 9, c = 9 WHERE id > 200',
    ];
    // A row without a row clock may keep a deleted row clock's db_version, site and seq, or not, by the
    // path that deleted it (format 4): not clocks, left out.
    const keyMap = `SELECT __key, id, __ddcp_cv, ${['__ddcp_dbv', '__ddcp_site', '__ddcp_seq'].map((c) => `CASE WHEN __ddcp_cv IS NOT NULL THEN ${c} END`).join(', ')} FROM t__ddcp_pks ORDER BY __key`;
    const dump = (r: typeof a): string =>
      q(r.db, keyMap) + q(r.db, 'SELECT * FROM t__ddcp_sentinels ORDER BY key') + q(r.db, 'SELECT * FROM t__ddcp_cells ORDER BY key, cid') + q(r.db, 'SELECT * FROM t__ddcp_clock ORDER BY key, cid');
    const seal = (r: typeof a, minRun: number): string => {
      r.db.exec('BEGIN');
      const v = r.versions.open();
      const counts = sealTables(r.db, [r.table], v, { minRun });
      if (counts) r.versions.close(v, { kind: 'commit', tables: counts }, 0);
      r.db.exec('COMMIT');
      return JSON.stringify(counts);
    };
    for (const [i, sql] of steps.entries()) {
      const real = sql.replace(/generate_series\((\d+), (\d+)\)/, (_m, lo, hi) => `(WITH RECURSIVE g(value) AS (SELECT ${lo} UNION ALL SELECT value + 1 FROM g WHERE value < ${hi}) SELECT value FROM g)`);
      for (const r of [a, b]) r.db.exec(real);
      assert.equal(seal(a, 1), seal(b, Infinity), sql);
      assert.equal(dump(a), dump(b), sql);
      // An update of every column of rows on their row clocks leaves no override; one of a column, one each.
      if (i === 1) assert.equal(q(a.db, 'SELECT count(*) FROM t__ddcp_cells'), '[[0]]');
      if (i === 2) assert.equal(q(a.db, `SELECT count(*), min(cid) FROM t__ddcp_cells`), '[[200,"c"]]');
      // Rows never deleted have no sentinel stored (format 5); each deleted row one, at causal length 2.
      if (i === 0) assert.equal(q(a.db, 'SELECT count(*) FROM t__ddcp_sentinels'), '[[0]]');
      if (i === 6) assert.equal(q(a.db, 'SELECT count(*), min(key), max(key), min(cl), max(cl) FROM t__ddcp_sentinels'), '[[50,251,300,2,2]]');
    }
    a.db.close();
    b.db.close();
  });
});
