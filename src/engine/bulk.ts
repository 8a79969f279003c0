/**
 * Running one statement over many rows: groups of a fixed size share a multi-row statement (what
 * costs is statements, not rows), the remainder goes one by one. Statements are cached per shape.
 */
import type { SqlValue, SqliteConnection, Statement } from './sqlite.ts';
import { toHex } from '../base/hex.ts';
import { keepHiddenClasses } from '../base/hidden-classes.ts';

/** A cache of statements built from a row count. */
export class StatementCache {
  private readonly cache = new Map<number, Statement>();
  private readonly db: SqliteConnection;
  private readonly build: (rows: number) => string;
  private readonly bigInts: boolean;
  constructor(db: SqliteConnection, build: (rows: number) => string, bigInts = false) {
    this.db = db;
    this.build = build;
    this.bigInts = bigInts;
  }
  get(rows: number): Statement {
    let s = this.cache.get(rows);
    if (!s) {
      s = this.db.prepare(this.build(rows));
      if (this.bigInts) {
        s.setReadBigInts(true);
        s.setReturnArrays(true);
      }
      this.cache.set(rows, s);
    }
    return s;
  }
}

/**
 * Calls `run(statement, params)` for `items` in groups of `group` (and single items for the rest),
 * where `params(item)` gives each item's parameters.
 */
export function inGroups<T>(items: readonly T[], group: number, cache: StatementCache, params: (item: T) => SqlValue[], run: (s: Statement, p: SqlValue[]) => void): void {
  let i = 0;
  for (; i + group <= items.length; i += group) {
    const p: SqlValue[] = [];
    for (let j = i; j < i + group; j++) for (const v of params(items[j]!)) p.push(v);
    run(cache.get(group), p);
  }
  for (; i < items.length; i++) run(cache.get(1), params(items[i]!));
}

/**
 * {@link inGroups} over rows already laid out flat, `width` values each: no array per row (merges
 * write a few of these per change).
 */
export function inFlatGroups(values: readonly SqlValue[], width: number, group: number, cache: StatementCache, run: (s: Statement, p: SqlValue[]) => void): void {
  const rows = values.length / width;
  let i = 0;
  for (; i + group <= rows; i += group) run(cache.get(group), values.slice(i * width, (i + group) * width));
  for (; i < rows; i++) run(cache.get(1), values.slice(i * width, (i + 1) * width));
}

/**
 * Rows' parameters for a multi-row statement, gathered straight into arrays of `group` rows (what
 * {@link inFlatGroups} would cut from one long array, without the copy). {@link put} a row's `width`
 * values, then call {@link endRow}. Each group's array is made at its full size and filled by index
 * (cheaper than growing it by pushes: merges write a few values per change) — but no larger than
 * the rows the caller expects (`rows`, a hint: more may come, the array then grows): a merge of one
 * row (a hub merges a push of one change at a time at low rates) made ~12 KB of arrays of 64 empty
 * rows per table per merge, the largest part of the hub's garbage per change.
 */
export class RowBatch {
  private readonly width: number;
  private readonly group: number;
  private readonly full: SqlValue[][] = [];
  /** The group being filled, and how many of its values are. */
  private values: SqlValue[];
  private n = 0;
  /** Rows still expected after the full groups (the hint less what they hold). */
  private expected: number;

  constructor(width: number, group: number, rows = group) {
    this.width = width;
    this.group = group;
    this.expected = rows;
    this.values = new Array<SqlValue>(width * Math.max(1, Math.min(group, rows)));
  }

  put(v: SqlValue): void {
    this.values[this.n++] = v;
  }

  endRow(): void {
    if (this.n === this.width * this.group) {
      this.full.push(this.values);
      this.expected -= this.group;
      this.values = new Array<SqlValue>(this.width * Math.max(1, Math.min(this.group, this.expected)));
      this.n = 0;
    }
  }

  /** Runs the full groups with the statement for `group` rows, then the rest one row at a time, in order (as {@link inFlatGroups}). */
  run(cache: StatementCache, run: (s: Statement, p: SqlValue[]) => void): void {
    for (const p of this.full) run(cache.get(this.group), p);
    const v = this.values;
    for (let i = 0; i < this.n; i += this.width) run(cache.get(1), v.slice(i, i + this.width));
  }
}

// Every merge makes RowBatches and drops them (hidden-classes.ts).
keepHiddenClasses(new RowBatch(1, 1, 1));

/** `(?, ?, …)` repeated: the VALUES list of a multi-row statement. */
export function placeholders(rows: number, columns: number): string {
  const one = `(${Array.from({ length: columns }, () => '?').join(', ')})`;
  return Array.from({ length: rows }, () => one).join(', ');
}

/** A string that identifies a list of SQL values exactly (type included): a map key for primary keys. */
export function valuesKey(values: readonly SqlValue[]): string {
  let out = '';
  for (const v of values) {
    switch (typeof v) {
      case 'bigint':
        out += `i${v}\u0000`;
        break;
      case 'number':
        out += `r${Object.is(v, -0) ? '-0' : v}\u0000`;
        break;
      case 'string':
        out += `t${v.length}:${v}\u0000`;
        break;
      default:
        out += v === null ? 'n\u0000' : `b${toHex(v)}\u0000`;
    }
  }
  return out;
}
