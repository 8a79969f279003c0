/**
 * The changes of an unfiltered read — {@link readChanges} with no read filter and no excepted site —
 * in exactly its order, through one reused {@link Change} instead of an object per change. For a
 * consumer that copies what it needs at once (the JSON-lines writer of `ddcp changes`), the 300,000
 * change objects of a large read, their collection and the generators they pass through were a
 * large share of the read: here a read allocates only what node:sqlite hands over, a packed key per
 * row and a few pooled cells. The streams and their merge are readChanges's (same queries, same
 * tie-breaks); a property test holds the two reads to the same changes.
 */
import type { Change } from './change.ts';
import type { Sites } from './clock.ts';
import { hasOverrides, layoutQueries, Rows, sentinelQuery, sqlOf } from './changes.ts';
import { RowClockPages } from './row-clock-pages.ts';
import { packKey } from './pack.ts';
import { SENTINEL } from './schema.ts';
import type { SqlValue, SqliteConnection } from './sqlite.ts';
import type { CrrTable } from './table.ts';
import { int64, type Int64 } from '../base/int64.ts';

const EMPTY = new Uint8Array(0);

/** One ordered stream of a table's changes: while not `done`, its head is at (`pos`, `seq`). */
interface CellStream {
  done: boolean;
  /** The head's db_version. */
  pos: Int64;
  /** The head's seq. */
  seq: Int64;
  /** Writes the head into `out`; returns its row group (see {@link ChangeCursor.group}), or -1 for none. */
  fill(out: Change): number;
  advance(): void;
  close(): void;
}

/**
 * A stream whose query rows are one change each: the table's key columns, then the change's own
 * columns, its db_version at `posAt` and its seq at `seqAt` past the key.
 */
abstract class QueryCells implements CellStream {
  done = false;
  pos: Int64 = 0;
  seq: Int64 = 0;
  protected row: SqlValue[] = [];
  protected readonly n: number;
  protected readonly rows: Rows;
  protected readonly table: CrrTable;
  protected readonly sites: Sites;
  private readonly posAt: number;
  private readonly seqAt: number;
  constructor(rows: Rows, table: CrrTable, sites: Sites, posAt: number, seqAt: number) {
    this.rows = rows;
    this.table = table;
    this.sites = sites;
    this.n = table.info.pks.length;
    this.posAt = this.n + posAt;
    this.seqAt = this.n + seqAt;
    this.advance();
  }
  advance(): void {
    const r = this.rows.it.next();
    if (r.done) {
      this.done = true;
      this.rows.close();
      return;
    }
    const row = (this.row = r.value);
    this.pos = int64(row[this.posAt] as bigint);
    this.seq = int64(row[this.seqAt] as bigint);
  }
  abstract fill(out: Change): number;
  close(): void {
    this.rows.close();
  }
}

/** The sentinels of a {@link sentinelQuery} (pk…, cl, db_version, site, seq). */
class Sentinels extends QueryCells {
  constructor(rows: Rows, table: CrrTable, sites: Sites) {
    super(rows, table, sites, 1, 3);
  }
  fill(out: Change): number {
    const { row, n } = this;
    const cl = int64(row[n] as bigint);
    out.table = this.table.info.name;
    out.pk = packKey(row, n);
    out.cid = SENTINEL;
    out.colVersion = cl;
    out.dbVersion = this.pos;
    out.siteId = this.sites.bytesOf(Number(row[n + 2]));
    out.seq = this.seq;
    out.cl = cl;
    out.val = null;
    return -1;
  }
}

/** The overrides: query rows with one change each (pk…, cid, col_version, db_version, site, seq, cl, val). */
class Overrides extends QueryCells {
  constructor(rows: Rows, table: CrrTable, sites: Sites) {
    super(rows, table, sites, 2, 4);
  }
  fill(out: Change): number {
    const { row, n } = this;
    out.table = this.table.info.name;
    out.pk = packKey(row, n);
    out.cid = row[n] as string;
    out.colVersion = int64(row[n + 1] as bigint);
    out.dbVersion = this.pos;
    out.siteId = this.sites.bytesOf(Number(row[n + 3]));
    out.seq = this.seq;
    out.cl = int64(row[n + 5] as bigint);
    out.val = row[n + 6] ?? null;
    return -1;
  }
}

/** A cell of a row clock, and the row group it belongs to. */
type Cell = Change & { group: number };

/** Row groups are numbered round (they only need to differ from the previous change's). */
const GROUPS = 0x40000000;

/** Whether (db_version, seq) of `c` comes before (`dbv`, `seq`). */
const before = (c: Change, dbv: Int64, seq: Int64): boolean => c.dbVersion < dbv || (c.dbVersion === dbv && c.seq < seq);

/** The seq of column `i` of a row clock whose column 0 has seq `base`. */
const seqAt = (base: Int64, i: number): Int64 => (typeof base === 'number' && Number.isSafeInteger(base + i) ? base + i : int64(BigInt(base) + BigInt(i)));

/**
 * The cells of row clocks from the rows of a {@link rowClockQuery} (one per table row, ordered by row
 * clock), in (db_version, seq) order — readChanges's RowClockStream without rules. A row whose cells
 * all come before the next row clock (the common case: nothing waits) is read straight from its SQL
 * row, cell by cell; any other is expanded into waiting cells as RowClockStream does, taken from a
 * pool instead of made per cell.
 */
class RowClockCells implements CellStream {
  done = false;
  pos: Int64 = 0;
  seq: Int64 = 0;
  /** Cells expanded and not yet final, in order from `from` on; those before `from` are spent. */
  private readonly waiting: Cell[] = [];
  private from = 0;
  /** Spent cells to fill again. */
  private readonly pool: Cell[] = [];
  /** The next row, not yet expanded, and its row clock. */
  private row: SqlValue[] | undefined;
  private rowDbv: Int64 = 0;
  private rowSeq: Int64 = 0;
  /** Whether the head is column `col` of the row read straight (`direct*`), not a waiting cell. */
  private direct = false;
  private col = 0;
  private directRow: SqlValue[] = [];
  private directPk: Uint8Array = EMPTY;
  private directCv: Int64 = 0;
  private directSite: Uint8Array = EMPTY;
  private directBase: Int64 = 0;
  private directCl: Int64 = 0;
  private directGroup = 0;
  private readonly n: number;
  private readonly columns: readonly string[];
  /** Per column, whether the row being expanded (or read straight) overrides it. */
  private readonly overridden: Uint8Array;
  private readonly rows: RowClockPages;
  private readonly table: CrrTable;
  private readonly sites: Sites;
  private readonly groups: { next: number };
  constructor(rows: RowClockPages, table: CrrTable, sites: Sites, groups: { next: number }) {
    this.rows = rows;
    this.table = table;
    this.sites = sites;
    this.groups = groups;
    this.n = table.info.pks.length;
    this.columns = table.info.columns;
    this.overridden = new Uint8Array(this.columns.length);
    this.fetch();
    this.advance();
  }

  private fetch(): void {
    const row = this.rows.next();
    if (row === undefined) {
      this.row = undefined;
      this.rows.close();
      return;
    }
    this.row = row;
    this.rowDbv = int64(row[this.n + 1] as bigint);
    this.rowSeq = int64(row[this.n + 3] as bigint);
  }

  advance(): void {
    if (this.direct) {
      const { overridden } = this;
      const m = this.columns.length;
      let i = this.col + 1;
      while (i < m && overridden[i] === 1) i++;
      if (i < m) {
        this.col = i;
        this.seq = seqAt(this.directBase, i);
        return;
      }
      this.direct = false;
    }
    for (;;) {
      if (this.from < this.waiting.length) {
        const c = this.waiting[this.from]!;
        if (this.row === undefined || before(c, this.rowDbv, this.rowSeq)) {
          this.from++;
          this.pos = c.dbVersion;
          this.seq = c.seq;
          return;
        }
        this.expand();
      } else if (this.row === undefined) {
        this.done = true;
        return;
      } else if (this.start()) return;
    }
  }

  fill(out: Change): number {
    if (this.direct) {
      const i = this.col;
      out.table = this.table.info.name;
      out.pk = this.directPk;
      out.cid = this.columns[i]!;
      out.colVersion = this.directCv;
      out.dbVersion = this.pos;
      out.siteId = this.directSite;
      out.seq = this.seq;
      out.cl = this.directCl;
      out.val = this.directRow[this.n + 5 + i] ?? null;
      return this.directGroup;
    }
    const c = this.waiting[this.from - 1]!;
    out.table = c.table;
    out.pk = c.pk;
    out.cid = c.cid;
    out.colVersion = c.colVersion;
    out.dbVersion = c.dbVersion;
    out.siteId = c.siteId;
    out.seq = c.seq;
    out.cl = c.cl;
    out.val = c.val;
    return c.group;
  }

  /**
   * With no cell waiting: reads the next row straight if each of its cells comes before the row clock
   * after it (then none of the later rows' cells can come between them) and returns true with the head
   * set; else expands it into `waiting` (or skips it, if every column is overridden) and returns false.
   */
  private start(): boolean {
    const row = this.row!;
    const dbv = this.rowDbv;
    const base = this.rowSeq;
    this.mask(row);
    const { overridden } = this;
    const m = this.columns.length;
    let first = 0;
    while (first < m && overridden[first] === 1) first++;
    let last = m - 1;
    while (last >= first && overridden[last] === 1) last--;
    if (first === m) {
      this.fetch();
      return false;
    }
    this.fetch();
    const top = seqAt(base, last);
    if (this.row === undefined || dbv < this.rowDbv || (dbv === this.rowDbv && top < this.rowSeq)) {
      const n = this.n;
      this.direct = true;
      this.col = first;
      this.directRow = row;
      this.directPk = packKey(row, n);
      this.directCv = int64(row[n] as bigint);
      this.directSite = this.sites.bytesOf(Number(row[n + 2]));
      this.directBase = base;
      this.directCl = int64(row[n + 4] as bigint);
      this.directGroup = this.groups.next = (this.groups.next + 1) % GROUPS;
      this.pos = dbv;
      this.seq = seqAt(base, first);
      return true;
    }
    this.expandRow(row, dbv, base);
    return false;
  }

  /** Sets {@link overridden} for `row` from its overrides column. */
  private mask(row: SqlValue[]): void {
    const { overridden } = this;
    const mask = row[this.n + 5 + this.columns.length];
    overridden.fill(0);
    if (mask !== null) for (const p of (mask as string).split(',')) overridden[Number(p)] = 1;
  }

  /** Moves the next row's cells into `waiting`, in order, and fetches the row after it. */
  private expand(): void {
    const row = this.row!;
    this.mask(row);
    this.expandRow(row, this.rowDbv, this.rowSeq);
    this.fetch();
  }

  /** Moves the cells of `row` (its row clock at `dbVersion`, `base`; {@link overridden} set for it) into `waiting`, in order. */
  private expandRow(row: SqlValue[], dbVersion: Int64, base: Int64): void {
    const { n, columns, overridden, waiting, pool } = this;
    // The head (waiting[from - 1]) has been filled out already: every cell before `from` is spent.
    if (this.from === waiting.length) {
      for (let i = 0; i < waiting.length; i++) pool.push(waiting[i]!);
      waiting.length = 0;
      this.from = 0;
    } else if (this.from > 1024) {
      for (let i = 0; i < this.from; i++) pool.push(waiting[i]!);
      waiting.splice(0, this.from);
      this.from = 0;
    }
    const pk = packKey(row, n);
    const table = this.table.info.name;
    const colVersion = int64(row[n] as bigint);
    const siteId = this.sites.bytesOf(Number(row[n + 2]));
    const cl = int64(row[n + 4] as bigint);
    const group = (this.groups.next = (this.groups.next + 1) % GROUPS);
    for (let i = 0; i < columns.length; i++) {
      if (overridden[i] === 1) continue;
      const seq = seqAt(base, i);
      const c = pool.pop() ?? { table, pk, cid: '', colVersion, dbVersion, siteId, seq, cl, val: null, group };
      c.table = table;
      c.pk = pk;
      c.cid = columns[i]!;
      c.colVersion = colVersion;
      c.dbVersion = dbVersion;
      c.siteId = siteId;
      c.seq = seq;
      c.cl = cl;
      c.val = row[n + 5 + i] ?? null;
      c.group = group;
      // Insert in order (usually at the end), before any equal cell, as readChanges does.
      let j = waiting.length;
      while (j > this.from && !before(waiting[j - 1]!, dbVersion, seq)) j--;
      if (j === waiting.length) waiting.push(c);
      else waiting.splice(j, 0, c);
    }
  }

  close(): void {
    this.rows.close();
  }
}

/**
 * Every change with db_version > `since` across `tables`, as {@link readChanges}`(db, tables, sites,
 * since)` gives them, one at a time in {@link change}. Must run inside a read transaction (the
 * engine's `eachChange` does); {@link close} it if not read to the end.
 */
export class ChangeCursor {
  /** The current change once {@link next} returned true; overwritten by the next call: copy what you keep. */
  readonly change: Change = { table: '', pk: EMPTY, cid: '', colVersion: 0, dbVersion: 0, siteId: EMPTY, seq: 0, cl: 0, val: null };
  /**
   * The row group of {@link change}: a number ≥ 0 shared by consecutive changes that are cells of one
   * row clock — the same table, key (the same `pk` array), col_version, db_version, site id and cl —
   * so a consumer may reuse what it made of those for the previous change; -1 when there is none.
   */
  group = -1;
  private readonly streams: CellStream[] = [];
  private readonly groups = { next: 0 };

  constructor(db: SqliteConnection, tables: Iterable<CrrTable>, sites: Sites, since: number) {
    const s = BigInt(since);
    const add = (stream: CellStream): void => {
      if (stream.done) stream.close();
      else this.streams.push(stream);
    };
    try {
      for (const table of tables) {
        add(new Sentinels(new Rows(db, sqlOf(table, 'sentinels false', () => sentinelQuery(table, false)), [s]), table, sites));
        add(new Overrides(new Rows(db, sqlOf(table, 'overrides false', () => layoutQueries(table, false)[1]!.sql), [s]), table, sites));
        if (table.info.columns.length > 0) {
          const overrides = hasOverrides(db, table);
          add(new RowClockCells(new RowClockPages(db, table, overrides, s), table, sites, this.groups));
        }
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Moves to the next change (in {@link change}); false at the end. */
  next(): boolean {
    const streams = this.streams;
    if (streams.length === 0) return false;
    // Few tables: a linear scan for the smallest (db_version, seq), the first stream on a tie, as readChanges.
    let best = 0;
    for (let i = 1; i < streams.length; i++) {
      const a = streams[i]!;
      const b = streams[best]!;
      if (a.pos < b.pos || (a.pos === b.pos && a.seq < b.seq)) best = i;
    }
    const cur = streams[best]!;
    this.group = cur.fill(this.change);
    cur.advance();
    if (cur.done) streams.splice(best, 1);
    return true;
  }

  /** Ends the read early (returns its statements). */
  close(): void {
    for (const s of this.streams) s.close();
    this.streams.length = 0;
  }
}
