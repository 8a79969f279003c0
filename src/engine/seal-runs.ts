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
 *
 * A run whose entries name one ascending stretch of the key map (keyStretch: a bulk write over rows
 * written in order) is written by range over the key map's own key, which SQLite does in one pass.
 */
import { MAX_CLOCK } from './change.ts';
import { hasOverrides } from './changes.ts';
import { decodeKeysSql, K, positions, startReencode, writeEncoded } from './layout.ts';
import { ident, literal, type SqliteConnection, type Statement } from './sqlite.ts';
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

/** The statements of {@link logRuns} for a table, prepared once per connection (every seal and merge runs them). */
interface LogStatements {
  db: SqliteConnection;
  ends: Statement;
  first: Statement;
  mixed: Statement;
}
const logStatements = new WeakMap<CrrTable, LogStatements>();

function logStatementsOf(db: SqliteConnection, table: CrrTable): LogStatements {
  let s = logStatements.get(table);
  if (s === undefined || s.db !== db) {
    const log = table.names.log;
    s = {
      db,
      ends: db.prepare(`SELECT (SELECT min(seq) FROM ${log}) AS lo, (SELECT max(seq) FROM ${log}) AS hi`),
      first: db.prepare(`SELECT op FROM ${log} WHERE seq = ?`),
      mixed: db.prepare(`SELECT EXISTS (SELECT 1 FROM ${log} WHERE op IS NOT ?) AS m`),
    };
    logStatements.set(table, s);
  }
  return s;
}

/** The log's entries as runs of one operation, in log order. */
export function logRuns(db: SqliteConnection, table: CrrTable): LogRun[] {
  const log = table.names.log;
  const stmts = logStatementsOf(db, table);
  // The ends by the rowid (no scan), then one scan with a single comparison and no aggregate for
  // whether the whole log is one operation, the common case.
  const ends = stmts.ends.get() as { lo: number | bigint | null; hi: number | bigint | null };
  if (ends.lo === null || ends.hi === null) return [];
  const first = stmts.first.get(ends.lo) as { op: number | bigint | null };
  const mixed = stmts.mixed.get(first.op) as { m: number | bigint };
  if (Number(mixed.m) === 0) return [{ op: Number(first.op), lo: Number(ends.lo), hi: Number(ends.hi) }];
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

/** Thrown inside {@link attempt} when a run turns out to need the rules. */
class NotThisCase extends Error {}

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
    if (err instanceof NotThisCase) return undefined;
    const msg = (err as Error).message;
    if (/NOT NULL constraint failed|UNIQUE constraint failed/.test(msg)) return undefined;
    throw err;
  }
}

/** `p.k = l.k0 AND …`: a log entry's key against the key map. */
const keyJoin = (table: CrrTable): string => table.info.pks.map((p, i) => `p.${table.names.pkCol(p)} = l.k${i}`).join(' AND ');

/** Whether column `i` is set in a log entry's change masks (SQL over alias `l`). */
function maskBit(i: number): string {
  return `((l.m${Math.floor(i / MASK_BITS)} >> ${i % MASK_BITS}) & 1)`;
}

/** Runs of fresh inserts at least this long are looked at for the order of their keys ({@link insertOrder}). */
const ORDER_MIN = 1024;
/** Keys {@link insertOrder} samples from a run. */
const ORDER_SAMPLES = 32;

/**
 * The order in which a run of fresh inserts is written into the key map: the log's (`log`), or the
 * keys' (`key`). Both store the same rows — each row's clock comes from its entry's place in the log,
 * not from the order of writing — but a key map keyed by the rowid alias is a B-tree over the keys:
 * keys written in log order that are scattered over a key map already larger than the page cache
 * land each on a page of their own (642 against 290 ms for 100,000 random keys into 1,000,000,
 * 312 against 191 into 100,000, measured), while in key order they are one pass, and the
 * (db_version, seq) index's new entries all go to its end either way. Sorting costs ~15–20 ms per
 * 100,000 entries, so it is done only where it pays: keys not ascending in log order (a sample of
 * them: an app that inserts in key order, the bench, is left alone) and a key map already holding at
 * least a quarter as many rows as the run (into an empty one, log order is cheaper: 107 against 125
 * ms). A numbered key map gives its rows their numbers in the order written: always log order.
 */
export function insertOrder(db: SqliteConnection, table: CrrTable, run: LogRun): 'log' | 'key' {
  const n = table.names;
  const rows = run.hi - run.lo + 1;
  if (!n.rowidKeyed || rows < ORDER_MIN) return 'log';
  const at = Array.from({ length: ORDER_SAMPLES + 1 }, (_, i) => run.lo + Math.floor(((run.hi - run.lo) * i) / ORDER_SAMPLES));
  const sample = db.prepare(`SELECT k0 FROM ${n.log} WHERE seq IN (${at.join(', ')}) ORDER BY seq`);
  sample.setReadBigInts(true);
  sample.setReturnArrays(true);
  const keys = (sample.all() as [bigint | null][]).map((r) => r[0]);
  let ascending = true;
  for (let i = 1; i < keys.length && ascending; i++) {
    const a = keys[i - 1];
    const b = keys[i];
    ascending = typeof a === 'bigint' && typeof b === 'bigint' && a < b;
  }
  if (ascending) return 'log';
  const enough = Math.ceil(rows / 4);
  const held = db.prepare(`SELECT count(*) AS n FROM (SELECT 1 FROM ${n.pks} LIMIT ?)`).get(enough) as { n: number | bigint };
  return Number(held.n) >= enough ? 'key' : 'log';
}

/**
 * Inserts of rows never seen before (each once): the key map rows with their first clocks — a row
 * clock with col_version 1 standing for every column (layout.ts), or for a table without columns no
 * clock but the sentinel (causal length 1, in the sentinels table) — in one INSERT … SELECT each, in
 * the order {@link insertOrder} picks.
 */
export function sealInsertRun(db: SqliteConnection, table: CrrTable, run: LogRun, version: number, seqBase: number): RunResult | undefined {
  const n = table.names;
  const { info } = table;
  const keys = info.pks.map((_, i) => `l.k${i}`).join(', ');
  const width = Math.max(info.columns.length, 1);
  const order = insertOrder(db, table, run) === 'key' ? 'l.k0' : 'l.seq';
  const target = n.rowidKeyed ? '__key' : info.pks.map(ident).join(', ');
  return attempt(db, () => {
    // Fails on a key already known (a re-insert) or inserted twice: then this isn't the simple case.
    if (info.columns.length > 0) {
      db.prepare(
        `INSERT INTO ${n.pks} (${target}, ${K.cv}, ${K.dbv}, ${K.site}, ${K.seq})
         SELECT ${keys}, 1, ?, 0, ? + (l.seq - ?) * ${width} FROM ${n.log} l WHERE l.seq BETWEEN ? AND ? ORDER BY ${order}`,
      ).run(BigInt(version), BigInt(seqBase), BigInt(run.lo), BigInt(run.lo), BigInt(run.hi));
    } else {
      db.prepare(`INSERT INTO ${n.pks} (${target}) SELECT ${keys} FROM ${n.log} l WHERE l.seq BETWEEN ? AND ? ORDER BY ${order}`).run(BigInt(run.lo), BigInt(run.hi));
      db.prepare(
        `INSERT INTO ${n.sentinels} (key, cl, db_version, site, seq)
         SELECT p.__key, 1, ?, 0, ? + (l.seq - ?) FROM ${n.log} l CROSS JOIN ${n.pks} p ON ${keyJoin(table)} WHERE l.seq BETWEEN ? AND ? ORDER BY p.__key`,
      ).run(BigInt(version), BigInt(seqBase), BigInt(run.lo), BigInt(run.lo), BigInt(run.hi));
    }
    const rows = run.hi - run.lo + 1;
    return { seqs: rows * width, rows, cells: rows * info.columns.length };
  });
}

/**
 * Updates of known rows: every (entry, changed column) pair takes the next seq in log order
 * (columns in table order within an entry, as the rules stamp them); each cell ends with
 * col_version + the number of entries that changed it, and the seq of the last one. The rows'
 * clocks are decoded, stepped and encoded again (layout.ts), all set-based.
 */
export function sealUpdateRun(db: SqliteConnection, table: CrrTable, run: LogRun, version: number, seqBase: number): RunResult | undefined {
  const { info, names: n } = table;
  if (info.columns.length === 0) return { seqs: 0, rows: 0, cells: 0 };
  const overrides = hasOverrides(db, table);
  const uniform = overrides ? undefined : uniformUpdate(db, table, run, version, seqBase);
  if (uniform) return uniform;
  const bits = info.columns.map((_, i) => maskBit(i));
  const tally = db.prepare(`SELECT coalesce(sum(b), 0) AS cells, coalesce(sum(b > 0), 0) AS rows FROM (SELECT ${bits.join(' + ')} AS b FROM ${n.log} l WHERE l.seq BETWEEN ? AND ?)`).get(run.lo, run.hi) as { cells: number | bigint; rows: number | bigint };
  const cells = Number(tally.cells);
  const rows = Number(tally.rows);
  if (cells === 0) return { seqs: 0, rows: 0, cells: 0 };
  const keys = info.pks.map((_, i) => `l.k${i}`);
  const bitOf = info.columns.length === 1 ? bits[0]! : `CASE c.column2 ${bits.map((b, i) => `WHEN ${i} THEN ${b}`).join(' ')} END`;
  const pairs = `SELECT ${keys.map((k, i) => `${k} AS k${i}`).join(', ')}, c.column1 AS cid, c.column2 AS cpos, ? + row_number() OVER (ORDER BY l.seq, c.column2) - 1 AS pos
         FROM ${n.log} l CROSS JOIN (VALUES ${positions(info.columns)}) c
         WHERE l.seq BETWEEN ? AND ? AND ${bitOf}`;
  const width = info.columns.length;
  // Another common case, written straight: each row once in the run, its cells all on its row clock, and
  // the entry changing fewer than half its columns (they become overrides and the row clock stays the
  // largest group) or all of them (they become the new row clock). Anything else is re-encoded.
  const fast = db
    .prepare(
      `SELECT count(*) = count(p.${K.cv}) AND count(DISTINCT p.__key) = count(*) AND coalesce(max(p.${K.cv}), 0) < ${MAX_CLOCK}
         AND coalesce(max(l.b * 2 >= ${width} AND l.b < ${width}), 0) = 0
         ${overrides ? `AND NOT EXISTS (SELECT 1 FROM ${n.cells} o WHERE o.key IN (SELECT p.__key FROM ${n.log} l CROSS JOIN ${n.pks} p ON ${keyJoin(table)} WHERE l.seq BETWEEN ? AND ?))` : ''} AS ok,
         coalesce(sum(l.b = ${width}), 0) AS whole
       FROM (SELECT l.*, ${bits.join(' + ')} AS b FROM ${n.log} l WHERE l.seq BETWEEN ? AND ?) l LEFT JOIN ${n.pks} p ON ${keyJoin(table)}`,
    )
    .get(...(overrides ? [run.lo, run.hi] : []), run.lo, run.hi) as { ok: number | bigint; whole: number | bigint };
  if (Number(fast.ok) === 1) {
    const whole = Number(fast.whole);
    const done = attempt(db, () => {
      if (whole > 0) db.prepare(
        `UPDATE ${n.pks} AS p SET ${K.cv} = p.${K.cv} + 1, ${K.dbv} = ?, ${K.site} = 0, ${K.seq} = e.start
         FROM (SELECT ${keys.map((k, i) => `${k} AS k${i}`).join(', ')}, b, ? + sum(b) OVER (ORDER BY l.seq ROWS UNBOUNDED PRECEDING) - b AS start
               FROM (SELECT l.*, ${bits.join(' + ')} AS b FROM ${n.log} l WHERE l.seq BETWEEN ? AND ?) l) e
         WHERE e.b = ${width} AND ${info.pks.map((pk, i) => `p.${n.pkCol(pk)} = e.k${i}`).join(' AND ')}`,
      ).run(BigInt(version), BigInt(seqBase), run.lo, run.hi);
      if (whole < rows) db.prepare(
        `INSERT INTO ${n.cells} (key, cid, col_version, db_version, site, seq)
         SELECT p.__key, l.cid, p.${K.cv} + 1, ?, 0, l.pos FROM (${pairs}) l CROSS JOIN ${n.pks} p ON ${keyJoin(table)}
         WHERE p.${K.dbv} IS NOT ? OR p.${K.seq} < ?`,
      ).run(BigInt(version), BigInt(seqBase), run.lo, run.hi, BigInt(version), BigInt(seqBase));
      return { seqs: cells, rows, cells };
    });
    if (done) return done;
  }
  return attempt(db, () => {
    startReencode(db);
    // Per changed cell: how many entries changed it, and the seq of the last. A key missing from the
    // key map gives key NULL: the run fails.
    db.exec(`CREATE TEMP TABLE IF NOT EXISTS ddcp_layout_steps (key INTEGER NOT NULL, pos INTEGER NOT NULL, cid TEXT NOT NULL, n INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (key, pos)) WITHOUT ROWID; DELETE FROM temp.ddcp_layout_steps;`);
    db.prepare(
      `INSERT INTO temp.ddcp_layout_steps (key, pos, cid, n, seq)
       SELECT p.__key, l.cpos, l.cid, count(*), max(l.pos) FROM (${pairs}) l LEFT JOIN ${n.pks} p ON ${keyJoin(table)}
       GROUP BY p.__key, l.cpos`,
    ).run(BigInt(seqBase), run.lo, run.hi);
    db.exec(`INSERT INTO temp.ddcp_layout_keys (key) SELECT DISTINCT key FROM temp.ddcp_layout_steps`);
    db.exec(decodeKeysSql(info, n));
    // A col_version that would pass MAX_CLOCK gives cv NULL: the run fails (the rules rebase).
    db.prepare(
      `INSERT INTO temp.ddcp_layout_cells (key, pos, cid, cv, dbv, site, seq)
       SELECT key, pos, cid, CASE WHEN n <= ${MAX_CLOCK} THEN n END, ?, 0, seq FROM temp.ddcp_layout_steps WHERE true
       ON CONFLICT (key, pos) DO UPDATE SET cv = CASE WHEN cv <= ${MAX_CLOCK} - excluded.cv THEN cv + excluded.cv END, dbv = excluded.dbv, site = 0, seq = excluded.seq`,
    ).run(BigInt(version));
    writeEncoded(db, info, n);
    startReencode(db);
    return { seqs: cells, rows, cells };
  });
}

/**
 * Updates that all change the same columns, of rows with no overrides in a table with none (one
 * UPDATE statement over many rows): fewer than half the columns become overrides with one INSERT,
 * all of them the new row clock with one UPDATE — the row clock stays, or becomes, the largest group.
 * A missing key, a row twice in the run or a clock at MAX_CLOCK changes fewer rows than the run has
 * (or gives NULL where it can't be): then undefined, nothing changed. Its own look at the masks
 * tells the counts, so the general tally of changed cells is not needed.
 */
function uniformUpdate(db: SqliteConnection, table: CrrTable, run: LogRun, version: number, seqBase: number): RunResult | undefined {
  const { info, names: n } = table;
  const { masks } = logColumns(info);
  // Keyed by the rowid alias, the entry-by-entry look at a stretch (keyStretch) is made by the same
  // scan of the log as the masks' (one pass instead of two: ~5 ms per 100,000 entries).
  const ends = n.rowidKeyed ? rowidStretchEnds(db, table, run) : undefined;
  const m = db.prepare(
    `SELECT count(*), ${masks.map((c) => `min(${c}) = max(${c}), max(${c})`).join(', ')}, ${ends ? 'coalesce(sum(k0 = seq - ?3), 0)' : '0'}
     FROM ${n.log} WHERE seq BETWEEN ?1 AND ?2`,
  );
  m.setReadBigInts(true);
  m.setReturnArrays(true);
  const r = (ends ? m.get(run.lo, run.hi, stretchOffset(run, ends)) : m.get(run.lo, run.hi)) as (bigint | null)[];
  const rows = run.hi - run.lo + 1;
  if (Number(r[0]) !== rows) return undefined;
  const changed: number[] = [];
  for (let i = 0; i < masks.length; i++) {
    if (r[1 + 2 * i] !== 1n) return undefined;
    const mask = r[2 + 2 * i] ?? 0n;
    for (let b = 0; b < MASK_BITS; b++) if ((mask >> BigInt(b)) & 1n) changed.push(i * MASK_BITS + b);
  }
  const k = changed.length;
  // Every entry changed nothing: nothing to stamp (as the tally would find).
  if (k === 0) return { seqs: 0, rows: 0, cells: 0 };
  const width = info.columns.length;
  if (!(k * 2 < width || k === width)) return undefined;
  const cells = k * rows;
  const join = keyJoin(table);
  const range = n.rowidKeyed ? (ends && Number(r[1 + 2 * masks.length]) === rows ? ends : undefined) : keyStretch(db, table, run);
  // Over a stretch of the key map (keyStretch) the entry for row p has seq run.lo + (p.__key - range.lo).
  const at = range ? `(p.__key - (${range.lo}))` : `(l.seq - ${run.lo})`;
  const from = range ? `${n.pks} p` : `${n.log} l CROSS JOIN ${n.pks} p ON ${join}`;
  const where = range ? `p.__key BETWEEN (${range.lo}) AND (${range.hi})` : `l.seq BETWEEN ${run.lo} AND ${run.hi}`;
  // One changed column (the common update) is named in the SELECT itself: a one-row VALUES list
  // joined to every row is an ephemeral table SQLite scans once per row.
  const cid = k === 1 ? literal(info.columns[changed[0]!]!) : 'c.column1';
  const cpos = k === 1 ? '' : ' + c.column2';
  const cross = k === 1 ? '' : ` CROSS JOIN (VALUES ${changed.map((c, j) => `(${literal(info.columns[c]!)}, ${j})`).join(', ')}) c`;
  return attempt(db, () => {
    if (k === width) {
      const done = db
        .prepare(
          range
            ? `UPDATE ${n.pks} AS p SET ${K.cv} = p.${K.cv} + 1, ${K.dbv} = ?, ${K.site} = 0, ${K.seq} = ? + ${at} * ${width}
               WHERE ${where} AND p.${K.cv} < ${MAX_CLOCK}`
            : `UPDATE ${n.pks} AS p SET ${K.cv} = p.${K.cv} + 1, ${K.dbv} = ?, ${K.site} = 0, ${K.seq} = ? + ${at} * ${width}
               FROM ${n.log} l WHERE ${where} AND ${join} AND p.${K.cv} < ${MAX_CLOCK}`,
        )
        .run(BigInt(version), BigInt(seqBase));
      if (Number(done.changes) !== rows) throw new NotThisCase();
    } else {
      const done = db
        .prepare(
          `INSERT INTO ${n.cells} (key, cid, col_version, db_version, site, seq)
           SELECT p.__key, ${cid}, p.${K.cv} + 1, CASE WHEN p.${K.cv} < ${MAX_CLOCK} THEN ? END, 0, ? + ${at} * ${k}${cpos}
           FROM ${from}${cross}
           WHERE ${where}`,
        )
        .run(BigInt(version), BigInt(seqBase));
      if (Number(done.changes) !== cells) throw new NotThisCase();
    }
    return { seqs: cells, rows, cells };
  });
}

/** The key-map rows a stretch covers: keys `lo`…`hi`, one per entry of its run, in order. */
interface Stretch {
  lo: bigint;
  hi: bigint;
}

/**
 * The key-map rows a run's entries name when they are one ascending stretch — the entry at seq
 * `run.lo + i` naming row `lo + i`, every entry found — as a bulk write over rows written together,
 * in order, makes (an app's `DELETE … WHERE` or `UPDATE … WHERE` over a range of a table filled in
 * key order). Statements given the stretch address the key map by its own key, a range SQLite walks
 * in one pass, instead of joining the log to it through the key index: a join makes an UPDATE or
 * DELETE gather its rows first and write them in a second pass (twice the CPU, measured). Undefined
 * otherwise; the run's two ends are looked at first, so a run of scattered keys costs two lookups.
 *
 * For a key map keyed by the rowid alias only the log is looked at ({@link rowidStretchEnds}): the
 * stretch's `run.hi − run.lo + 1` consecutive integer keys are then all in the key map exactly when a
 * statement over the range meets that many rows, which every caller's statement counts (and throws
 * {@link NotThisCase} otherwise) — so a missing key still sends the run to the join or the rules.
 */
function keyStretch(db: SqliteConnection, table: CrrTable, run: LogRun): Stretch | undefined {
  const n = table.names;
  const rows = run.hi - run.lo + 1;
  if (n.rowidKeyed) {
    const ends = rowidStretchEnds(db, table, run);
    if (!ends) return undefined;
    const r = db.prepare(`SELECT count(*) AS n FROM ${n.log} WHERE seq BETWEEN ? AND ? AND k0 = seq - ?`).get(run.lo, run.hi, stretchOffset(run, ends)) as { n: number | bigint };
    return Number(r.n) === rows ? ends : undefined;
  }
  // Keys as bigints: a key map keyed by the rowid alias holds any 64-bit key.
  const at = db.prepare(`SELECT p.__key AS k FROM ${n.log} l CROSS JOIN ${n.pks} p ON ${keyJoin(table)} WHERE l.seq = ?`);
  at.setReadBigInts(true);
  const first = at.get(run.lo) as { k: bigint } | undefined;
  const last = at.get(run.hi) as { k: bigint } | undefined;
  if (!first || !last || last.k - first.k !== BigInt(rows - 1)) return undefined;
  // Keys this negative would put the offsets from a key to its seq (here and in the callers) past
  // 64 bits: no stretch, the join instead.
  if (first.k < -(1n << 62n)) return undefined;
  const offset = BigInt(run.lo) - first.k;
  // Each row of the stretch against the entry at its place (both looked up by their own keys).
  const r = db
    .prepare(`SELECT count(*) AS n FROM ${n.pks} p CROSS JOIN ${n.log} l ON l.seq = p.__key + ? WHERE p.__key BETWEEN ? AND ? AND ${keyJoin(table)}`)
    .get(offset, first.k, last.k) as { n: number | bigint };
  if (Number(r.n) !== rows) return undefined;
  return { lo: first.k, hi: last.k };
}

/** The entry at seq `s` of a run over stretch `ends` names key `s − offset`. */
const stretchOffset = (run: LogRun, ends: Stretch): bigint => BigInt(run.lo) - ends.lo;

/**
 * For a key map keyed by the rowid alias: the keys the run's first and last entries name, read from
 * the log alone (the log's `k0` is the rowid, an integer), when they are `run.hi − run.lo` apart —
 * the stretch the run may be, to be checked entry by entry (`k0 = seq − offset`) and by the callers'
 * counts over the key map ({@link keyStretch}).
 */
function rowidStretchEnds(db: SqliteConnection, table: CrrTable, run: LogRun): Stretch | undefined {
  const at = db.prepare(`SELECT k0 FROM ${table.names.log} WHERE seq = ?`);
  at.setReadBigInts(true);
  const first = (at.get(run.lo) as { k0: unknown } | undefined)?.k0;
  const last = (at.get(run.hi) as { k0: unknown } | undefined)?.k0;
  if (typeof first !== 'bigint' || typeof last !== 'bigint' || last - first !== BigInt(run.hi - run.lo)) return undefined;
  // Keys this negative would put the offsets from a key to its seq (here and in the callers) past
  // 64 bits: no stretch, the join instead.
  if (first < -(1n << 62n)) return undefined;
  return { lo: first, hi: last };
}

/**
 * Deletes of known rows (each once in the run): the sentinel steps to the next even causal length
 * (2 for a row known only by its cells), stamped with the entry's seq, and the cells' clocks go —
 * the row clock's col_version made NULL, its (db_version, site, seq) left as they were (layout.ts:
 * ignored without a col_version), so that its entry in the key map's (db_version, seq) index stays
 * where it is instead of being deleted row by row (~20 ms per 100,000 rows, measured), and the
 * overrides deleted. The sentinels are written to their own table (layout.ts), a row each, in key
 * order: appended when the rows had none.
 */
export function sealDeleteRun(db: SqliteConnection, table: CrrTable, run: LogRun, version: number, seqBase: number): RunResult | undefined {
  const n = table.names;
  const rows = run.hi - run.lo + 1;
  const range = keyStretch(db, table, run);
  const next = `coalesce(s.cl, 0) + 2 - (coalesce(s.cl, 0) & 1)`;
  const upsert = `ON CONFLICT (key) DO UPDATE SET cl = excluded.cl, db_version = excluded.db_version, site = excluded.site, seq = excluded.seq`;
  return attempt(db, () => {
    if (range) {
      // The entry for row k has seq run.lo + (k - range.lo). A key missing from the stretch updates
      // fewer rows than the run has, as does a sentinel that would pass MAX_CLOCK: the rules' case.
      const cleared = db.prepare(`UPDATE ${n.pks} SET ${K.cv} = NULL WHERE __key BETWEEN ? AND ?`).run(range.lo, range.hi);
      if (Number(cleared.changes) !== rows) throw new NotThisCase();
      // Rows never deleted before (the common case) have no sentinel yet: theirs is 2, appended
      // without a lookup or an upsert's conflict check.
      const fresh = db.prepare(`SELECT NOT EXISTS (SELECT 1 FROM ${n.sentinels} WHERE key BETWEEN ? AND ?) AS fresh`).get(range.lo, range.hi) as { fresh: number | bigint };
      const done = db
        .prepare(
          Number(fresh.fresh) === 1
            ? `INSERT INTO ${n.sentinels} (key, cl, db_version, site, seq) SELECT __key, 2, ?, 0, __key + ? FROM ${n.pks} WHERE __key BETWEEN ? AND ?`
            : `INSERT INTO ${n.sentinels} (key, cl, db_version, site, seq)
           SELECT p.__key, ${next}, ?, 0, p.__key + ? FROM ${n.pks} p LEFT JOIN ${n.sentinels} s ON s.key = p.__key
           WHERE p.__key BETWEEN ? AND ? AND ${next} <= ${MAX_CLOCK} ORDER BY p.__key
           ${upsert}`,
        )
        .run(BigInt(version), BigInt(seqBase) - range.lo, range.lo, range.hi);
      if (Number(done.changes) !== rows) throw new NotThisCase();
      if (hasOverrides(db, table)) {
        // Every override inside the stretch (a table emptied, or every row an update touched deleted):
        // the overrides table is cleared whole, SQLite's truncation — its pages freed, no per-row
        // delete from it and its (db_version, seq) index (~38 ms per 100,000 overrides, measured).
        if (overridesWithin(db, table, range)) db.prepare(`DELETE FROM ${n.cells}`).run();
        else db.prepare(`DELETE FROM ${n.cells} WHERE key BETWEEN ? AND ?`).run(range.lo, range.hi);
      }
      return { seqs: rows, rows, cells: 0 };
    }
    // A missing key or a row deleted twice in the run updates fewer key-map rows than the run has,
    // and a sentinel that would pass MAX_CLOCK writes fewer sentinels: the rules' case.
    const cleared = db.prepare(`UPDATE ${n.pks} AS p SET ${K.cv} = NULL FROM ${n.log} l WHERE l.seq BETWEEN ? AND ? AND ${keyJoin(table)}`).run(run.lo, run.hi);
    if (Number(cleared.changes) !== rows) throw new NotThisCase();
    // A table without any sentinel yet: every one is 2, inserted without a lookup or an upsert.
    const none = db.prepare(`SELECT NOT EXISTS (SELECT 1 FROM ${n.sentinels}) AS none`).get() as { none: number | bigint };
    const done = db
      .prepare(
        Number(none.none) === 1
          ? `INSERT INTO ${n.sentinels} (key, cl, db_version, site, seq)
         SELECT p.__key, 2, ?, 0, ? + l.seq - ? FROM ${n.log} l CROSS JOIN ${n.pks} p ON ${keyJoin(table)} WHERE l.seq BETWEEN ? AND ? ORDER BY p.__key`
          : `INSERT INTO ${n.sentinels} (key, cl, db_version, site, seq)
         SELECT p.__key, ${next}, ?, 0, ? + l.seq - ? FROM ${n.log} l CROSS JOIN ${n.pks} p ON ${keyJoin(table)} LEFT JOIN ${n.sentinels} s ON s.key = p.__key
         WHERE l.seq BETWEEN ? AND ? AND ${next} <= ${MAX_CLOCK} ORDER BY p.__key
         ${upsert}`,
      )
      .run(BigInt(version), BigInt(seqBase), run.lo, run.lo, run.hi);
    if (Number(done.changes) !== rows) throw new NotThisCase();
    if (hasOverrides(db, table)) db.prepare(`DELETE FROM ${n.cells} WHERE key IN (SELECT p.__key FROM ${n.log} l CROSS JOIN ${n.pks} p ON ${keyJoin(table)} WHERE l.seq BETWEEN ? AND ?)`).run(run.lo, run.hi);
    return { seqs: rows, rows, cells: 0 };
  });
}

/**
 * Whether every override of the table belongs to a key-map row in `range` (its least and greatest
 * key, two steps down the overrides' primary key). Then deleting those rows' overrides empties the
 * table, which `DELETE` without a `WHERE` does by freeing its pages.
 */
function overridesWithin(db: SqliteConnection, table: CrrTable, range: { lo: bigint; hi: bigint }): boolean {
  const c = table.names.cells;
  const r = db.prepare(`SELECT (SELECT min(key) FROM ${c}) >= ? AND (SELECT max(key) FROM ${c}) <= ? AS inside`).get(range.lo, range.hi) as { inside: number | bigint | null };
  return Number(r.inside) === 1;
}

/** Log columns to read for the general path (op, keys, old keys, masks). */
export function logSelect(table: CrrTable): string {
  const lc = logColumns(table.info);
  return `SELECT ${['op', ...lc.keys, ...lc.oldKeys, ...lc.masks].join(', ')} FROM ${table.names.log} WHERE seq BETWEEN ? AND ? ORDER BY seq`;
}
