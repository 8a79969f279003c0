/**
 * A key map keyed by the table's rowid alias (names.ts `rowidKeyed`, rekey.ts) behaves exactly as
 * one numbered beside a copy of the key: the same random writes, seals and merges on a table
 * `id INTEGER PRIMARY KEY` (the alias: keyed by the key) and on one `id INTEGER PRIMARY KEY DESC`
 * (no alias: numbered) give byte-identical changes, rows and merge counts — keys at both ends of 64
 * bits and past 2^53 included, re-inserts, key changes, tombstones and overrides. And a schema change
 * that makes the key stop (or start) being the alias moves the key map, losing nothing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Engine } from './engine.ts';
import type { SqlValue } from './sqlite.ts';
import type { Change } from './change.ts';
import { formatChange } from '../sync/jsonl.ts';
import { engineFromImage } from '../../test/support/fixed-site.ts';

const ALIAS = 'CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, a, b TEXT, c)';
const NUMBERED = 'CREATE TABLE t (id INTEGER PRIMARY KEY DESC NOT NULL, a, b TEXT, c)';

function site(n: number): Uint8Array {
  return new Uint8Array(16).fill(n);
}

/** A fresh replica of `ddl` with site id n (a copy of one made once per ddl: engineFromImage). */
function replica(ddl: string, n: number): Engine {
  return engineFromImage(`rekey ${ddl}`, site(n), (db, e) => {
    db.exec(ddl);
    e.asCrr('t');
  }).engine;
}

/** Whether t's key map is keyed by the key (no stored copy of it). */
const keyedByKey = (e: Engine): boolean =>
  (e.db.prepare(`PRAGMA table_xinfo(t__ddcp_pks)`).all() as { name: string; hidden: number | bigint }[]).some((c) => c.name === 'id' && Number(c.hidden) !== 0);

const lines = (cs: Iterable<Change>): string => [...cs].map((c) => formatChange(c)).join('\n');
const rows = (e: Engine): string =>
  JSON.stringify(
    (() => {
      const s = e.db.prepare('SELECT id, a, typeof(a), b, c FROM t ORDER BY id');
      s.setReadBigInts(true);
      return s.all();
    })(),
    (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v),
  );

const EDGE = [-(2n ** 63n), -(2n ** 62n) - 1n, -(2n ** 62n), -5n, -1n, 0n, 1n, 2n, 3n, 2n ** 53n + 1n, 2n ** 62n, 2n ** 63n - 2n, 2n ** 63n - 1n];
const id = fc.oneof(fc.constantFrom(...EDGE), fc.bigInt({ min: -8n, max: 24n }));
const val = fc.oneof(fc.constant(null), fc.integer({ min: -3, max: 3 }).map(BigInt), fc.constantFrom('x', 'y'), fc.constant(2.5));
/**
 * One write, as single-row statements in ascending key order: a statement over a range would visit
 * the rows of the DESC table in another order than the alias table's (an app-visible difference of
 * the two tables, not of their key maps).
 */
type Op = { sql: string; params: SqlValue[]; over?: [bigint, bigint] };
const range = (x: bigint, y: bigint): [bigint, bigint] => (x < y ? [x, y] : [y, x]);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.tuple(id, val).map(([k, v]) => ({ sql: 'INSERT OR REPLACE INTO t (id, a, b, c) VALUES (?, ?, ?, ?)', params: [k, v, 'b', 1n] })),
  fc.tuple(fc.bigInt({ min: -4n, max: 20n }), fc.integer({ min: 1, max: 12 })).map(([lo, n]) => ({ sql: 'INSERT OR IGNORE INTO t (id, a) VALUES ($k, $k)', params: [], over: [lo, lo + BigInt(n)] as [bigint, bigint] })),
  fc.tuple(id, id, fc.subarray(['a', 'b', 'c'], { minLength: 1 }), val).map(([x, y, cols, v]) => ({
    sql: `UPDATE t SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE id = $k`,
    params: cols.map(() => v),
    over: range(x, y),
  })),
  fc.tuple(id, id).map(([x, y]) => ({ sql: 'DELETE FROM t WHERE id = $k', params: [], over: range(x, y) })),
  fc.tuple(id, id).map(([from, to]) => ({ sql: 'UPDATE OR IGNORE t SET id = ? WHERE id = ?', params: [to, from] })),
);

/** Runs `o` on `e`: over a range, once per key (every key of an insert's range; the table's keys in it otherwise), ascending. */
function apply(e: Engine, o: Op): void {
  if (!o.over) return void e.db.prepare(o.sql).run(...o.params);
  const [lo, hi] = o.over;
  let keys: bigint[];
  if (o.sql.startsWith('INSERT')) keys = Array.from({ length: Number(hi - lo) + 1 }, (_, i) => lo + BigInt(i));
  else {
    const s = e.db.prepare('SELECT id FROM t WHERE id BETWEEN ? AND ? ORDER BY id');
    s.setReadBigInts(true);
    keys = (s.all(lo, hi) as { id: bigint }[]).map((r) => r.id);
  }
  const stmt = e.db.prepare(o.sql.replaceAll('$k', '?'));
  const marks = o.sql.split('$k').length - 1;
  for (const k of keys) stmt.run(...o.params, ...Array.from({ length: marks }, () => k));
}
/** A transaction's writes, then a seal or not, then maybe a merge of the other site's changes. */
const step = fc.record({ ops: fc.array(op, { minLength: 1, maxLength: 6 }), seal: fc.boolean(), merge: fc.boolean() });

describe('a key map keyed by the rowid alias', () => {
  it('reads, seals and merges as a numbered one, on random writes and merges', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 6 }), fc.array(op, { maxLength: 8 }), (steps, theirs) => {
        const a = replica(ALIAS, 1);
        const b = replica(NUMBERED, 1);
        const other = replica(ALIAS, 2);
        try {
          assert.ok(keyedByKey(a) && !keyedByKey(b));
          for (const o of theirs) apply(other, o);
          const incoming = [...other.changesSince(0)];
          for (const s of steps) {
            for (const e of [a, b]) {
              e.db.exec('BEGIN');
              for (const o of s.ops) apply(e, o);
              e.db.exec('COMMIT');
              if (s.seal) e.seal();
            }
            if (s.merge) {
              const [ra, rb] = [a.applyChanges(incoming), b.applyChanges(incoming)];
              assert.deepEqual([ra.received, ra.applied], [rb.received, rb.applied]);
            }
            assert.equal(lines(a.changesSince(0)), lines(b.changesSince(0)));
            assert.equal(rows(a), rows(b));
          }
          // The other way: each one's changes into a fresh replica of either kind.
          for (const into of [ALIAS, NUMBERED]) {
            const [x, y] = [replica(into, 3), replica(into, 3)];
            const [rx, ry] = [x.applyChanges([...a.changesSince(0)]), y.applyChanges([...b.changesSince(0)])];
            assert.deepEqual([rx.received, rx.applied], [ry.received, ry.applied]);
            assert.equal(lines(x.changesSince(0)), lines(y.changesSince(0)));
            assert.equal(rows(x), rows(y));
            x.db.close();
            y.db.close();
          }
        } finally {
          for (const e of [a, b, other]) e.db.close();
        }
      }),
      { numRuns: 120 },
    );
  });

  it('moves to a numbered key map and back when a schema change makes the key stop and start being the alias', () => {
    const e = replica(ALIAS, 1);
    const other = replica(ALIAS, 2);
    try {
      e.db.exec(`INSERT INTO t VALUES (5, 'a', 'b', 1), (-9223372036854775808, 'min', NULL, 2), (9223372036854775807, 'max', 'x', 3), (1, 'one', 'y', 4)`);
      e.db.exec(`UPDATE t SET a = 'p' WHERE id = 5; DELETE FROM t WHERE id = 1; UPDATE t SET id = 7 WHERE id = 5`);
      other.db.exec(`INSERT INTO t VALUES (2, 'o', 'o', 0)`);
      e.applyChanges([...other.changesSince(0)]);
      const before = lines(e.changesSince(0));
      const rowsBefore = rows(e);
      assert.ok(keyedByKey(e));
      const rebuild = (ddl: string): void => {
        e.beginAlter('t');
        e.db.exec(`ALTER TABLE t RENAME TO t_old; ${ddl}; INSERT INTO t SELECT * FROM t_old; DROP TABLE t_old;`);
        e.commitAlter('t');
      };
      rebuild(NUMBERED);
      assert.ok(!keyedByKey(e));
      assert.equal(lines(e.changesSince(0)), before);
      assert.equal(rows(e), rowsBefore);
      rebuild(ALIAS);
      assert.ok(keyedByKey(e));
      assert.equal(lines(e.changesSince(0)), before);
      assert.equal(rows(e), rowsBefore);
      // And it goes on tracking: a write after the moves reads as one.
      e.db.exec(`UPDATE t SET b = 'after' WHERE id = 7`);
      assert.match(lines(e.changesSince(e.currentDbVersion() - 1)), /6166746572/); // 'after', packed
    } finally {
      e.db.close();
      other.db.close();
    }
  });
});
