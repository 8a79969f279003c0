/**
 * A CRR cell's TEXT exactly as stored. node:sqlite decodes TEXT that is not valid UTF-8 (a plain
 * SQLite client or cr-sqlite may store it) with U+FFFD in place of the bad bytes, so a change read
 * as node:sqlite gives it would carry other bytes to peers than the writer keeps. A string holding
 * U+FFFD is rare and the only one that may differ: such a cell is read again as its bytes and carried
 * as text with the invalid bytes escaped (text-bytes.ts), which packs and stores as those bytes.
 * Valid text costs one `indexOf` per value (none for Latin-1 strings, which can't hold U+FFFD).
 */
import { SchemaError } from './errors.ts';
import { ident, type SqlValue, type SqliteConnection, type Statement } from './sqlite.ts';
import type { CrrTable } from './table.ts';
import { textOf } from './text-bytes.ts';

/** Whether `v` is text node:sqlite may have decoded lossily (it holds U+FFFD). */
export function mayBeLossy(v: SqlValue): v is string {
  return typeof v === 'string' && v.indexOf('\uFFFD') !== -1;
}

/** The statements reading one column's bytes, per connection, table and column. */
const reads = new WeakMap<SqliteConnection, WeakMap<CrrTable, Map<string, Statement>>>();

function readOf(db: SqliteConnection, table: CrrTable, cid: string): Statement {
  let byTable = reads.get(db);
  if (!byTable) reads.set(db, (byTable = new WeakMap()));
  let byCid = byTable.get(table);
  if (!byCid) byTable.set(table, (byCid = new Map()));
  let s = byCid.get(cid);
  if (!s) {
    const where = table.info.pks.map((p) => `${ident(p)} = ?`).join(' AND ');
    s = db.prepare(`SELECT CAST(${ident(cid)} AS BLOB) FROM ${ident(table.info.name)} WHERE ${where}`);
    s.setReturnArrays(true);
    s.setReadBigInts(true);
    byCid.set(cid, s);
  }
  return s;
}

/**
 * The exact text of column `cid` of the row keyed by `key[0..n)` (as a query row gives it), read as
 * `v` by node:sqlite: `v` itself if valid, else with its invalid bytes escaped. Throws {@link
 * SchemaError} if the row can't be found by its key: then the key itself is text that isn't valid
 * UTF-8, which ddcp can't carry exactly (refused rather than sent changed).
 */
export function exactText(db: SqliteConnection, table: CrrTable, key: readonly SqlValue[], n: number, cid: string, v: string): string {
  const args = key.slice(0, n) as SqlValue[];
  const r = readOf(db, table, cid).get(...(args as never[])) as unknown as [Uint8Array | null] | undefined;
  if (r === undefined) throw new SchemaError(`a primary key of table ${table.info.name} holds text that is not valid UTF-8: ddcp can't sync it exactly`);
  return r[0] instanceof Uint8Array ? textOf(r[0]) : v;
}

/** `v`, column `cid` of the row keyed by `key[0..n)`, as stored: itself unless it {@link mayBeLossy} (then {@link exactText}). */
export function exactValue(db: SqliteConnection, table: CrrTable, key: readonly SqlValue[], n: number, cid: string, v: SqlValue): SqlValue {
  return mayBeLossy(v) ? exactText(db, table, key, n, cid, v) : v;
}

/** Makes each value of `row[from..from + columns.length)` (of `columns`, in order) exact ({@link exactValue}), in place. */
export function exactRow(db: SqliteConnection, table: CrrTable, row: SqlValue[], n: number, from: number, columns: readonly string[]): void {
  for (let i = 0; i < columns.length; i++) row[from + i] = exactValue(db, table, row, n, columns[i]!, row[from + i]!);
}
