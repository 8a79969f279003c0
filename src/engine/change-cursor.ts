/**
 * The changes of an unfiltered read — {@link readChanges} with no read filter and no excepted site —
 * in exactly its order, written into a {@link ChangeRowSink} straight from the query's rows instead of
 * an object per change: `ddcp changes` turns them into JSON lines at once, and the 300,000 change
 * objects of a large read, their collection and the generators they pass through were a large share
 * of the read. A read allocates only what node:sqlite hands over and a few pooled cells (for row
 * clocks whose cells interleave with the next one's). The streams and their merge are readChanges's
 * (same queries, same tie-breaks); property tests hold the two reads to the same changes and bytes.
 */
import type { Change } from './change.ts';
import type { ChangeRowSink } from './change-row-sink.ts';
import type { Sites } from './clock.ts';
import { hasOverrides, hasSentinels, layoutQueries, Rows, sentinelQuery, sqlOf } from './changes.ts';
import { RowClockPages } from './row-clock-pages.ts';
import { packKey } from './pack.ts';
import { SENTINEL } from './schema.ts';
import type { SqlValue, SqliteConnection } from './sqlite.ts';
import type { CrrTable } from './table.ts';
import { int64, type Int64 } from '../base/int64.ts';
import { keepHiddenClasses } from '../base/hidden-classes.ts';
import { exactRow, exactValue } from './exact-text.ts';

const EMPTY = new Uint8Array(0);

/**
 * Which row the sink last had {@link ChangeRowSink.row} for: row clocks are numbered (round) as they are
 * read; -1 after a sentinel or an override, which always start a row of their own.
 */
interface Groups {
  next: number;
  current: number;
}

/** Row groups are numbered round (they only need to differ from the one the sink has). */
const GROUPS = 0x40000000;

/**
 * One ordered stream of a table's changes: while not `done`, its head is at (`pos`, `seq`). {@link
 * first} reads the first, not the constructor: the streams kept for their hidden classes (below) read
 * nothing.
 */
interface CellStream {
  done: boolean;
  /** The head's db_version. */
  pos: Int64;
  /** The head's seq. */
  seq: Int64;
  /** Writes the head into `sink` (after {@link ChangeRowSink.row}, unless the sink has the head's row already). */
  write(sink: ChangeRowSink, groups: Groups): void;
  first(): void;
  advance(): void;
  /**
   * Writes the head and the changes after it that come strictly before (`pos`, `seq`) — all, if
   * `pos` is undefined — until the sink is full, leaving the head on the first not written.
   */
  run(sink: ChangeRowSink, groups: Groups, pos: Int64 | undefined, seq: Int64): void;
  close(): void;
}

/** Whether the head of `s` comes strictly before (`pos`, `seq`) (always, if `pos` is undefined). */
const ahead = (s: CellStream, pos: Int64 | undefined, seq: Int64): boolean => pos === undefined || s.pos < pos || (s.pos === pos && s.seq < seq);

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
  }
  first(): void {
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
  abstract write(sink: ChangeRowSink, groups: Groups): void;
  run(sink: ChangeRowSink, groups: Groups, pos: Int64 | undefined, seq: Int64): void {
    do {
      this.write(sink, groups);
      this.advance();
    } while (!this.done && !sink.full && ahead(this, pos, seq));
  }
  close(): void {
    this.rows.close();
  }
}

/** The sentinels of a {@link sentinelQuery} (pk…, cl, db_version, site, seq). */
class Sentinels extends QueryCells {
  constructor(rows: Rows, table: CrrTable, sites: Sites) {
    super(rows, table, sites, 1, 3);
  }
  write(sink: ChangeRowSink, groups: Groups): void {
    const { row, n } = this;
    const cl = int64(row[n] as bigint);
    groups.current = -1;
    sink.row(this.table.info.name, this.table.info.columns, row, n, cl, this.pos, this.sites.bytesOf(Number(row[n + 2])), cl);
    sink.cell(SENTINEL, -1, null, this.seq);
  }
}

/** The overrides: query rows with one change each (pk…, cid, col_version, db_version, site, seq, cl, val). */
class Overrides extends QueryCells {
  constructor(rows: Rows, table: CrrTable, sites: Sites) {
    super(rows, table, sites, 2, 4);
  }
  write(sink: ChangeRowSink, groups: Groups): void {
    const { row, n } = this;
    groups.current = -1;
    sink.row(this.table.info.name, this.table.info.columns, row, n, int64(row[n + 1] as bigint), this.pos, this.sites.bytesOf(Number(row[n + 3])), int64(row[n + 5] as bigint));
    // U+FFFD may stand for bytes that aren't UTF-8: the cell's exact text instead (exact-text.ts).
    sink.cell(row[n] as string, -1, exactValue(this.rows.db, this.table, row, n, row[n] as string, row[n + 6] ?? null), this.seq);
  }
}

/**
 * A cell of a row clock expanded to wait for other rows' cells (rare: clocks moved by hand make
 * rows whose cells interleave): column `col` of `row`, its row clock at `dbv`, its own `seq`.
 */
interface Cell {
  row: SqlValue[];
  col: number;
  dbv: Int64;
  seq: Int64;
  group: number;
}

/** Whether (db_version, seq) of `c` comes before (`dbv`, `seq`). */
const before = (c: Cell, dbv: Int64, seq: Int64): boolean => c.dbv < dbv || (c.dbv === dbv && c.seq < seq);

/** The seq of column `i` of a row clock whose column 0 has seq `base`. */
const seqAt = (base: Int64, i: number): Int64 => (typeof base === 'number' && Number.isSafeInteger(base + i) ? base + i : int64(BigInt(base) + BigInt(i)));

/**
 * The cells of row clocks from the rows of a {@link rowClockQuery} (one per table row, ordered by row
 * clock), in (db_version, seq) order — readChanges's RowClockStream without rules. A row whose cells
 * all come before the next row clock (the common case: nothing waits) is written straight from its
 * SQL row, cell by cell; any other is expanded into waiting cells as RowClockStream does, taken from
 * a pool instead of made per cell.
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
  /** Whether the head is column `col` of the row read straight (`directRow`), not a waiting cell. */
  private direct = false;
  private col = 0;
  private directRow: SqlValue[] = [];
  /** The seq of column 0 of `directRow`'s row clock. */
  private directBase: Int64 = 0;
  private directGroup = 0;
  private readonly n: number;
  private readonly name: string;
  private readonly table: CrrTable;
  private readonly columns: readonly string[];
  /** Per column, whether the row being expanded (or read straight) overrides it. */
  private readonly overridden: Uint8Array;
  private readonly rows: RowClockPages;
  private readonly sites: Sites;
  private readonly groups: Groups;
  constructor(rows: RowClockPages, table: CrrTable, sites: Sites, groups: Groups) {
    this.rows = rows;
    this.sites = sites;
    this.groups = groups;
    this.table = table;
    this.n = table.info.pks.length;
    this.name = table.info.name;
    this.columns = table.info.columns;
    this.overridden = new Uint8Array(this.columns.length);
  }

  first(): void {
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
    exactRow(this.rows.db, this.table, row, this.n, this.n + 5, this.columns);
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
          this.pos = c.dbv;
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

  write(sink: ChangeRowSink, groups: Groups): void {
    const n = this.n;
    if (this.direct) {
      const row = this.directRow;
      if (groups.current !== this.directGroup) {
        this.rowOf(sink, row, this.pos);
        groups.current = this.directGroup;
      }
      const i = this.col;
      sink.cell(this.columns[i]!, i, row[n + 5 + i] ?? null, this.seq);
      return;
    }
    const c = this.waiting[this.from - 1]!;
    if (groups.current !== c.group) {
      this.rowOf(sink, c.row, c.dbv);
      groups.current = c.group;
    }
    sink.cell(this.columns[c.col]!, c.col, c.row[n + 5 + c.col] ?? null, c.seq);
  }

  run(sink: ChangeRowSink, groups: Groups, pos: Int64 | undefined, seq: Int64): void {
    do {
      if (this.direct) this.runRow(sink, groups, pos, seq);
      else {
        this.write(sink, groups);
        this.advance();
      }
    } while (!this.done && !sink.full && ahead(this, pos, seq));
  }

  /**
   * {@link run} over the cells of the row read straight, in one loop (most of a read's changes come
   * here): from the head on while they come before (`pos`, `seq`) and the sink has room; past its
   * last cell, the head moves on as {@link advance} moves it.
   */
  private runRow(sink: ChangeRowSink, groups: Groups, pos: Int64 | undefined, seq: Int64): void {
    const row = this.directRow;
    if (groups.current !== this.directGroup) {
      this.rowOf(sink, row, this.pos);
      groups.current = this.directGroup;
    }
    const { columns, overridden } = this;
    const m = columns.length;
    const at = this.n + 5;
    const base = this.directBase;
    let i = this.col;
    let s = this.seq;
    for (;;) {
      sink.cell(columns[i]!, i, row[at + i] ?? null, s);
      i++;
      while (i < m && overridden[i] === 1) i++;
      if (i === m) {
        this.direct = false;
        this.advance();
        return;
      }
      s = seqAt(base, i);
      this.col = i;
      this.seq = s;
      if (sink.full || (pos !== undefined && !(this.pos < pos || (this.pos === pos && s < seq)))) return;
    }
  }

  /** {@link ChangeRowSink.row} of a row clock's `row` (its db_version `dbv`, known already). */
  private rowOf(sink: ChangeRowSink, row: SqlValue[], dbv: Int64): void {
    const n = this.n;
    sink.row(this.name, this.columns, row, n, int64(row[n] as bigint), dbv, this.sites.bytesOf(Number(row[n + 2])), int64(row[n + 4] as bigint));
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
      this.direct = true;
      this.col = first;
      this.directRow = row;
      this.directBase = base;
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

  /** Moves the cells of `row` (its row clock at `dbv`, `base`; {@link overridden} set for it) into `waiting`, in order. */
  private expandRow(row: SqlValue[], dbv: Int64, base: Int64): void {
    const { columns, overridden, waiting, pool } = this;
    // The head (waiting[from - 1]) has been written out already: every cell before `from` is spent.
    if (this.from === waiting.length) {
      for (let i = 0; i < waiting.length; i++) pool.push(waiting[i]!);
      waiting.length = 0;
      this.from = 0;
    } else if (this.from > 1024) {
      for (let i = 0; i < this.from; i++) pool.push(waiting[i]!);
      waiting.splice(0, this.from);
      this.from = 0;
    }
    const group = (this.groups.next = (this.groups.next + 1) % GROUPS);
    for (let i = 0; i < columns.length; i++) {
      if (overridden[i] === 1) continue;
      const seq = seqAt(base, i);
      const c = pool.pop() ?? { row, col: i, dbv, seq, group };
      c.row = row;
      c.col = i;
      c.dbv = dbv;
      c.seq = seq;
      c.group = group;
      // Insert in order (usually at the end), before any equal cell, as readChanges does.
      let j = waiting.length;
      while (j > this.from && !before(waiting[j - 1]!, dbv, seq)) j--;
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
 * since)` gives them, written into a {@link ChangeRowSink} by {@link pump}. Must run inside a read
 * transaction (the engine's `eachChange` and `writeChanges` do); {@link close} it if not read to the end.
 */
export class ChangeCursor {
  private readonly streams: CellStream[] = [];
  private readonly groups: Groups = { next: 0, current: -1 };

  constructor(db: SqliteConnection, tables: Iterable<CrrTable>, sites: Sites, since: number) {
    const s = BigInt(since);
    const add = (stream: CellStream): void => {
      stream.first();
      if (stream.done) stream.close();
      else this.streams.push(stream);
    };
    try {
      for (const table of tables) {
        add(new Sentinels(new Rows(db, sqlOf(table, 'sentinels false', () => sentinelQuery(table, false)), [s]), table, sites));
        add(new Overrides(new Rows(db, sqlOf(table, 'overrides false', () => layoutQueries(table, false)[1]!.sql), [s]), table, sites));
        if (table.info.columns.length > 0) {
          const overrides = hasOverrides(db, table);
          add(new RowClockCells(RowClockPages.of(db, table, overrides, hasSentinels(db, table), s), table, sites, this.groups));
        }
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /**
   * Writes the next changes into `sink` until it is {@link ChangeRowSink.full} (then returns true: call
   * again to go on) or none are left (returns false).
   */
  pump(sink: ChangeRowSink): boolean {
    const streams = this.streams;
    const groups = this.groups;
    for (;;) {
      if (sink.full) return true;
      if (streams.length === 0) return false;
      // Few tables: a linear scan for the smallest (db_version, seq), the first stream on a tie, as
      // readChanges; and the smallest of the others, up to which the chosen one goes on unasked.
      let best = 0;
      for (let i = 1; i < streams.length; i++) {
        const a = streams[i]!;
        const b = streams[best]!;
        if (a.pos < b.pos || (a.pos === b.pos && a.seq < b.seq)) best = i;
      }
      const cur = streams[best]!;
      let bound: CellStream | undefined;
      for (let i = 0; i < streams.length; i++) {
        const a = streams[i]!;
        if (i !== best && (bound === undefined || a.pos < bound.pos || (a.pos === bound.pos && a.seq < bound.seq))) bound = a;
      }
      // Strictly before the others' heads only: on a tie the scan decides again.
      if (bound === undefined) cur.run(sink, groups, undefined, 0);
      else cur.run(sink, groups, bound.pos, bound.seq);
      if (cur.done) streams.splice(best, 1);
    }
  }

  /** Ends the read early (returns its statements). */
  close(): void {
    for (const s of this.streams) s.close();
    this.streams.length = 0;
  }
}

/**
 * A {@link ChangeRowSink} handing each change to `each` in one reused {@link Change} (Engine.eachChange):
 * with a `group` ≥ 0 that changes whenever the row does for the cells of row clocks, so consecutive
 * changes with the same group are cells of one row clock (the same table, `pk` array, col_version,
 * db_version, site id and cl); -1 for sentinels and overrides.
 */
export class ChangeOut implements ChangeRowSink {
  readonly change: Change = { table: '', pk: EMPTY, cid: '', colVersion: 0, dbVersion: 0, siteId: EMPTY, seq: 0, cl: 0, val: null };
  group = -1;
  /** What `each` returned for the last change (the reader resets it when it has paused). */
  full = false;
  private readonly each: (c: Readonly<Change>, group: number) => boolean;
  constructor(each: (c: Readonly<Change>, group: number) => boolean) {
    this.each = each;
  }
  row(table: string, _columns: readonly string[], key: readonly SqlValue[], keyColumns: number, colVersion: Int64, dbVersion: Int64, siteId: Uint8Array, cl: Int64): void {
    const c = this.change;
    c.table = table;
    c.pk = packKey(key, keyColumns);
    c.colVersion = colVersion;
    c.dbVersion = dbVersion;
    c.siteId = siteId;
    c.cl = cl;
    this.group = (this.group + 1) % GROUPS;
  }
  cell(cid: string, column: number, val: SqlValue, seq: Int64): void {
    const c = this.change;
    c.cid = cid;
    c.val = val;
    c.seq = seq;
    // A sentinel's or an override's cell (no column index) is a row of its own: no group, as before.
    this.full = this.each(c, column < 0 ? -1 : this.group);
  }
}

// An instance of each class a read makes and drops, kept so that a full collection between reads
// doesn't throw away the read's optimized code (hidden-classes.ts). Never started: they read nothing.
{
  const table = { info: { name: '', pks: [], columns: [] } } as unknown as CrrTable;
  const none = undefined as unknown;
  const pages = new RowClockPages(none as SqliteConnection, { since: '', after: '', at: '' }, 0, 0n);
  const cursor = new ChangeCursor(none as SqliteConnection, [], none as Sites, 0);
  keepHiddenClasses(new Sentinels(none as Rows, table, none as Sites), new Overrides(none as Rows, table, none as Sites), pages, new RowClockCells(pages, table, none as Sites, { next: 0, current: -1 }), cursor, new ChangeOut(() => false));
}
