/**
 * The CRR rules of cr-sqlite 0.16 as pure functions over one row's clock state.
 *
 * - Each column is a last-writer-wins register ordered by col_version, then by value
 *   ({@link compareValues}). When both are equal the values are the same, and the greater origin
 *   site id wins the metadata, so every replica ends with the same clock (cr-sqlite keeps whichever
 *   it saw first; the table contents are the same either way).
 * - The row is a causal-length set, kept in the sentinel (cid `-1`): odd = alive, even = deleted.
 *   A greater causal length wins outright; a smaller one is ignored.
 */
import { SENTINEL } from './schema.ts';
import type { SqlValue } from './sqlite.ts';
import { compareBytes, compareValues } from './value.ts';
import { addInt64, isEven, type Int64 } from '../base/int64.ts';
import { MAX_CLOCK } from './change.ts';

/**
 * The clock of one cell (or of the row sentinel). `site` is a local ordinal: 0 is this database.
 * Versions are 64-bit (base/int64.ts); `<`, `>` and `===` work across their two representations.
 */
export interface CellClock {
  colVersion: Int64;
  dbVersion: number;
  site: number;
  seq: number;
}

/** One row's clocks, with what changed since it was loaded. */
export class RowState {
  sentinel: CellClock | undefined;
  readonly cells = new Map<string, CellClock>();
  sentinelDirty = false;
  /** Every cell clock was removed (row deleted) before the dirty cells were set. */
  cellsCleared = false;
  readonly dirtyCells = new Set<string>();

  constructor(sentinel?: CellClock, cells?: Iterable<[string, CellClock]>) {
    this.sentinel = sentinel;
    if (cells) for (const [cid, c] of cells) this.cells.set(cid, c);
  }

  /** The row's causal length: the sentinel's version, 1 for a row known only by its cells, 0 if unknown. */
  causalLength(): Int64 {
    return this.sentinel ? this.sentinel.colVersion : this.cells.size > 0 ? 1 : 0;
  }

  get dirty(): boolean {
    return this.sentinelDirty || this.cellsCleared || this.dirtyCells.size > 0;
  }

  setSentinel(clock: CellClock): void {
    this.sentinel = clock;
    this.sentinelDirty = true;
  }

  setCell(cid: string, clock: CellClock): void {
    this.cells.set(cid, clock);
    this.dirtyCells.add(cid);
  }

  clearCells(): void {
    this.cells.clear();
    this.dirtyCells.clear();
    this.cellsCleared = true;
  }
}

/** Where new clocks are stamped: this transaction's db_version and the next seq. */
export interface Stamp {
  readonly dbVersion: number;
  nextSeq(): number;
}

const local = (colVersion: Int64, stamp: Stamp): CellClock => ({ colVersion, dbVersion: stamp.dbVersion, site: 0, seq: stamp.nextSeq() });

/**
 * `v + n`, or undefined past {@link MAX_CLOCK}: local writes never stamp a clock the gate would
 * refuse, so what this database sends is always accepted (clocks that high only come from a forger).
 */
const step = (v: Int64, n: number): Int64 | undefined => {
  const r = addInt64(v, n);
  return r > MAX_CLOCK ? undefined : r;
};

/**
 * A write to columns of a live row whose col_version can't step any more: the row starts a new life
 * (causal length + 2, which wins outright everywhere) with the written columns at 1 and the others
 * at 0, as a peer's merge of a new life would leave them. If the causal length can't step either, the
 * row is pinned at the limit and the write stays local (see README "Limits").
 */
function rebase(row: RowState, columns: readonly string[], stamp: Stamp): void {
  const up = step(row.causalLength(), 2);
  if (up === undefined) return;
  row.setSentinel(local(up, stamp));
  for (const cid of [...row.cells.keys()]) row.setCell(cid, local(0, stamp));
  for (const c of columns) row.setCell(c, local(1, stamp));
}

/** A local INSERT (also INSERT OR REPLACE over a live row, which SQLite reports as an insert). */
export function localInsert(row: RowState, columns: readonly string[], stamp: Stamp): void {
  const cl = row.causalLength();
  if (cl === 0) {
    if (columns.length === 0) row.setSentinel(local(1, stamp));
    for (const c of columns) row.setCell(c, local(1, stamp));
  } else if (isEven(cl)) {
    const up = step(cl, 1);
    if (up === undefined) return;
    row.setSentinel(local(up, stamp));
    row.clearCells();
    for (const c of columns) row.setCell(c, local(1, stamp));
  } else {
    const up = row.sentinel ? step(cl, 2) : cl;
    if (up === undefined) return;
    const versions = columns.map((c) => step(row.cells.get(c)?.colVersion ?? 0, 1));
    if (versions.includes(undefined)) return rebase(row, columns, stamp);
    if (row.sentinel) row.setSentinel(local(up, stamp));
    columns.forEach((c, i) => row.setCell(c, local(versions[i]!, stamp)));
  }
}

/** A local UPDATE of some non-key columns. */
export function localUpdate(row: RowState, changed: readonly string[], stamp: Stamp): void {
  const versions = changed.map((c) => step(row.cells.get(c)?.colVersion ?? 0, 1));
  if (versions.includes(undefined)) return rebase(row, changed, stamp);
  changed.forEach((c, i) => row.setCell(c, local(versions[i]!, stamp)));
}

/** A local DELETE. */
export function localDelete(row: RowState, stamp: Stamp): void {
  const cl = row.causalLength();
  const up = step(cl, isEven(cl) ? 2 : 1);
  if (up === undefined) return;
  row.setSentinel(local(up, stamp));
  row.clearCells();
}

/**
 * A change from a peer. Its origin site is given as bytes; the merge asks the context for its local
 * ordinal only when the change wins (a change that changes nothing adds no site).
 */
export interface IncomingCell {
  cid: string;
  val: SqlValue;
  colVersion: Int64;
  cl: Int64;
  siteId: Uint8Array;
}

/** What a merge does to the table row itself. */
export class RowEffects {
  /** Delete the row before anything else. */
  deleteFirst = false;
  /** The row must exist afterwards (inserted with defaults if missing). */
  exists = false;
  /** Column values to write. */
  readonly values = new Map<string, SqlValue>();
}

export interface MergeContext {
  stamp: Stamp;
  /** The row's current value of a column (read lazily: only ties need it). */
  currentValue(cid: string): SqlValue;
  /** Site id bytes of a local ordinal. */
  siteBytes(site: number): Uint8Array;
  /** The local ordinal of a site id, added if new (called only for a change that wins). */
  siteOrdinal(siteId: Uint8Array): number;
  /** The ordinal of the unknown site (all zero bytes), below every real site id. */
  unknownSite(): number;
  /**
   * Observes a concurrent edit: the incoming change and the cell here have the same col_version but
   * different values, and the tie-break picks `incomingWins`. Called only then; changes nothing.
   */
  onConcurrent?(ch: IncomingCell, mine: CellClock, current: SqlValue, incomingWins: boolean): void;
}

/** A clock for an incoming change's cell, stamped here. (This and the next are plain functions, not closures: they run per change merged.) */
function remoteClock(colVersion: Int64, ch: IncomingCell, ctx: MergeContext): CellClock {
  return { colVersion, dbVersion: ctx.stamp.dbVersion, site: ctx.siteOrdinal(ch.siteId), seq: ctx.stamp.nextSeq() };
}

/** Whether the incoming change's site id is greater than that of the clock here (none: it wins). */
function incomingSiteWins(ch: IncomingCell, mine: CellClock | undefined, ctx: MergeContext): boolean {
  return !mine || compareBytes(ch.siteId, ctx.siteBytes(mine.site)) > 0;
}

/** Merges one incoming change into a row. Returns whether anything changed. */
export function mergeCell(row: RowState, fx: RowEffects, ch: IncomingCell, ctx: MergeContext): boolean {
  const localCl = row.causalLength();
  if (ch.cl < localCl) return false;
  // A cell of a life that has ended here too (the same even cl): nothing to merge. cr-sqlite treats
  // any even cl as a delete and skips one it already has.
  if (ch.cl === localCl && isEven(ch.cl) && ch.cid !== SENTINEL) return false;

  if (ch.cl > localCl) {
    if (isEven(ch.cl)) {
      // Deleted at a later causal length: the row goes, whatever its cells said.
      row.setSentinel(remoteClock(ch.cl, ch, ctx));
      row.clearCells();
      fx.deleteFirst = true;
      fx.exists = false;
      fx.values.clear();
      return true;
    }
    // Alive at a later causal length: the row was (re)created elsewhere. Keep our values but let any
    // cell of the new life win over them (cr-sqlite resets their versions to 0). A cell only tells us
    // the new causal length, not who revived the row: credit that to the unknown site, which loses
    // to the real sentinel whenever it arrives, so every replica ends with the same origin.
    if (ch.cid === SENTINEL) row.setSentinel(remoteClock(ch.cl, ch, ctx));
    else if (ch.cl > 1) row.setSentinel({ colVersion: ch.cl, dbVersion: ctx.stamp.dbVersion, site: ctx.unknownSite(), seq: ctx.stamp.nextSeq() });
    for (const cid of [...row.cells.keys()]) row.setCell(cid, { colVersion: 0, dbVersion: ctx.stamp.dbVersion, site: 0, seq: ctx.stamp.nextSeq() });
    fx.exists = true;
    if (ch.cid === SENTINEL) return true;
  } else if (ch.cid === SENTINEL) {
    // Same causal length: only the sentinel's origin can differ.
    if (incomingSiteWins(ch, row.sentinel, ctx)) {
      row.setSentinel(remoteClock(ch.cl, ch, ctx));
      return true;
    }
    return false;
  }

  const mine = row.cells.get(ch.cid);
  let takeValue: boolean;
  if (!mine || ch.colVersion > mine.colVersion) takeValue = true;
  else if (ch.colVersion < mine.colVersion) return false;
  else {
    const current = fx.values.has(ch.cid) ? fx.values.get(ch.cid)! : ctx.currentValue(ch.cid);
    const cmp = compareValues(ch.val, current);
    if (cmp !== 0) ctx.onConcurrent?.(ch, mine, current, cmp > 0);
    if (cmp < 0) return false;
    if (cmp === 0) {
      if (!incomingSiteWins(ch, mine, ctx)) return false;
      takeValue = false;
    } else takeValue = true;
  }
  row.setCell(ch.cid, remoteClock(ch.colVersion, ch, ctx));
  if (takeValue) {
    fx.values.set(ch.cid, ch.val);
    fx.exists = true;
  }
  return true;
}
