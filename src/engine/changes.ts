/**
 * Reading changes since a db_version, in (db_version, seq) order across all CRR tables, as a lazy
 * stream: memory stays bounded whatever the size.
 */
import type { Change } from './change.ts';
import type { Sites } from './clock.ts';
import { packKey } from './pack.ts';
import { SENTINEL } from './schema.ts';
import { readCondition, rulesOf, type ReadFilter } from './filter.ts';
import { ident, literal, type SqlValue, type SqliteConnection } from './sqlite.ts';
import type { CrrTable } from './table.ts';
import { compareInt64, int64 } from '../base/int64.ts';
import { EXCEPT_DIRECT } from './owners.ts';
import { K, positions } from './layout.ts';

/**
 * The query reading one filtered table's changes when its rules have a row predicate: every current
 * cell of each row with any cell after `since` (a row may have re-entered the predicate, and the cells
 * changed while it was out are older than `since`), the predicate and columns applied as usual. The
 * extra last column is the cell's position in the feed: its db_version if after `since`, else the
 * row's first db_version after `since` (the change that made it qualify). Parameters: since (×4),
 * then the excepted site if `exceptSite`, then the named parameters of `condition`.
 */
export function rowChangesQuery(table: CrrTable, exceptSite: boolean, condition: string): string {
  const clock = table.names.clock;
  const pos = `CASE WHEN c.db_version > ? THEN c.db_version ELSE (SELECT min(r.db_version) FROM ${clock} r WHERE r.key = c.key AND r.db_version > ?) END`;
  const where = `(c.db_version > ? OR c.key IN (SELECT r.key FROM ${clock} r WHERE r.db_version > ?))${exceptSite ? ` AND ${EXCEPT_DIRECT}` : ''} AND ${condition}`;
  // Order by the position column (the last one, after pk…, cid, col_version, db_version, site, seq, cl, val).
  return selectChanges(table, where, `${table.info.pks.length + 8}, c.seq`, pos);
}

/**
 * The queries reading one table's changes after `since` in (db_version, seq) order, straight from the
 * row-level layout (layout.ts) instead of its per-cell view, which SQLite would have to sort: the
 * sentinels, the overrides, and the cells of row clocks. The last come ordered by their row clock
 * (db_version, seq of column 0), with that seq as an extra last column, and need {@link byRowClock}
 * to be in cell order. Parameters: since, then the excepted site if `exceptSite`, then the named
 * parameters of `condition`. Columns: pk…, cid, col_version, db_version, site, seq, cl, val.
 */
export function layoutQueries(table: CrrTable, exceptSite: boolean, condition?: string, newestFirst = false): { sql: string; rowClocks: boolean }[] {
  const { info, names: n } = table;
  const where = `c.db_version > ?${exceptSite ? ` AND ${EXCEPT_DIRECT}` : ''}${condition ? ` AND ${condition}` : ''}`;
  const order = newestFirst ? 'c.db_version DESC, c.seq DESC' : 'c.db_version, c.seq';
  const out = [
    { sql: selectChanges(table, where, order, undefined, `(SELECT __key AS key, '${SENTINEL}' AS cid, ${K.cl} AS col_version, ${K.clDbv} AS db_version, ${K.clSite} AS site, ${K.clSeq} AS seq FROM ${n.pks} WHERE ${K.clDbv} IS NOT NULL)`), rowClocks: false },
    { sql: selectChanges(table, `${where} AND c.col_version IS NOT NULL`, order, undefined, n.cells), rowClocks: false },
  ];
  if (info.columns.length > 0) {
    const cells = `(SELECT r.__key AS key, v.column1 AS cid, r.${K.cv} AS col_version, r.${K.dbv} AS db_version, r.${K.site} AS site, r.${K.seq} + v.column2 AS seq, r.${K.seq} AS base
      FROM ${n.pks} r CROSS JOIN (VALUES ${positions(info.columns)}) v
      WHERE r.${K.dbv} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${n.cells} o WHERE o.key = r.__key AND o.cid = v.column1))`;
    out.push({ sql: selectChanges(table, where, newestFirst ? 'c.db_version DESC, c.base DESC' : 'c.db_version, c.base', 'c.base', cells), rowClocks: true });
  }
  return out;
}

/**
 * The cells of row clocks (rows of a {@link layoutQueries} query ordered by row clock) in
 * (db_version, seq) order: a row clock's cells have seqs from its own up, so a cell is final once the
 * next row clock starts after it. Few cells wait at a time (a row's, usually).
 */
export function* byRowClock(it: Iterator<SqlValue[]>, n: number): Generator<SqlValue[]> {
  const waiting: SqlValue[][] = [];
  const before = (a: SqlValue[], dbv: bigint, seq: bigint): boolean => (a[n + 2] as bigint) < dbv || ((a[n + 2] as bigint) === dbv && (a[n + 4] as bigint) < seq);
  try {
    for (let r = it.next(); !r.done; r = it.next()) {
      const row = r.value;
      const dbv = row[n + 2] as bigint;
      const base = row[row.length - 1] as bigint;
      let i = 0;
      while (i < waiting.length && before(waiting[i]!, dbv, base)) yield waiting[i++]!;
      if (i > 0) waiting.splice(0, i);
      // Insert in order (usually at the end).
      let j = waiting.length;
      const seq = row[n + 4] as bigint;
      while (j > 0 && !before(waiting[j - 1]!, dbv, seq)) j--;
      waiting.splice(j, 0, row);
    }
    yield* waiting;
  } finally {
    it.return?.();
  }
}

/**
 * {@link byRowClock} for rows newest first (ordered by row clock descending): a cell is final once
 * the next row clock's cells (seqs up to its own + `width` − 1) all come before it.
 */
export function* byRowClockDesc(it: Iterator<SqlValue[]>, n: number, width: number): Generator<SqlValue[]> {
  const waiting: SqlValue[][] = [];
  const after = (a: SqlValue[], dbv: bigint, seq: bigint): boolean => (a[n + 2] as bigint) > dbv || ((a[n + 2] as bigint) === dbv && (a[n + 4] as bigint) > seq);
  const last = BigInt(width - 1);
  try {
    for (let r = it.next(); !r.done; r = it.next()) {
      const row = r.value;
      const dbv = row[n + 2] as bigint;
      const top = (row[row.length - 1] as bigint) + last;
      let i = 0;
      while (i < waiting.length && after(waiting[i]!, dbv, top)) yield waiting[i++]!;
      if (i > 0) waiting.splice(0, i);
      let j = waiting.length;
      const seq = row[n + 4] as bigint;
      while (j > 0 && !after(waiting[j - 1]!, dbv, seq)) j--;
      waiting.splice(j, 0, row);
    }
    yield* waiting;
  } finally {
    it.return?.();
  }
}

function selectChanges(table: CrrTable, where: string, order: string, extra?: string, source?: string): string {
  const { info, names } = table;
  const t = ident(info.name);
  const pkCols = info.pks.map((p) => `p.${ident(p)}`).join(', ');
  const join = info.pks.map((p) => `t.${ident(p)} = p.${ident(p)}`).join(' AND ');
  const val = info.columns.length === 0 ? 'NULL' : `CASE c.cid ${info.columns.map((col) => `WHEN ${literal(col)} THEN t.${ident(col)}`).join(' ')} ELSE NULL END`;
  return `SELECT ${pkCols}, c.cid, c.col_version, c.db_version, c.site, c.seq,
    CASE c.cid WHEN '${SENTINEL}' THEN c.col_version ELSE coalesce(p.${K.cl}, 1) END,
    ${val}${extra ? `,
    ${extra}` : ''}
  FROM ${source ?? names.clock} c JOIN ${names.pks} p ON p.__key = c.key LEFT JOIN ${t} t ON ${join}
  WHERE ${where}
  ORDER BY ${order}`;
}

interface Cursor {
  table: CrrTable;
  it: Iterator<SqlValue[]>;
  head: SqlValue[] | undefined;
  /** Index of the column ordering the stream (db_version, or the position of a row-predicate query). */
  at: number;
}

/**
 * Yields every change with db_version > `since`, leaving out those of merges that came straight
 * from `exceptSite` (it holds them; see owners.ts), and,
 * with a `read` filter, those it doesn't allow (tables without a rule are not read at all). For a
 * table whose rules have a row predicate, a row with any change after `since` that is allowed now is
 * sent whole (its allowed current cells, older ones included): it may have re-entered the predicate,
 * and what changed while it was out must reach the reader. Such older cells come at the position of
 * the row's first change after `since`, so the stream is in position order, and a cell's db_version
 * may be lower than an earlier one's (re-sending a cell the reader has is a no-op when merged).
 * Must run inside a read transaction for a consistent snapshot (the engine does this).
 */
export function* readChanges(db: SqliteConnection, tables: Iterable<CrrTable>, sites: Sites, since: number, exceptSite?: number, read?: ReadFilter): Generator<Change> {
  const cursors: Cursor[] = [];
  for (const table of tables) {
    let condition: string | undefined;
    let wholeRows = false;
    if (read) {
      const rules = rulesOf(read.rules, table.info.name);
      if (rules.length === 0) continue;
      condition = readCondition(table, rules);
      // From 0 every cell is after `since` already: the plain query says the same, cheaper.
      wholeRows = condition !== undefined && since > 0 && rules.some((r) => r.where !== undefined);
    }
    const n = table.info.pks.length;
    const queries = wholeRows ? [{ sql: rowChangesQuery(table, exceptSite !== undefined, condition!), rowClocks: false }] : layoutQueries(table, exceptSite !== undefined, condition);
    for (const q of queries) {
      const stmt = db.prepare(q.sql);
      stmt.setReadBigInts(true);
      stmt.setReturnArrays(true);
      const args: SqlValue[] = wholeRows ? [BigInt(since), BigInt(since), BigInt(since), BigInt(since)] : [BigInt(since)];
      if (exceptSite !== undefined) args.push(BigInt(exceptSite));
      let it: Iterator<SqlValue[]>;
      if (condition && read?.params) {
        // Named parameters bind by name; a rule need not use all of them.
        stmt.setAllowUnknownNamedParameters?.(true);
        it = (stmt.iterate(read.params as Record<string, SqlValue>, ...args) as Iterable<SqlValue[]>)[Symbol.iterator]();
      } else it = (stmt.iterate(...args) as Iterable<SqlValue[]>)[Symbol.iterator]();
      if (q.rowClocks) it = byRowClock(it, n);
      const first = it.next();
      if (!first.done) cursors.push({ table, it, head: first.value, at: wholeRows ? n + 7 : n + 2 });
    }
  }
  try {
    while (cursors.length > 0) {
      // Few tables: a linear scan for the smallest (position, seq) beats a heap.
      let best = 0;
      for (let i = 1; i < cursors.length; i++) {
        const a = cursors[i]!;
        const b = cursors[best]!;
        const pa = a.head![a.at] as bigint;
        const pb = b.head![b.at] as bigint;
        const sa = a.head![a.table.info.pks.length + 4] as bigint;
        const sb = b.head![b.table.info.pks.length + 4] as bigint;
        if (pa < pb || (pa === pb && sa < sb)) best = i;
      }
      const cur = cursors[best]!;
      yield toChange(cur.table, cur.head!, cur.table.info.pks.length, sites);
      const next = cur.it.next();
      if (next.done) cursors.splice(best, 1);
      else cur.head = next.value;
    }
  } finally {
    for (const c of cursors) c.it.return?.();
  }
}

/** The `limit` newest changes across `tables`, newest first (for logs; one query per table). */
export function newestChanges(db: SqliteConnection, tables: Iterable<CrrTable>, sites: Sites, limit: number): Change[] {
  const all: Change[] = [];
  for (const table of tables) {
    const n = table.info.pks.length;
    // Each of the layout's streams newest first, up to `limit` of each.
    for (const q of layoutQueries(table, false, undefined, true)) {
      const stmt = db.prepare(q.sql);
      stmt.setReadBigInts(true);
      stmt.setReturnArrays(true);
      let it: Iterator<SqlValue[]> = (stmt.iterate(0n) as Iterable<SqlValue[]>)[Symbol.iterator]();
      if (q.rowClocks) it = byRowClockDesc(it, n, table.info.columns.length);
      let taken = 0;
      for (let r = it.next(); !r.done && taken < limit; r = it.next(), taken++) all.push(toChange(table, r.value, n, sites));
      it.return?.();
    }
  }
  all.sort((a, b) => compareInt64(b.dbVersion, a.dbVersion) || compareInt64(b.seq, a.seq));
  return all.slice(0, limit);
}

/**
 * The cells still stamped with db_version `version`, across `tables`, in seq order: what that version
 * changed, less what later versions overwrote (clocks keep only the current value of each cell).
 */
export function versionChanges(db: SqliteConnection, tables: Iterable<CrrTable>, sites: Sites, version: number): Change[] {
  const all: Change[] = [];
  for (const table of tables) {
    const stmt = db.prepare(selectChanges(table, 'c.db_version = ?', 'c.seq'));
    stmt.setReadBigInts(true);
    stmt.setReturnArrays(true);
    const n = table.info.pks.length;
    for (const r of stmt.iterate(BigInt(version)) as Iterable<SqlValue[]>) all.push(toChange(table, r, n, sites));
  }
  return all.sort((a, b) => compareInt64(a.seq, b.seq));
}

/** Whether any cell of `table` is still stamped with db_version `version`. */
export function touchesVersion(db: SqliteConnection, table: CrrTable, version: number): boolean {
  return db.prepare(`SELECT 1 FROM ${table.names.clock} WHERE db_version = ? LIMIT 1`).get(BigInt(version)) !== undefined;
}

function toChange(table: CrrTable, r: SqlValue[], n: number, sites: Sites): Change {
  return {
    table: table.info.name,
    pk: packKey(r, n),
    cid: r[n] as string,
    colVersion: int64(r[n + 1] as bigint),
    dbVersion: int64(r[n + 2] as bigint),
    siteId: sites.bytesOf(Number(r[n + 3])),
    seq: int64(r[n + 4] as bigint),
    cl: int64(r[n + 5] as bigint),
    val: r[n + 6] ?? null,
  };
}
