/**
 * Set-based sealing: a run of log entries of one operation turned into clocks by a few SQL statements,
 * no row passing through JavaScript. Each function gives exactly the clocks (col_version, db_version,
 * site, seq) the pure rules of `rules.ts` would, replayed one entry at a time in log order (seal.ts's
 * general path), and returns undefined — with nothing changed — where a run needs what only the rules
 * do: a key not yet in the key map, a clock about to pass MAX_CLOCK (a rebase), a row deleted twice
 * in one run, a re-insert. seal.test.ts checks the equivalence on random workloads.
 *
 * Those cases are detected by the statements themselves, at no cost in the common case: they make a
 * NOT NULL column of the clock table NULL (a key not found, a clock that would overflow, a second
 * delete of a row), the statement fails, and its savepoint is rolled back.
 */
import { MAX_CLOCK } from './change.ts';
import { SENTINEL } from './schema.ts';
import { ident, literal, type SqliteConnection } from './sqlite.ts';
import type { CrrTable } from './table.ts';
import { logColumns, MASK_BITS } from './triggers.ts';

/** A run of consecutive log entries (by log seq, inclusive) with the same operation. */
export interface LogRun {
  op: number;
  lo: number;
  hi: number;
}

/** What a set-based run did: seqs used, and the counts for the history. */
export interface RunResult {
  seqs: number;
  rows: number;
  cells: number;
}

/** The log's entries as runs of one operation, in log order. */
export function logRuns(db: SqliteConnection, table: CrrTable): LogRun[] {
  const log = table.names.log;
  const stats = db.prepare(`SELECT min(seq) AS lo, max(seq) AS hi, min(op) AS minOp, max(op) AS maxOp FROM ${log}`).get() as Record<string, number | bigint | null>;
  if (stats.lo === null) return [];
  if (stats.minOp === stats.maxOp) return [{ op: Number(stats.minOp), lo: Number(stats.lo), hi: Number(stats.hi) }];
  const rows = db
    .prepare(
      `SELECT op, min(seq) AS lo, max(seq) AS hi FROM (
         SELECT seq, op, sum(edge) OVER (ORDER BY seq) AS run FROM (
           SELECT seq, op, CASE WHEN op IS lag(op) OVER (ORDER BY seq) THEN 0 ELSE 1 END AS edge FROM ${log}))
       GROUP BY run ORDER BY lo`,
    )
    .all() as { op: number | bigint; lo: number | bigint; hi: number | bigint }[];
  return rows.map((r) => ({ op: Number(r.op), lo: Number(r.lo), hi: Number(r.hi) }));
}

/** Runs `fn` in a savepoint; a NOT NULL failure (the statements' way of saying "not this case") rolls it back and gives undefined. */
function attempt<T>(db: SqliteConnection, fn: () => T): T | undefined {
  db.exec('SAVEPOINT ddcp_run');
  try {
    const r = fn();
    db.exec('RELEASE ddcp_run');
    return r;
  } catch (err) {
    db.exec('ROLLBACK TO ddcp_run');
    db.exec('RELEASE ddcp_run');
    const msg = (err as Error).message;
    if (/NOT NULL constraint failed|UNIQUE constraint failed/.test(msg)) return undefined;
    throw err;
  }
}

/** `p.k = l.k0 AND …`: a log entry's key against the key map. */
const keyJoin = (table: CrrTable): string => table.info.pks.map((p, i) => `p.${ident(p)} = l.k${i}`).join(' AND ');

/** The (column, position) list of the table's cells, as a VALUES list. */
function cellValues(table: CrrTable): string {
  return table.info.columns.map((c, i) => `(${literal(c)}, ${i})`).join(', ');
}

/** Whether column `i` is set in a log entry's change masks (SQL over alias `l`). */
function maskBit(i: number): string {
  return `((l.m${Math.floor(i / MASK_BITS)} >> ${i % MASK_BITS}) & 1)`;
}

/**
 * Inserts of rows never seen before (each once): keys and first clocks (col_version 1 for every
 * column, or the sentinel alone for a table without columns), in two INSERT … SELECTs.
 */
export function sealInsertRun(db: SqliteConnection, table: CrrTable, run: LogRun, version: number, seqBase: number): RunResult | undefined {
  const n = table.names;
  const { info } = table;
  const keys = info.pks.map((_, i) => `l.k${i}`).join(', ');
  const cells = info.columns.length > 0 ? info.columns : [SENTINEL];
  const width = cells.length;
  const values = cells.map((c, i) => `(${literal(c)}, ${i})`).join(', ');
  return attempt(db, () => {
    // Fails on a key already known (a re-insert) or inserted twice: then this isn't the simple case.
    db.prepare(`INSERT INTO ${n.pks} (${info.pks.map(ident).join(', ')}) SELECT ${keys} FROM ${n.log} l WHERE l.seq BETWEEN ? AND ? ORDER BY l.seq`).run(run.lo, run.hi);
    db.prepare(
      `INSERT INTO ${n.clock} (key, cid, col_version, db_version, site, seq)
       SELECT p.__key, c.column1, 1, ?, 0, ? + (l.seq - ?) * ${width} + c.column2
       FROM ${n.log} l CROSS JOIN ${n.pks} p ON ${keyJoin(table)} CROSS JOIN (VALUES ${values}) c
       WHERE l.seq BETWEEN ? AND ?`,
    ).run(BigInt(version), BigInt(seqBase), BigInt(run.lo), BigInt(run.lo), BigInt(run.hi));
    const rows = run.hi - run.lo + 1;
    return { seqs: rows * width, rows, cells: rows * info.columns.length };
  });
}

/**
 * Updates of known rows: every (entry, changed column) pair takes the next seq in log order
 * (columns in table order within an entry, as the rules stamp them); each cell ends with
 * col_version + the number of entries that changed it, and the seq of the last one.
 */
export function sealUpdateRun(db: SqliteConnection, table: CrrTable, run: LogRun, version: number, seqBase: number): RunResult | undefined {
  const { info, names: n } = table;
  if (info.columns.length === 0) return { seqs: 0, rows: 0, cells: 0 };
  const bits = info.columns.map((_, i) => maskBit(i));
  const tally = db.prepare(`SELECT coalesce(sum(b), 0) AS cells, coalesce(sum(b > 0), 0) AS rows FROM (SELECT ${bits.join(' + ')} AS b FROM ${n.log} l WHERE l.seq BETWEEN ? AND ?)`).get(run.lo, run.hi) as { cells: number | bigint; rows: number | bigint };
  const cells = Number(tally.cells);
  const rows = Number(tally.rows);
  if (cells === 0) return { seqs: 0, rows: 0, cells: 0 };
  const keys = info.pks.map((_, i) => `l.k${i}`);
  const bitOf = info.columns.length === 1 ? bits[0]! : `CASE c.column2 ${bits.map((b, i) => `WHEN ${i} THEN ${b}`).join(' ')} END`;
  const pairs = `SELECT ${keys.map((k, i) => `${k} AS k${i}`).join(', ')}, c.column1 AS cid, ? + row_number() OVER (ORDER BY l.seq, c.column2) - 1 AS pos
         FROM ${n.log} l CROSS JOIN (VALUES ${cellValues(table)}) c
         WHERE l.seq BETWEEN ? AND ? AND ${bitOf}`;
  const stamp = (sql: string, ...more: bigint[]): RunResult | undefined =>
    attempt(db, () => {
      db.prepare(sql).run(BigInt(version), BigInt(seqBase), run.lo, run.hi, ...more);
      return { seqs: cells, rows, cells };
    });
  // A key missing from the key map gives key NULL, a col_version past MAX_CLOCK gives NULL: both
  // fail. The common case first: each row once in the run, no grouping; a cell stamped twice in the
  // run (seq >= the run's first) fails it, and the grouped statement counts the entries per cell.
  return (
    stamp(
      `INSERT INTO ${n.clock} (key, cid, col_version, db_version, site, seq)
       SELECT p.__key, l.cid, 1, ?, 0, l.pos FROM (${pairs}) l LEFT JOIN ${n.pks} p ON ${keyJoin(table)}
       WHERE true
       ON CONFLICT (key, cid) DO UPDATE SET
         col_version = CASE WHEN db_version = excluded.db_version AND seq >= ? THEN NULL WHEN col_version < ${MAX_CLOCK} THEN col_version + 1 END,
         db_version = excluded.db_version, site = 0, seq = excluded.seq`,
      BigInt(seqBase),
    ) ??
    stamp(
      `INSERT INTO ${n.clock} (key, cid, col_version, db_version, site, seq)
       SELECT p.__key, l.cid, count(*), ?, 0, max(l.pos) FROM (${pairs}) l LEFT JOIN ${n.pks} p ON ${keyJoin(table)}
       GROUP BY p.__key, l.cid
       ON CONFLICT (key, cid) DO UPDATE SET
         col_version = CASE WHEN col_version <= ${MAX_CLOCK} - excluded.col_version THEN col_version + excluded.col_version END,
         db_version = excluded.db_version, site = 0, seq = excluded.seq`,
    )
  );
}

/**
 * Deletes of known rows (each once in the run): the sentinel steps to the next even causal length
 * (2 for a row known only by its cells), stamped with the entry's seq, and the cells' clocks go.
 */
export function sealDeleteRun(db: SqliteConnection, table: CrrTable, run: LogRun, version: number, seqBase: number): RunResult | undefined {
  const n = table.names;
  const rows = run.hi - run.lo + 1;
  return attempt(db, () => {
    // A missing key gives key NULL; a sentinel already stamped in this run (the row deleted twice) or
    // one that would pass MAX_CLOCK gives col_version NULL: all fail.
    db.prepare(
      `INSERT INTO ${n.clock} (key, cid, col_version, db_version, site, seq)
       SELECT p.__key, '${SENTINEL}', 2, ?, 0, ? + row_number() OVER (ORDER BY l.seq) - 1
       FROM ${n.log} l LEFT JOIN ${n.pks} p ON ${keyJoin(table)}
       WHERE l.seq BETWEEN ? AND ?
       ON CONFLICT (key, cid) DO UPDATE SET
         col_version = CASE WHEN db_version = excluded.db_version AND seq >= ? THEN NULL
                            WHEN col_version + 2 - (col_version & 1) > ${MAX_CLOCK} THEN NULL
                            ELSE col_version + 2 - (col_version & 1) END,
         db_version = excluded.db_version, site = 0, seq = excluded.seq`,
    ).run(BigInt(version), BigInt(seqBase), run.lo, run.hi, BigInt(seqBase));
    db.prepare(`DELETE FROM ${n.clock} WHERE cid <> '${SENTINEL}' AND key IN (SELECT p.__key FROM ${n.log} l CROSS JOIN ${n.pks} p ON ${keyJoin(table)} WHERE l.seq BETWEEN ? AND ?)`).run(run.lo, run.hi);
    return { seqs: rows, rows, cells: 0 };
  });
}

/** Log columns to read for the general path (op, keys, old keys, masks). */
export function logSelect(table: CrrTable): string {
  const lc = logColumns(table.info);
  return `SELECT ${['op', ...lc.keys, ...lc.oldKeys, ...lc.masks].join(', ')} FROM ${table.names.log} WHERE seq BETWEEN ? AND ? ORDER BY seq`;
}
