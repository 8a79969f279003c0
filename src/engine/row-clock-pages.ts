/**
 * The rows of a table's {@link rowClockQuery} (no excepted site, no rules) read in pages by `all()`
 * instead of one by one by `iterate()`: node:sqlite makes an iterator result and crosses into C++ per
 * row there, which for the bench's 100,000 row clocks cost ~30% of stepping them (~90 → ~60–80 ms
 * CPU, same rows and values). Each page continues from the last row of the previous one by the
 * index's own order — (db_version, seq), ties in rowid order — so the rows, and their order, are
 * exactly the unpaged query's: the rest of the last row's db_version after its seq, or, first, the
 * rows tied with it at that (db_version, seq) not yet read (an OFFSET past those read: ties are rare,
 * a tool moving clocks by hand makes them). Must run inside one read transaction, as the cursor does.
 */
import { borrow, giveBack, rowClockQuery, sqlOf, type RowClockPage } from './changes.ts';
import type { SqlValue, SqliteConnection, Statement } from './sqlite.ts';
import type { CrrTable } from './table.ts';

/** Rows per page: beyond a few thousand a page saves no more, and its rows are held at once. */
export const ROW_CLOCK_PAGE = { rows: 2048 };

export class RowClockPages {
  private page: SqlValue[][] = [];
  private at = 0;
  /** Which rows the next page reads: `since` after {@link dbv}, else at or after ({@link dbv}, {@link seq}). */
  private from: RowClockPage = 'since';
  private dbv: SqlValue;
  private seq: SqlValue = null;
  /** How many rows at ({@link dbv}, {@link seq}) have been read (the next `at` page's OFFSET). */
  private ties = 0;
  private ended = false;
  private readonly size: number;
  readonly db: SqliteConnection;
  private readonly sql: Record<RowClockPage, string>;
  private stmts: Partial<Record<RowClockPage, Statement>> = {};
  /** Where the db_version and seq are in a row (past the key columns). */
  private readonly dbvAt: number;
  private readonly seqAt: number;

  /** The pages of `table`'s rows after `since` (its {@link rowClockQuery} with `overrides` and `sentinels`). */
  static of(db: SqliteConnection, table: CrrTable, overrides: boolean, sentinels: boolean, since: bigint, size = ROW_CLOCK_PAGE.rows): RowClockPages {
    const of = (page: RowClockPage): string => sqlOf(table, `row clock page ${page} ${overrides} ${sentinels}`, () => rowClockQuery(table, false, overrides, undefined, page, sentinels));
    return new RowClockPages(db, { since: of('since'), after: of('after'), at: of('at') }, table.info.pks.length, since, size);
  }

  /** `sql`: the query's text per kind of page; `keyColumns`: the table's primary key columns. */
  constructor(db: SqliteConnection, sql: Record<RowClockPage, string>, keyColumns: number, since: bigint, size = ROW_CLOCK_PAGE.rows) {
    this.db = db;
    this.size = size;
    this.dbv = since;
    this.sql = sql;
    this.dbvAt = keyColumns + 1;
    this.seqAt = keyColumns + 3;
  }

  /** The next row, or undefined at the end. */
  next(): SqlValue[] | undefined {
    while (this.at === this.page.length) {
      if (this.ended) return undefined;
      this.read();
    }
    return this.page[this.at++];
  }

  /** Reads the next page (possibly empty: then the next stage, or the end). */
  private read(): void {
    const from = this.from;
    const size = this.size;
    const stmt = (this.stmts[from] ??= borrow(this.db, this.sql[from]));
    const rows = (from === 'since' ? stmt.all(this.dbv, size, 0) : stmt.all(this.dbv, this.seq, size, from === 'at' ? this.ties : 0)) as SqlValue[][];
    this.page = rows;
    this.at = 0;
    if (rows.length < size) {
      // This stage has no more rows: `at` goes on after the seq, `after` with the next db_versions.
      if (from === 'since') this.ended = true;
      else this.from = from === 'at' ? 'after' : 'since';
      return;
    }
    // A full page: more may follow, starting with rows tied with its last one.
    const last = rows[size - 1]!;
    const dbv = last[this.dbvAt]!;
    const seq = last[this.seqAt]!;
    let run = 1;
    while (run < size && rows[size - 1 - run]![this.dbvAt] === dbv && rows[size - 1 - run]![this.seqAt] === seq) run++;
    // Only an `at` page continues the run of ties before it (the others start past it).
    this.ties = from === 'at' && run === size ? this.ties + run : run;
    this.dbv = dbv;
    this.seq = seq;
    this.from = 'at';
  }

  /** Gives the statements back. */
  close(): void {
    for (const from of ['since', 'after', 'at'] as const) {
      const stmt = this.stmts[from];
      if (stmt) giveBack(this.db, this.sql[from], stmt);
    }
    this.stmts = {};
    this.page = [];
    this.at = 0;
    this.ended = true;
  }
}
