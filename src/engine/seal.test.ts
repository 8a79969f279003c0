/**
 * Sealing set-based (seal-runs.ts) and through the rules (the general path) give the same clocks,
 * keys and history counts: random workloads run on two identical databases, one sealed with every
 * run set-based where it can be, the other only through the rules, and everything compared.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_CLOCK } from './change.ts';
import { insertOrder, logRuns } from './seal-runs.ts';
import type { SqlValue } from './sqlite.ts';
import { assertSameClocks, sealOnce, sealReplica, type SealReplica } from '../../test/support/seal-replicas.ts';

const WIDE = Array.from({ length: 66 }, (_, i) => `w${i}`);
const SCHEMA = `
CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, a, b TEXT, c REAL);
CREATE TABLE k (x TEXT NOT NULL, y INTEGER NOT NULL, v, PRIMARY KEY (x, y)) WITHOUT ROWID;
CREATE TABLE s (id INTEGER PRIMARY KEY NOT NULL);
CREATE TABLE w (id INTEGER PRIMARY KEY NOT NULL, ${WIDE.join(', ')});`;
const TABLES = ['t', 'k', 's', 'w'];

const text = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));

/** The integers lo…hi as a table of `value` (parameters lo, hi). */
const SERIES = '(WITH RECURSIVE g(value) AS (SELECT ? UNION ALL SELECT value + 1 FROM g WHERE value < ?) SELECT value FROM g)';

/** One statement run on both replicas. */
type Op = { sql: string; params: SqlValue[] };

const id = fc.integer({ min: 0, max: 24 });
const span = fc.integer({ min: 0, max: 12 });
const val = fc.oneof(fc.constant(null), fc.integer({ min: -3, max: 3 }).map(BigInt), fc.constantFrom('x', 'y', 'X'), fc.constantFrom(1.5, 2.0));
const tCols = fc.subarray(['a', 'b', 'c'], { minLength: 1 });

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.tuple(id, span, val).map(([lo, n, v]) => ({ sql: `INSERT OR REPLACE INTO t (id, a, b, c) SELECT value, ?, 'b', 1.0 FROM ${SERIES}`, params: [v, BigInt(lo), BigInt(lo + n)] })),
  fc.tuple(id, span).map(([lo, n]) => ({ sql: `INSERT OR IGNORE INTO t (id, a) SELECT value, value FROM ${SERIES}`, params: [BigInt(lo), BigInt(lo + n)] })),
  fc.tuple(id, span, tCols, val).map(([lo, n, cols, v]) => ({ sql: `UPDATE t SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE id BETWEEN ? AND ?`, params: [...cols.map(() => v), BigInt(lo), BigInt(lo + n)] })),
  fc.tuple(id, span).map(([lo, n]) => ({ sql: `DELETE FROM t WHERE id BETWEEN ? AND ?`, params: [BigInt(lo), BigInt(lo + n)] })),
  fc.tuple(id, span, fc.integer({ min: 1, max: 5 })).map(([lo, n, d]) => ({ sql: `UPDATE OR IGNORE t SET id = id + ? WHERE id BETWEEN ? AND ?`, params: [BigInt(d), BigInt(lo), BigInt(lo + n)] })),
  fc.tuple(id, span, val).map(([lo, n, v]) => ({ sql: `INSERT OR REPLACE INTO k (x, y, v) SELECT 'k' || (value % 3), value, ? FROM ${SERIES}`, params: [v, BigInt(lo), BigInt(lo + n)] })),
  fc.tuple(id, span, val).map(([lo, n, v]) => ({ sql: `UPDATE k SET v = ? WHERE y BETWEEN ? AND ?`, params: [v, BigInt(lo), BigInt(lo + n)] })),
  fc.tuple(id, span).map(([lo, n]) => ({ sql: `DELETE FROM k WHERE y BETWEEN ? AND ?`, params: [BigInt(lo), BigInt(lo + n)] })),
  fc.tuple(id, span).map(([lo, n]) => ({ sql: `INSERT OR IGNORE INTO s (id) SELECT value FROM ${SERIES}`, params: [BigInt(lo), BigInt(lo + n)] })),
  fc.tuple(id, span).map(([lo, n]) => ({ sql: `DELETE FROM s WHERE id BETWEEN ? AND ?`, params: [BigInt(lo), BigInt(lo + n)] })),
  fc.tuple(id, span).map(([lo, n]) => ({ sql: `INSERT OR IGNORE INTO w (id, w0, w64) SELECT value, value, value FROM ${SERIES}`, params: [BigInt(lo), BigInt(lo + n)] })),
  fc.tuple(id, span, fc.subarray(WIDE, { minLength: 1, maxLength: 4 }), val).map(([lo, n, cols, v]) => ({ sql: `UPDATE w SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE id BETWEEN ? AND ?`, params: [...cols.map(() => v), BigInt(lo), BigInt(lo + n)] })),
  fc.tuple(id, span).map(([lo, n]) => ({ sql: `DELETE FROM w WHERE id BETWEEN ? AND ?`, params: [BigInt(lo), BigInt(lo + n)] })),
);

/** Pushes some sealed clocks of `t` to the edge of MAX_CLOCK, where the rules rebase or stop (done after a seal, on both). */
const pump = fc.tuple(id, fc.integer({ min: 0, max: 3 })).map(([key, below]) => ({
  sql: `UPDATE t__ddcp_clock SET col_version = ? - (col_version & 1) - ? WHERE key % 5 = ? % 5`,
  params: [MAX_CLOCK, BigInt(2 * below), BigInt(key)] as SqlValue[],
}));

const workload = fc.array(fc.record({ ops: fc.array(op, { minLength: 1, maxLength: 8 }), pump: fc.option(pump, { freq: 4 }) }), { minLength: 1, maxLength: 6 });

function run(r: SealReplica, sql: string, params: SqlValue[]): void {
  r.db.prepare(sql).run(...params);
}

describe('set-based seal', () => {
  it('gives the clocks, keys and counts the rules give, on random workloads', () => {
    fc.assert(
      fc.property(workload, fc.constantFrom(1, 2, 4), (txs, minRun) => {
        const a = sealReplica(SCHEMA, TABLES);
        const b = sealReplica(SCHEMA, TABLES);
        try {
          for (const tx of txs) {
            for (const r of [a, b]) {
              r.db.exec('BEGIN');
              for (const o of tx.ops) run(r, o.sql, o.params);
              r.db.exec('COMMIT');
            }
            assert.equal(text(sealOnce(a, { minRun })), text(sealOnce(b, { minRun: Infinity })));
            assertSameClocks(a, b, 'clock');
            if (tx.pump) for (const r of [a, b]) run(r, tx.pump.sql, tx.pump.params);
          }
        } finally {
          a.db.close();
          b.db.close();
        }
      }),
      { numRuns: 200 },
    );
  });

  it('seals long runs of inserts, updates and deletes set-based, as the rules would', () => {
    const a = sealReplica(SCHEMA, TABLES);
    const b = sealReplica(SCHEMA, TABLES);
    const steps = [
      'INSERT INTO t (id, a, b, c) SELECT value, value, $b, 1.5 FROM (WITH RECURSIVE g(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM g WHERE value < 300) SELECT value FROM g)',
      'UPDATE t SET a = a + 1 WHERE id % 3 = 0',
      'UPDATE t SET b = $b || id, c = 2.5',
      'UPDATE t SET a = -a WHERE id % 2 = 0; UPDATE t SET a = a * 2 WHERE id < 100',
      'DELETE FROM t WHERE id > 150',
      'INSERT INTO t (id, a) SELECT value, 0 FROM (WITH RECURSIVE g(value) AS (SELECT 151 UNION ALL SELECT value + 1 FROM g WHERE value < 200) SELECT value FROM g); DELETE FROM t WHERE id <= 20',
      'INSERT OR REPLACE INTO t (id, a) SELECT value, 1 FROM (WITH RECURSIVE g(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM g WHERE value < 100) SELECT value FROM g)',
    ];
    for (const sql of steps) {
      for (const r of [a, b]) r.db.exec(sql.replaceAll('$b', "'b'"));
      assert.equal(text(sealOnce(a, {})), text(sealOnce(b, { minRun: Infinity })), sql);
      assertSameClocks(a, b, 'clock', sql);
    }
    a.db.close();
    b.db.close();
  });

  it('writes long runs of fresh inserts with scattered keys in key order, with the clocks the rules give', () => {
    const a = sealReplica(SCHEMA, TABLES);
    const b = sealReplica(SCHEMA, TABLES);
    // Distinct keys in no order: value × 2654435761 modulo a prime above 2^32.
    const scattered = (lo: number, hi: number): string =>
      `INSERT INTO t (id, a, b, c) SELECT (value * 2654435761) % 4294967311, value, 'b', 0.5 FROM (WITH RECURSIVE g(value) AS (SELECT ${lo} UNION ALL SELECT value + 1 FROM g WHERE value < ${hi}) SELECT value FROM g)`;
    const steps: [string, 'log' | 'key'][] = [
      // Into an empty key map: log order is the cheaper.
      [scattered(1, 3000), 'log'],
      // Into a key map holding more than a quarter as many rows as the run: key order.
      [scattered(3001, 5000), 'key'],
      // Keys ascending in log order: log order, whatever the key map holds.
      ['INSERT INTO t (id, a) SELECT value, 0 FROM (WITH RECURSIVE g(value) AS (SELECT 5000000000 UNION ALL SELECT value + 1 FROM g WHERE value < 5000001999) SELECT value FROM g)', 'log'],
      // Too short to look at.
      [scattered(5001, 5500), 'log'],
    ];
    for (const [sql, order] of steps) {
      for (const r of [a, b]) r.db.exec(sql);
      const t = a.tables[0]!;
      const runs = logRuns(a.db, t);
      assert.equal(runs.length, 1, sql);
      assert.equal(insertOrder(a.db, t, runs[0]!), order, sql);
      assert.equal(text(sealOnce(a, {})), text(sealOnce(b, { minRun: Infinity })), sql);
      assertSameClocks(a, b, 'clock', sql);
    }
    a.db.close();
    b.db.close();
  });
});
