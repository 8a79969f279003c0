/**
 * Where {@link ChangeCursor} writes the changes it reads: row by row and cell by cell, straight from
 * the query's rows, with no object per change. `ddcp changes` writes them as JSON lines
 * (sync/jsonl-writer.ts: the lines' start and clock part once per row, a line per cell);
 * Engine.eachChange fills one reused change from them.
 */
import type { SqlValue } from './sqlite.ts';
import type { Int64 } from '../base/int64.ts';

/**
 * A consumer of changes in the order of an unfiltered read. The cursor calls {@link row} before the
 * first cell of each row clock, sentinel or override — and again whenever another row's cells came
 * in between — then {@link cell} for each change of that row, in order. Every call's arguments are
 * valid during the call only.
 */
export interface ChangeRowSink {
  /** Whether the sink wants the read to pause; the cursor looks before each cell. */
  readonly full: boolean;
  /**
   * The table, key, col_version, db_version, site id and causal length the next cells share.
   * `columns`: the table's columns (the same array for every row of one read); the key: the first
   * `keyColumns` values of `key`, packed as a change's `pk` is ({@link packKey}); `siteId` is the
   * same array for every row of one site.
   */
  row(table: string, columns: readonly string[], key: readonly SqlValue[], keyColumns: number, colVersion: Int64, dbVersion: Int64, siteId: Uint8Array, cl: Int64): void;
  /** A change of the current row: its column `cid` (index `column` of the row's `columns`, or -1 for a sentinel or an override), value and seq. */
  cell(cid: string, column: number, val: SqlValue, seq: Int64): void;
}
