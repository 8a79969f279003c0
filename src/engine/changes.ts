/**
 * Reading changes since a db_version, in (db_version, seq) order across all CRR tables, as a lazy
 * stream: memory stays bounded whatever the size.
 */
import type { Change } from './change.ts';
import type { Sites } from './clock.ts';
import { packKey } from './pack.ts';
import { SENTINEL } from './schema.ts';
import { readCondition, rowPredicate, rulesOf, type ReadFilter, type RowRule } from './filter.ts';
import { ident, literal, type SqlValue, type SqliteConnection, type Statement } from './sqlite.ts';
import type { CrrTable } from './table.ts';
import { compareInt64, int64, type Int64 } from '../base/int64.ts';
import { EXCEPT_DIRECT, exceptDirect } from './owners.ts';
import { K, positions } from './layout.ts';
import { keepHiddenClasses } from '../base/hidden-classes.ts';
import { exactRow, exactValue } from './exact-text.ts';

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
    { sql: selectChanges(table, where, order, undefined, `(SELECT key, '${SENTINEL}' AS cid, cl AS col_version, db_version, site, seq FROM ${n.sentinels})`), rowClocks: false },
    { sql: selectChanges(table, `${where} AND c.col_version IS NOT NULL`, order, undefined, n.cells), rowClocks: false },
  ];
  if (info.columns.length > 0) {
    const cells = `(SELECT r.__key AS key, v.column1 AS cid, r.${K.cv} AS col_version, r.${K.dbv} AS db_version, r.${K.site} AS site, r.${K.seq} + v.column2 AS seq, r.${K.seq} AS base
      FROM ${n.pks} r CROSS JOIN (VALUES ${positions(info.columns)}) v
      WHERE r.${K.dbv} IS NOT NULL AND r.${K.cv} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${n.cells} o WHERE o.key = r.__key AND o.cid = v.column1))`;
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

/** A row's causal length (SQL, the key-map row aliased `alias`): its sentinel's, 1 without one (layout.ts). */
function causalLength(n: CrrTable['names'], alias: string): string {
  return `coalesce((SELECT s.cl FROM ${n.sentinels} s WHERE s.key = ${alias}.__key), 1)`;
}

function selectChanges(table: CrrTable, where: string, order: string, extra?: string, source?: string): string {
  const { info, names } = table;
  const t = ident(info.name);
  const pkCols = info.pks.map((p) => `p.${names.pkCol(p)}`).join(', ');
  const join = info.pks.map((p) => `t.${ident(p)} = p.${names.pkCol(p)}`).join(' AND ');
  const val = info.columns.length === 0 ? 'NULL' : `CASE c.cid ${info.columns.map((col) => `WHEN ${literal(col)} THEN t.${ident(col)}`).join(' ')} ELSE NULL END`;
  return `SELECT ${pkCols}, c.cid, c.col_version, c.db_version, c.site, c.seq,
    CASE c.cid WHEN '${SENTINEL}' THEN c.col_version ELSE ${causalLength(names, 'p')} END,
    ${val}${extra ? `,
    ${extra}` : ''}
  FROM ${source ?? names.clock} c JOIN ${names.pks} p ON p.__key = c.key LEFT JOIN ${t} t ON ${join}
  WHERE ${where}
  ORDER BY ${order}`;
}

/**
 * The query reading one table's row clocks after `since` for {@link RowClockStream}: one SQL row per
 * table row (not one per cell, as the per-cell view gives), ordered by row clock. Columns: pk…,
 * col_version, db_version, site, seq (of column 0), cl, the value of each column, the positions of
 * its overridden columns (comma-separated, NULL when none: those cells are not the row clock's), then
 * per rule of `rules` whether the row satisfies its `where` (1; a rule without one: always).
 * Parameters: since, then the excepted site if `exceptSite`, then the named parameters of the
 * rules. Without `overrides` (the table has none) the overrides column is NULL, and one lookup per
 * row less; without `sentinels` (the table has none: no row was ever deleted) every cl is 1, another. The rules' predicates are columns, not a WHERE: as a WHERE, SQLite would drive the
 * query from their keys and sort, instead of streaming the index.
 */
export function rowClockQuery(table: CrrTable, exceptSite: boolean, overrides = true, rules?: readonly RowRule[], page?: RowClockPage, sentinels = true): string {
  const { info, names: n } = table;
  const pkCols = info.pks.map((p) => `r.${n.pkCol(p)}`).join(', ');
  const join = info.pks.map((p) => `t.${ident(p)} = r.${n.pkCol(p)}`).join(' AND ');
  const vals = info.columns.map((c) => `t.${ident(c)}`).join(', ');
  // Override rows of columns the table no longer has map to NULL, which group_concat skips.
  const overridden = overrides ? `(SELECT group_concat(CASE o.cid ${info.columns.map((c, i) => `WHEN ${literal(c)} THEN ${i}`).join(' ')} END) FROM ${n.cells} o WHERE o.key = r.__key)` : 'NULL';
  const wheres = (rules ?? []).map((r) => (r.where === undefined ? '1' : rowPredicate(table, r.where, 'r')));
  const cl = sentinels ? 'coalesce(s.cl, 1)' : '1';
  const sjoin = sentinels ? ` LEFT JOIN ${n.sentinels} s ON s.key = r.__key` : '';
  return `SELECT ${pkCols}, r.${K.cv}, r.${K.dbv}, r.${K.site}, r.${K.seq}, ${cl}, ${vals}, ${overridden}${wheres.map((w) => `, ${w}`).join('')}
  FROM ${n.pks} r${sjoin} LEFT JOIN ${ident(info.name)} t ON ${join}
  WHERE ${PAGE_FROM[page ?? 'since']} AND r.${K.cv} IS NOT NULL${exceptSite ? ` AND ${exceptDirect(`r.${K.dbv}`)}` : ''}
  ORDER BY r.${K.dbv}, r.${K.seq}${page === undefined ? '' : ' LIMIT ? OFFSET ?'}`;
}

/**
 * A page of {@link rowClockQuery}'s rows (row-clock-pages.ts), its parameters two more, LIMIT and
 * OFFSET: those after the db_version `since` (parameter: since), those of the same db_version after a
 * seq (db_version, seq), those at a db_version and seq (the same two).
 */
export type RowClockPage = 'since' | 'after' | 'at';
const PAGE_FROM: Record<RowClockPage, string> = {
  since: `r.${K.dbv} > ?`,
  after: `r.${K.dbv} = ? AND r.${K.seq} > ?`,
  at: `r.${K.dbv} = ? AND r.${K.seq} = ?`,
};

/**
 * The query reading one table's sentinels after `since` straight from the sentinels table's
 * (db_version, seq) index (no join to the table: a sentinel carries no value; none to the key map
 * either when it is keyed by the rowid alias, whose `__key` is the key). Columns: pk…, cl, db_version,
 * site, seq. Parameters as {@link rowClockQuery}.
 */
export function sentinelQuery(table: CrrTable, exceptSite: boolean): string {
  const { info, names: n } = table;
  const keys = n.rowidKeyed ? 's.key' : info.pks.map((p) => `p.${n.pkCol(p)}`).join(', ');
  const join = n.rowidKeyed ? '' : ` CROSS JOIN ${n.pks} p ON p.__key = s.key`;
  return `SELECT ${keys}, s.cl, s.db_version, s.site, s.seq FROM ${n.sentinels} s${join}
  WHERE s.db_version > ?${exceptSite ? ` AND ${exceptDirect('s.db_version')}` : ''}
  ORDER BY s.db_version, s.seq`;
}

/** Idle statements kept per SQL text and connection. */
const IDLE_PER_SQL = 4;

/**
 * The feed's prepared statements, per connection, reused from read to read: preparing them was most
 * of a small read's CPU (a hub reads once per merge, a live follower once per commit). A statement
 * is lent to one read at a time, since iterating it again would reset the rows another read is
 * stepping. Their SQL texts follow from the tables' shapes, so they are few.
 */
const idle = new WeakMap<SqliteConnection, Map<string, Statement[]>>();

/** A statement of `sql` on `db`, reading BigInts and arrays: a cached one if idle, else a new one; {@link giveBack} it when done. */
export function borrow(db: SqliteConnection, sql: string): Statement {
  const stmt = idle.get(db)?.get(sql)?.pop();
  if (stmt) return stmt;
  const fresh = db.prepare(sql);
  fresh.setReadBigInts(true);
  fresh.setReturnArrays(true);
  return fresh;
}

/** Returns a statement from {@link borrow} to the idle ones (not in use: its rows read or reset). */
export function giveBack(db: SqliteConnection, sql: string, stmt: Statement): void {
  let bySql = idle.get(db);
  if (!bySql) idle.set(db, (bySql = new Map()));
  let stmts = bySql.get(sql);
  if (!stmts) bySql.set(sql, (stmts = []));
  if (stmts.length < IDLE_PER_SQL) stmts.push(stmt);
}

/** Whether `table`'s side table `what` holds any row (a borrowed statement, prepared once per connection). */
function hasAny(db: SqliteConnection, table: CrrTable, what: 'cells' | 'sentinels'): boolean {
  const sql = sqlOf(table, `any ${what}`, () => `SELECT 1 FROM ${table.names[what]} LIMIT 1`);
  const stmt = borrow(db, sql);
  try {
    return stmt.get() !== undefined;
  } finally {
    giveBack(db, sql, stmt);
  }
}

/** Whether `table` has overrides (tables only ever inserted into or updated whole have none: their reads skip a lookup per row, ~10%). */
export function hasOverrides(db: SqliteConnection, table: CrrTable): boolean {
  return hasAny(db, table, 'cells');
}

/** Whether `table` has any sentinel (tables never deleted from have none: their reads skip a lookup per row). */
export function hasSentinels(db: SqliteConnection, table: CrrTable): boolean {
  return hasAny(db, table, 'sentinels');
}

/** The SQL texts of a table's queries, made once per table shape (a CrrTable is made anew when its shape changes). */
const texts = new WeakMap<CrrTable, Map<string, string>>();

export function sqlOf(table: CrrTable, key: string, make: () => string): string {
  let byKey = texts.get(table);
  if (!byKey) texts.set(table, (byKey = new Map()));
  let sql = byKey.get(key);
  if (sql === undefined) byKey.set(key, (sql = make()));
  return sql;
}

/** The rows of a lent statement: `close` ends them (if they have not ended) and gives the statement back. */
export class Rows {
  it: Iterator<SqlValue[]>;
  readonly db: SqliteConnection;
  private readonly sql: string;
  private stmt: Statement | undefined;
  constructor(db: SqliteConnection, sql: string, args: SqlValue[], params?: Record<string, SqlValue>) {
    this.db = db;
    this.sql = sql;
    const stmt = (this.stmt = borrow(db, sql));
    if (params) {
      // Named parameters bind by name; a rule need not use all of them.
      stmt.setAllowUnknownNamedParameters?.(true);
      this.it = (stmt.iterate(params, ...args) as Iterable<SqlValue[]>)[Symbol.iterator]();
    } else this.it = (stmt.iterate(...args) as Iterable<SqlValue[]>)[Symbol.iterator]();
  }
  close(): void {
    if (!this.stmt) return;
    this.it.return?.();
    giveBack(this.db, this.sql, this.stmt);
    this.stmt = undefined;
  }
}

/**
 * One ordered stream of a table's changes: `head` is the next one (undefined at the end), `pos` its
 * position in the feed. {@link first} reads the first, not the constructor: the streams kept for their
 * hidden classes (below) read nothing.
 */
interface Stream {
  head: Change | undefined;
  /** The head's position: its db_version, or the position column of a row-predicate query. */
  pos: Int64;
  first(): void;
  advance(): void;
  close(): void;
}

/** A stream of query rows with one change each (pk…, cid, col_version, db_version, site, seq, cl, val). */
class CellStream implements Stream {
  head: Change | undefined;
  pos: Int64 = 0;
  private readonly rows: Rows;
  private readonly table: CrrTable;
  private readonly sites: Sites;
  /** Index of the position column, if it is not the db_version. */
  private readonly posAt: number | undefined;
  constructor(rows: Rows, table: CrrTable, sites: Sites, posAt?: number) {
    this.rows = rows;
    this.table = table;
    this.sites = sites;
    this.posAt = posAt;
  }
  first(): void {
    this.advance();
  }
  advance(): void {
    const r = this.rows.it.next();
    if (r.done) {
      this.head = undefined;
      this.rows.close();
      return;
    }
    const n = this.table.info.pks.length;
    this.head = toChange(this.rows.db, this.table, r.value, n, this.sites);
    this.pos = this.posAt === undefined ? this.head.dbVersion : int64(r.value[this.posAt] as bigint);
  }
  close(): void {
    this.rows.close();
  }
}

/** The sentinels of a {@link sentinelQuery}. */
class SentinelStream implements Stream {
  head: Change | undefined;
  pos: Int64 = 0;
  private readonly rows: Rows;
  private readonly table: CrrTable;
  private readonly sites: Sites;
  constructor(rows: Rows, table: CrrTable, sites: Sites) {
    this.rows = rows;
    this.table = table;
    this.sites = sites;
  }
  first(): void {
    this.advance();
  }
  advance(): void {
    const r = this.rows.it.next();
    if (r.done) {
      this.head = undefined;
      this.rows.close();
      return;
    }
    const row = r.value;
    const n = this.table.info.pks.length;
    const cl = int64(row[n] as bigint);
    const dbVersion = int64(row[n + 1] as bigint);
    this.head = { table: this.table.info.name, pk: packKey(row, n), cid: SENTINEL, colVersion: cl, dbVersion, siteId: this.sites.bytesOf(Number(row[n + 2])), seq: int64(row[n + 3] as bigint), cl, val: null };
    this.pos = dbVersion;
  }
  close(): void {
    this.rows.close();
  }
}

/** Whether (db_version, seq) of `c` comes before (`dbv`, `seq`). */
const before = (c: Change, dbv: Int64, seq: Int64): boolean => c.dbVersion < dbv || (c.dbVersion === dbv && c.seq < seq);

/**
 * The cells of row clocks, from the rows of a {@link rowClockQuery} (one per table row, ordered by
 * row clock), in (db_version, seq) order: each row is expanded into the cells it stands for, which
 * share its clock (seq + position) and primary key. As {@link byRowClock} (the same order, ties
 * included): a row clock's cells have seqs from its own up, so a cell is final once the next row
 * clock starts after it, and few cells wait at a time.
 */
class RowClockStream implements Stream {
  head: Change | undefined;
  pos: Int64 = 0;
  /** Cells expanded and not yet final, in order from `from` on. */
  private readonly waiting: Change[] = [];
  private from = 0;
  /** The next row, not yet expanded, and its row clock. */
  private row: SqlValue[] | undefined;
  private rowDbv: Int64 = 0;
  private rowSeq: Int64 = 0;
  private readonly n: number;
  private readonly columns: readonly string[];
  /** Per column, whether the row being expanded overrides it, or (with rules) no rule allows it. */
  private readonly overridden: Uint8Array;
  /** Per column, whether a rule allows the row being expanded (scratch). */
  private readonly allowed: Uint8Array;
  /** Per rule of a read filter, the columns it covers (1 per position), or undefined for all. */
  private readonly rules: readonly (Uint8Array | undefined)[] | undefined;
  private readonly rows: Rows;
  private readonly table: CrrTable;
  private readonly sites: Sites;
  /** `rules`: those the query had (rowClockQuery), whose `where` columns follow the overrides. */
  constructor(rows: Rows, table: CrrTable, sites: Sites, rules?: readonly RowRule[]) {
    this.rows = rows;
    this.table = table;
    this.sites = sites;
    this.n = table.info.pks.length;
    this.columns = table.info.columns;
    this.overridden = new Uint8Array(this.columns.length);
    this.allowed = new Uint8Array(this.columns.length);
    this.rules = rules?.map((r) => (r.columns === undefined ? undefined : Uint8Array.from(this.columns, (c) => (r.columns!.includes(c) ? 1 : 0))));
  }

  first(): void {
    this.fetch();
    this.advance();
  }

  private fetch(): void {
    const r = this.rows.it.next();
    if (r.done) {
      this.row = undefined;
      this.rows.close();
      return;
    }
    this.row = r.value;
    this.rowDbv = int64(r.value[this.n + 1] as bigint);
    this.rowSeq = int64(r.value[this.n + 3] as bigint);
    exactRow(this.rows.db, this.table, r.value, this.n, this.n + 5, this.columns);
  }

  advance(): void {
    for (;;) {
      if (this.from < this.waiting.length) {
        const c = this.waiting[this.from]!;
        if (this.row === undefined || before(c, this.rowDbv, this.rowSeq)) {
          this.from++;
          this.head = c;
          this.pos = c.dbVersion;
          return;
        }
      } else if (this.row === undefined) {
        this.head = undefined;
        return;
      }
      this.expand();
    }
  }

  /** Moves the next row's cells into `waiting`, in order, and fetches the row after it. */
  private expand(): void {
    const row = this.row!;
    const { n, columns, overridden, waiting } = this;
    if (this.from === waiting.length) {
      waiting.length = 0;
      this.from = 0;
    } else if (this.from > 1024) {
      waiting.splice(0, this.from);
      this.from = 0;
    }
    const m = columns.length;
    const mask = row[n + 5 + m];
    overridden.fill(0);
    if (mask !== null) for (const p of (mask as string).split(',')) overridden[Number(p)] = 1;
    const rules = this.rules;
    if (rules) {
      // A cell is read if a rule covering its column allows the row (readCondition, per cell).
      const allowed = this.allowed;
      allowed.fill(0);
      for (let k = 0; k < rules.length; k++) {
        if (row[n + 6 + m + k] !== 1n) continue;
        const covers = rules[k];
        for (let i = 0; i < m; i++) if (covers === undefined || covers[i] === 1) allowed[i] = 1;
      }
      for (let i = 0; i < m; i++) if (allowed[i] === 0) overridden[i] = 1;
    }
    const pk = packKey(row, n);
    const table = this.table.info.name;
    const colVersion = int64(row[n] as bigint);
    const dbVersion = this.rowDbv;
    const siteId = this.sites.bytesOf(Number(row[n + 2]));
    const base = this.rowSeq;
    const cl = int64(row[n + 4] as bigint);
    for (let i = 0; i < columns.length; i++) {
      if (overridden[i] === 1) continue;
      const seq = typeof base === 'number' && Number.isSafeInteger(base + i) ? base + i : int64(BigInt(base) + BigInt(i));
      const c: Change = { table, pk, cid: columns[i]!, colVersion, dbVersion, siteId, seq, cl, val: row[n + 5 + i] ?? null };
      // Insert in order (usually at the end), before any equal cell as byRowClock does.
      let j = waiting.length;
      while (j > this.from && !before(waiting[j - 1]!, dbVersion, seq)) j--;
      if (j === waiting.length) waiting.push(c);
      else waiting.splice(j, 0, c);
    }
    this.fetch();
  }

  close(): void {
    this.rows.close();
  }
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
 * Row clocks are read one SQL row per table row, unless `perCell` (the per-cell queries, which give
 * the same: the property test's reference).
 */
export function* readChanges(db: SqliteConnection, tables: Iterable<CrrTable>, sites: Sites, since: number, exceptSite?: number, read?: ReadFilter, perCell = false): Generator<Change> {
  const streams: Stream[] = [];
  const except = exceptSite !== undefined;
  const rows = (sql: string, args: SqlValue[], params?: Record<string, SqlValue>): Rows => {
    if (except) args.push(BigInt(exceptSite));
    return new Rows(db, sql, args, params);
  };
  const add = (s: Stream): void => {
    s.first();
    if (s.head === undefined) s.close();
    else streams.push(s);
  };
  try {
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
      const params = condition && read?.params ? (read.params as Record<string, SqlValue>) : undefined;
      const columns = table.info.columns.length;
      const s = BigInt(since);
      if (wholeRows) {
        add(new CellStream(rows(rowChangesQuery(table, except, condition!), [s, s, s, s], params), table, sites, n + 7));
      } else if (condition !== undefined && !perCell) {
        // The condition on cells for sentinels and overrides; the row clocks per row, the rules applied to their cells here.
        const [sentinels, overrides] = layoutQueries(table, except, condition);
        add(new CellStream(rows(sentinels!.sql, [s], params), table, sites));
        add(new CellStream(rows(overrides!.sql, [s], params), table, sites));
        if (columns > 0) {
          const rules = rulesOf(read!.rules, table.info.name);
          add(new RowClockStream(rows(rowClockQuery(table, except, hasOverrides(db, table), rules), [s], params), table, sites, rules));
        }
      } else if (condition !== undefined || perCell) {
        // Per cell (the reference the property test compares the per-row reads with).
        for (const q of layoutQueries(table, except, condition)) {
          const r = rows(q.sql, [s], params);
          if (q.rowClocks) r.it = byRowClock(r.it, n);
          add(new CellStream(r, table, sites));
        }
      } else {
        // The same streams, the row clocks one SQL row per table row (stepping SQLite is most of a read).
        add(new SentinelStream(rows(sqlOf(table, `sentinels ${except}`, () => sentinelQuery(table, except)), [s]), table, sites));
        add(new CellStream(rows(sqlOf(table, `overrides ${except}`, () => layoutQueries(table, except)[1]!.sql), [s]), table, sites));
        if (columns > 0) {
          const overrides = hasOverrides(db, table);
          const sentinels = hasSentinels(db, table);
          add(new RowClockStream(rows(sqlOf(table, `row clocks ${except} ${overrides} ${sentinels}`, () => rowClockQuery(table, except, overrides, undefined, undefined, sentinels)), [s]), table, sites));
        }
      }
    }
    while (streams.length > 0) {
      // Few tables: a linear scan for the smallest (position, seq) beats a heap.
      let best = 0;
      for (let i = 1; i < streams.length; i++) {
        const a = streams[i]!;
        const b = streams[best]!;
        if (a.pos < b.pos || (a.pos === b.pos && a.head!.seq < b.head!.seq)) best = i;
      }
      const cur = streams[best]!;
      yield cur.head!;
      cur.advance();
      if (cur.head === undefined) streams.splice(best, 1);
    }
  } finally {
    for (const s of streams) s.close();
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
      for (let r = it.next(); !r.done && taken < limit; r = it.next(), taken++) all.push(toChange(db, table, r.value, n, sites));
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
    for (const r of stmt.iterate(BigInt(version)) as Iterable<SqlValue[]>) all.push(toChange(db, table, r, n, sites));
  }
  return all.sort((a, b) => compareInt64(a.seq, b.seq));
}

/** Whether any cell of `table` is still stamped with db_version `version`. */
export function touchesVersion(db: SqliteConnection, table: CrrTable, version: number): boolean {
  return db.prepare(`SELECT 1 FROM ${table.names.clock} WHERE db_version = ? LIMIT 1`).get(BigInt(version)) !== undefined;
}

function toChange(db: SqliteConnection, table: CrrTable, r: SqlValue[], n: number, sites: Sites): Change {
  // U+FFFD may stand for bytes that aren't UTF-8: the cell's exact text instead (exact-text.ts).
  const val = exactValue(db, table, r, n, r[n] as string, r[n + 6] ?? null);
  return {
    table: table.info.name,
    pk: packKey(r, n),
    cid: r[n] as string,
    colVersion: int64(r[n + 1] as bigint),
    dbVersion: int64(r[n + 2] as bigint),
    siteId: sites.bytesOf(Number(r[n + 3])),
    seq: int64(r[n + 4] as bigint),
    cl: int64(r[n + 5] as bigint),
    val,
  };
}

// An instance of each class a read makes and drops, kept so that a full collection between reads
// doesn't throw away the read's optimized code (hidden-classes.ts). Never started: they read nothing.
// The Rows reads no database: its statement is a stand-in with no rows.
{
  const table = { info: { pks: [], columns: [] } } as unknown as CrrTable;
  const none = undefined as unknown;
  const stmt = { setReadBigInts() {}, setReturnArrays() {}, iterate: () => [] };
  const rows = new Rows({ prepare: () => stmt } as unknown as SqliteConnection, '', []);
  keepHiddenClasses(rows, new CellStream(rows, table, none as Sites), new SentinelStream(rows, table, none as Sites), new RowClockStream(rows, table, none as Sites));
}
