/**
 * Rows new here, decided once per row instead of once per cell. The bulk of an initial sync is rows
 * this database has never seen: no key, so no clocks to compare with, and every change wins. For such
 * a row whose changes all carry one odd causal length, one col_version and one origin, and name
 * consecutive columns in table order (with the sentinel, if any, first — or last at causal length 1),
 * the rules (`mergeCell`, rules.ts) would take every value and stamp the cells with consecutive seqs:
 * one group of the row-level layout (layout.ts), so the key map's row clock with no overrides but
 * markers for the columns the row lacks. This file decides that directly; anything else goes through
 * the rules (merge.ts). A property test (new-rows.test.ts) holds the two paths to the same result.
 */
import type { Change } from './change.ts';
import type { CellClock, Stamp } from './rules.ts';
import { SENTINEL } from './schema.ts';
import { bytesEqual } from './value.ts';
import { int64, isEven } from '../base/int64.ts';

/** Which columns a new row writes: shared by the rows of one shape (most rows of a table). */
export interface NewRowShape {
  /** The columns written, in table order. */
  readonly cols: readonly string[];
  /** The same joined: the key of the upsert statement that writes them (table.ts). */
  readonly id: string;
  /** The table's other columns: they get an override marker (no clock) beside the row clock. */
  readonly markers: readonly string[];
}

/** A new row decided in bulk: what `mergeCell` and `encodeRow` would have left. */
export interface NewRow {
  readonly shape: NewRowShape;
  /** The row's changes; its values are `changes[first + i].val` for the shape's columns. */
  readonly changes: readonly Change[];
  readonly first: number;
  readonly sentinel: CellClock | undefined;
  /** The row clock: cell i of the table has seq `clock.seq + i`. */
  readonly clock: CellClock;
}

/** The local ordinal of a site id, added if new (an object with a method: see merge.ts's SeqStamp for why not a closure). */
export interface SiteOrdinalOf {
  ordinal(siteId: Uint8Array): number;
}

/** The columns of a table as the bulk decision needs them. */
export class NewRowColumns {
  readonly columns: readonly string[];
  private readonly positions = new Map<string, number>();
  private readonly shapes = new Map<number, NewRowShape>();

  constructor(columns: readonly string[]) {
    this.columns = columns;
    columns.forEach((c, i) => this.positions.set(c, i));
  }

  position(cid: string): number | undefined {
    return this.positions.get(cid);
  }

  /** The shape of `count` columns from position `pos`. */
  shape(pos: number, count: number): NewRowShape {
    // Most rows of a merge have the shape of the row before.
    const last = this.last;
    if (last !== undefined && this.lastPos === pos && this.lastCount === count) return last;
    const n = this.columns.length;
    const id = pos * (n + 1) + count;
    let s = this.shapes.get(id);
    if (!s) {
      const cols = this.columns.slice(pos, pos + count);
      s = { cols, id: cols.join('\u0000'), markers: [...this.columns.slice(0, pos), ...this.columns.slice(pos + count)] };
      this.shapes.set(id, s);
    }
    this.last = s;
    this.lastPos = pos;
    this.lastCount = count;
    return s;
  }

  private last: NewRowShape | undefined;
  private lastPos = 0;
  private lastCount = 0;
}

/**
 * Decides the changes of a row that has no key here (checked by the caller), `changes[start]` to
 * `changes[end - 1]`, stamping its clocks from `stamp` and `sites` in the order the rules
 * would; or returns undefined, stamping nothing, when the row needs the rules. The changes are valid
 * (checkChange) and name columns the table has.
 */
export function decideNewRow(
  table: NewRowColumns,
  changes: readonly Change[],
  stamp: Stamp,
  sites: SiteOrdinalOf,
  start = 0,
  end = changes.length,
): NewRow | undefined {
  const head = changes[start]!;
  const cl = int64(head.cl);
  if (isEven(cl)) return undefined;
  let lo = start;
  let hi = end;
  let sentinelFirst = false;
  let sentinelLast = false;
  if (head.cid === SENTINEL) {
    lo = start + 1;
    sentinelFirst = true;
  } else if (cl !== 1) {
    // A cell at a later causal length credits the revival to the unknown site: the rules decide.
    return undefined;
  } else if (changes[end - 1]!.cid === SENTINEL) {
    // At causal length 1 the sentinel after the cells wins over none (incomingSiteWins).
    hi = end - 1;
    sentinelLast = true;
    if (int64(changes[hi]!.cl) !== cl) return undefined;
  }
  if (lo >= hi) return undefined;
  const first = changes[lo]!;
  const columns = table.columns;
  // The commonest row starts at the first column: no lookup for it.
  const pos = first.cid === columns[0] ? 0 : table.position(first.cid);
  if (pos === undefined) return undefined;
  const colVersion = int64(first.colVersion);
  const site = first.siteId;
  for (let j = lo; j < hi; j++) {
    const c = changes[j]!;
    if (c.cid === SENTINEL || c.cid !== columns[pos + j - lo] || int64(c.cl) !== cl) return undefined;
    if (j === lo) continue;
    if (int64(c.colVersion) !== colVersion) return undefined;
    if (c.siteId !== site && !bytesEqual(c.siteId, site)) return undefined;
  }
  // Stamped in the rules' order: each change takes the next seq as it wins.
  const dbVersion = stamp.dbVersion;
  const sentinel: CellClock | undefined = sentinelFirst ? { colVersion: cl, dbVersion, site: sites.ordinal(head.siteId), seq: stamp.nextSeq() } : undefined;
  const clock: CellClock = { colVersion, dbVersion, site: sites.ordinal(site), seq: stamp.nextSeq() - pos };
  for (let j = lo + 1; j < hi; j++) stamp.nextSeq();
  return {
    shape: table.shape(pos, hi - lo),
    changes,
    first: lo,
    sentinel: sentinelLast ? { colVersion: cl, dbVersion, site: sites.ordinal(changes[end - 1]!.siteId), seq: stamp.nextSeq() } : sentinel,
    clock,
  };
}
