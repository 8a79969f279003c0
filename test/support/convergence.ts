/**
 * The random writes of the convergence property tests (test/convergence.test.ts on engines,
 * test/hub-convergence.test.ts through a hub): three CRR tables with awkward keys and values (64-bit
 * extremes, INTEGER 2 beside REAL 2.0, text, blobs, NULL), and the writes replicas make to them —
 * inserts (OR IGNORE / OR REPLACE), updates, deletes, resurrections, primary-key changes.
 */
import fc from 'fast-check';
import { binaryString } from './binary-string.ts';
import type { Engine } from '../../src/engine/engine.ts';
import type { SqlValue } from '../../src/engine/sqlite.ts';

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

export const SCHEMA = `
CREATE TABLE items (id INTEGER PRIMARY KEY NOT NULL, a, b, c TEXT, d REAL DEFAULT 0);
CREATE TABLE pairs (g TEXT NOT NULL, n INTEGER NOT NULL, v, w BLOB, PRIMARY KEY (g, n)) WITHOUT ROWID;
CREATE TABLE tags (k TEXT PRIMARY KEY NOT NULL);
`;
export const TABLES: Record<string, { pks: string[]; cols: string[] }> = {
  items: { pks: ['id'], cols: ['a', 'b', 'c', 'd'] },
  pairs: { pks: ['g', 'n'], cols: ['v', 'w'] },
  tags: { pks: ['k'], cols: [] },
};

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A value with its exact type: INTEGER, REAL (sign of zero included), TEXT, BLOB, NULL. */
export function repr(v: unknown): string {
  if (v === null) return 'NULL';
  if (typeof v === 'bigint') return `int ${v}`;
  if (typeof v === 'number') return `real ${Object.is(v, -0) ? '-0' : String(v)}`;
  if (typeof v === 'string') return `text ${JSON.stringify(v)}`;
  if (v instanceof Uint8Array) return `blob x'${hex(v)}'`;
  return `?? ${typeof v} ${String(v)}`;
}

export const valueArb: fc.Arbitrary<SqlValue> = fc.oneof(
  // INTEGER 2 and REAL 2.0 are different values (and must stay so on every replica) that SQL's `=`
  // calls equal: give them extra weight.
  { weight: 2, arbitrary: fc.constantFrom<SqlValue>(2n, 2.0) },
  {
    weight: 6,
    arbitrary: fc.constantFrom<SqlValue>(
      null, 0n, 2n, -1n, 2n ** 53n + 1n, INT64_MAX, INT64_MIN, 2.0, 0.5, -1.25, 1e300, '', 'a', 'é', '2', '日本',
      new Uint8Array(0), new Uint8Array([0]), new Uint8Array([1, 2]),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
      fc.double({ noNaN: true }).filter((d) => !Object.is(d, -0)), // NaN is stored as NULL; -0: see the tests below
      binaryString({ maxLength: 5 }),
      fc.uint8Array({ maxLength: 5 }),
    ),
  },
);

// Few keys, so that replicas often write the same rows concurrently.
export const itemKey = fc.constantFrom(1n, 2n ** 53n + 1n, INT64_MIN, INT64_MAX);
export const pairKey = fc.tuple(fc.constantFrom('', 'é'), fc.constantFrom(0n, 2n ** 62n));
export const tagKey = fc.constantFrom('a', '日本');

export type Write =
  | { t: 'items'; k: 'insert'; id: bigint; vals: SqlValue[]; or: 'IGNORE' | 'REPLACE' }
  | { t: 'items'; k: 'update'; id: bigint; sets: [string, SqlValue][] }
  | { t: 'items'; k: 'delete'; id: bigint }
  | { t: 'items'; k: 'resurrect'; id: bigint; vals: SqlValue[]; seal: boolean }
  | { t: 'items'; k: 'rekey'; id: bigint; to: bigint }
  | { t: 'pairs'; k: 'insert'; key: [string, bigint]; vals: SqlValue[]; or: 'IGNORE' | 'REPLACE' }
  | { t: 'pairs'; k: 'update'; key: [string, bigint]; sets: [string, SqlValue][] }
  | { t: 'pairs'; k: 'delete'; key: [string, bigint] }
  | { t: 'pairs'; k: 'resurrect'; key: [string, bigint]; vals: SqlValue[]; seal: boolean }
  | { t: 'tags'; k: 'insert'; key: string; or: 'IGNORE' | 'REPLACE' }
  | { t: 'tags'; k: 'delete'; key: string };

export const vals = (n: number): fc.Arbitrary<SqlValue[]> => fc.array(valueArb, { minLength: n, maxLength: n });
export const sets = (cols: string[]): fc.Arbitrary<[string, SqlValue][]> =>
  fc.uniqueArray(fc.tuple(fc.constantFrom(...cols), valueArb), { minLength: 1, maxLength: cols.length, selector: (s) => s[0] });
export const or = fc.constantFrom<'IGNORE' | 'REPLACE'>('IGNORE', 'REPLACE');

export const writeArb: fc.Arbitrary<Write> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('items' as const), k: fc.constant('insert' as const), id: itemKey, vals: vals(4), or }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('items' as const), k: fc.constant('update' as const), id: itemKey, sets: sets(TABLES.items!.cols) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('items' as const), k: fc.constant('delete' as const), id: itemKey }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('items' as const), k: fc.constant('resurrect' as const), id: itemKey, vals: vals(4), seal: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('items' as const), k: fc.constant('rekey' as const), id: itemKey, to: itemKey }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('pairs' as const), k: fc.constant('insert' as const), key: pairKey, vals: vals(2), or }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('pairs' as const), k: fc.constant('update' as const), key: pairKey, sets: sets(TABLES.pairs!.cols) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('pairs' as const), k: fc.constant('delete' as const), key: pairKey }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('pairs' as const), k: fc.constant('resurrect' as const), key: pairKey, vals: vals(2), seal: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('tags' as const), k: fc.constant('insert' as const), key: tagKey, or }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('tags' as const), k: fc.constant('delete' as const), key: tagKey }) },
);

export function write(e: Engine, w: Write): void {
  const run = (sql: string, ...params: SqlValue[]): void => void e.db.prepare(sql).run(...params);
  switch (w.t) {
    case 'items':
      switch (w.k) {
        case 'insert':
          return run(`INSERT OR ${w.or} INTO items (id, a, b, c, d) VALUES (?, ?, ?, ?, ?)`, w.id, ...w.vals);
        case 'update': {
          const sets = w.sets;
          if (sets.length === 0) return;
          return run(`UPDATE items SET ${sets.map(([c]) => `${c} = ?`).join(', ')} WHERE id = ?`, ...sets.map((s) => s[1]), w.id);
        }
        case 'delete':
          return run('DELETE FROM items WHERE id = ?', w.id);
        case 'resurrect':
          run('DELETE FROM items WHERE id = ?', w.id);
          if (w.seal) e.seal();
          return run('INSERT INTO items (id, a, b, c, d) VALUES (?, ?, ?, ?, ?)', w.id, ...w.vals);
        case 'rekey':
          return run('UPDATE OR IGNORE items SET id = ? WHERE id = ?', w.to, w.id);
      }
      break;
    case 'pairs':
      switch (w.k) {
        case 'insert':
          return run(`INSERT OR ${w.or} INTO pairs (g, n, v, w) VALUES (?, ?, ?, ?)`, ...w.key, ...w.vals);
        case 'update': {
          const sets = w.sets;
          if (sets.length === 0) return;
          return run(`UPDATE pairs SET ${sets.map(([c]) => `${c} = ?`).join(', ')} WHERE g = ? AND n = ?`, ...sets.map((s) => s[1]), ...w.key);
        }
        case 'delete':
          return run('DELETE FROM pairs WHERE g = ? AND n = ?', ...w.key);
        case 'resurrect':
          run('DELETE FROM pairs WHERE g = ? AND n = ?', ...w.key);
          if (w.seal) e.seal();
          return run('INSERT INTO pairs (g, n, v, w) VALUES (?, ?, ?, ?)', ...w.key, ...w.vals);
      }
      break;
    case 'tags':
      if (w.k === 'insert') return run(`INSERT OR ${w.or} INTO tags (k) VALUES (?)`, w.key);
      return run('DELETE FROM tags WHERE k = ?', w.key);
  }
}

/**
 * A step of the read-path property tests (src/engine/changes.test.ts, test/changes-lines.test.ts): a
 * random write, an update of many rows in one statement (sealed set-based, as row clocks or
 * overrides), a seal, or a merge cut into chunks in either order (other rows' cells land between a
 * row clock's seqs).
 */
export type Op =
  | { k: 'write'; r: number; w: Write }
  | { k: 'bulk'; r: number; sets: [string, SqlValue][] }
  | { k: 'seal'; r: number }
  | { k: 'sync'; from: number; to: number; chunk: number; reverse: boolean };

/** Random {@link Op}s over `replicas` replicas. */
export function opArb(replicas: number): fc.Arbitrary<Op> {
  const replica = fc.nat(replicas - 1);
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ k: fc.constant('write' as const), r: replica, w: writeArb }) },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant('bulk' as const),
        r: replica,
        sets: fc.uniqueArray(fc.tuple(fc.constantFrom(...TABLES.items!.cols), valueArb), { minLength: 1, maxLength: 4, selector: (s) => s[0] }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('seal' as const), r: replica }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('sync' as const), from: replica, to: replica, chunk: fc.integer({ min: 1, max: 5 }), reverse: fc.boolean() }) },
  );
}

/** Runs `op` on `replicas`. */
export function runOp(replicas: Engine[], op: Op): void {
  switch (op.k) {
    case 'write':
      return write(replicas[op.r]!, op.w);
    case 'bulk': {
      const e = replicas[op.r]!;
      e.db.exec('INSERT OR IGNORE INTO items (id, a) VALUES (10, 1), (11, 2), (12, 3)');
      e.db.prepare(`UPDATE items SET ${op.sets.map(([c]) => `${c} = ?`).join(', ')}`).run(...op.sets.map((s) => s[1]));
      return;
    }
    case 'seal':
      return void replicas[op.r]!.seal();
    case 'sync': {
      if (op.from === op.to) return;
      const from = replicas[op.from]!;
      const all = [...from.changesSince(0)];
      if (op.reverse) all.reverse();
      for (let i = 0; i < all.length; i += op.chunk) replicas[op.to]!.applyChanges(all.slice(i, i + op.chunk), { direct: from.siteId });
    }
  }
}
