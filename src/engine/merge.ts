/**
 * Applying changes from peers: the whole call is one transaction, stamped with one db_version.
 */
import { checkChangeAfter, type Change } from './change.ts';
import { UNKNOWN_SITE, type Sites } from './clock.ts';
import type { ConflictRecorder } from './conflicts.ts';
import { ChangeError } from './errors.ts';
import { PackError } from '../base/errors.ts';
import type { MergeCounts } from './history.ts';
import { unpackColumns } from './pack.ts';
import { keepHiddenClasses } from '../base/hidden-classes.ts';
import { KeyRange } from './key-range.ts';
import { decideNewRow, type NewRow } from './new-rows.ts';
import { mergeCell, RowEffects, RowState, type CellClock, type IncomingCell, type MergeContext, type Stamp } from './rules.ts';
import { SENTINEL } from './schema.ts';
import type { SqlValue } from './sqlite.ts';
import type { StoredReport } from './stored.ts';
import type { CrrTable, RowEntry } from './table.ts';
import { bytesEqual, compareBytes } from './value.ts';
import { int64 } from '../base/int64.ts';
import { latin1 } from '../base/portable.ts';

/**
 * Rows merged into one table before its triggers are dropped for the rest of the merge: below this,
 * logging and deleting a few rows is cheaper than the schema change.
 */
const SUSPEND_TRACKING_AFTER = 512;

export interface MergeResult {
  /** Changes read. */
  received: number;
  /** Changes that changed something here (the rest were old or already known). */
  applied: number;
  /** The same per table (tables that received changes). */
  tables: Record<string, MergeCounts>;
  /** The next seq free in `version` (a further merge into the same version starts there). */
  nextSeq: number;
}

/** How to merge (for tests: the result never depends on it). */
export interface MergeOptions {
  /**
   * Take the bulk shortcuts (default true): rows new here decided per row (new-rows.ts), key lookups
   * skipped where no key can exist (key-range.ts), the values a tie compares read for a chunk's rows
   * at once. False merges cell by cell with the rules and looks everything up one by one: the
   * reference new-rows.test.ts compares with.
   */
  inBulk?: boolean;
  /** Noted with every row written, as written (stored.ts: a reader of what was merged need not read it back). */
  report?: StoredReport;
}

/** Stands for the clock state of a row new here until the rules need a real one (never written to). */
const NO_CLOCKS: Readonly<RowState> = Object.freeze(new RowState());

/**
 * A string naming a packed key's bytes one to one (a map key): short keys, the common case, without
 * making a Buffer.
 */
function pkId(b: Uint8Array): string {
  switch (b.length) {
    case 3:
      return String.fromCharCode(b[0]!, b[1]!, b[2]!);
    case 4:
      return String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!);
    case 5:
      return String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!, b[4]!);
    case 6:
      return String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!, b[4]!, b[5]!);
    default:
      return latin1(b);
  }
}

/** Rows buffered before their keys and clocks are loaded and written together. */
export const CHUNK_ROWS = 256;

/**
 * A row of the chunk being gathered: its changes, then (as the entry loaded, decided and saved) its
 * state. Its changes are `changes[start]` to `changes[end - 1]`: a stretch of the changes received
 * (the caller's array itself when it passed one, else the chunk's) while they arrive together (the
 * common case: no array per row), else an array of its own. (Exported for merge-input.test.ts only.)
 */
export class PendingRow implements RowEntry {
  readonly pk: SqlValue[];
  /** The packed key, as received. */
  readonly bytes: Uint8Array;
  changes: Change[];
  start: number;
  end: number;
  key: number | bigint | undefined = undefined;
  row: RowState = NO_CLOCKS;
  fx: RowEffects | undefined = undefined;
  overrides: boolean | undefined = undefined;
  fresh: NewRow | undefined = undefined;
  /** `at`: where the row's first change is in `changes`. */
  constructor(pk: SqlValue[], bytes: Uint8Array, changes: readonly Change[], at: number) {
    this.pk = pk;
    this.bytes = bytes;
    this.changes = changes as Change[];
    this.start = this.end = at;
  }

  /** Adds a change, `all[at]` (`all`: the changes received, or the chunk's). */
  push(c: Change, all: readonly Change[], at: number): void {
    if (this.changes === all) {
      if (this.end === at) {
        this.end++;
        return;
      }
      // Another row's changes came between: this row's go to an array of its own.
      this.changes = all.slice(this.start, this.end);
      this.start = 0;
      this.end = this.changes.length;
    }
    this.changes.push(c);
    this.end++;
  }

  /**
   * Adds `c`, which is not the change at its place in `all` (a value converted, merge.ts's storedAs):
   * the row's changes go to an array of its own if they were a stretch of `all`.
   */
  pushOwn(c: Change, all: readonly Change[]): void {
    if (this.changes === all) {
      this.changes = all.slice(this.start, this.end);
      this.start = 0;
      this.end = this.changes.length;
    }
    this.changes.push(c);
    this.end++;
  }
}

/**
 * The chunk's rows of one table, in order of arrival, found by packed key. Rows usually arrive in
 * ascending key order (a peer's reads): while each new key sorts after the last, it is new to the
 * chunk without a map; the map of every row's key is built only when the order breaks. (Exported for
 * merge-input.test.ts only.)
 */
export class ChunkRows {
  readonly rows: PendingRow[];
  private byId: Map<string, PendingRow> | undefined;
  private greatest: Uint8Array;

  /**
   * Made with its first row: an array made empty holds small integers to V8 until the first push
   * turns it into an array of objects, and the merge's optimised code, compiled after seeing mostly
   * arrays already turned, was thrown away at that first push (`--trace-deopt`: "not a Smi" in
   * `add`, twice per `ddcp apply`, each costing a recompilation of the whole merge loop).
   */
  constructor(first: PendingRow) {
    this.rows = [first];
    this.greatest = first.bytes;
  }

  find(bytes: Uint8Array): PendingRow | undefined {
    if (this.byId === undefined) {
      if (compareBytes(bytes, this.greatest) > 0) return undefined;
      this.byId = new Map();
      for (const r of this.rows) this.byId.set(pkId(r.bytes), r);
    }
    return this.byId.get(pkId(bytes));
  }

  /** Adds a row {@link find} did not find. */
  add(row: PendingRow): void {
    this.rows.push(row);
    if (this.byId) this.byId.set(pkId(row.bytes), row);
    else this.greatest = row.bytes;
  }
}

/**
 * The next seq of a merge's db_version. A class rather than a closure (as are {@link SiteOrdinals},
 * {@link ChunkContext} and {@link ChunkMerger}): code that calls a closure made per merge meets a
 * new function every merge, and V8 throws away its optimized code ("wrong call target") — the
 * merge's loop then ran unoptimized until recompiled, every merge.
 */
class SeqStamp implements Stamp {
  readonly dbVersion: number;
  seq: number;
  constructor(dbVersion: number, seq: number) {
    this.dbVersion = dbVersion;
    this.seq = seq;
  }

  nextSeq(): number {
    return this.seq++;
  }
}

/**
 * Site ordinals, looked up (and new sites added) only for changes that win: runs of changes share a
 * site id, so the last one is remembered.
 */
class SiteOrdinals {
  private readonly sites: Sites;
  private lastSiteId: Uint8Array | undefined;
  private lastSite = 0;
  constructor(sites: Sites) {
    this.sites = sites;
  }

  ordinal(siteId: Uint8Array): number {
    const last = this.lastSiteId;
    if (siteId !== last && (last === undefined || !bytesEqual(siteId, last))) this.lastSite = this.sites.ordinalOf(siteId);
    this.lastSiteId = siteId;
    return this.lastSite;
  }
}

/**
 * The rules' context for the rows of one table in one chunk, pointed at the row being merged (one
 * object per merge, not a new object and closures per chunk or row).
 */
class ChunkContext implements MergeContext {
  readonly stamp: Stamp;
  private readonly sites: Sites;
  private readonly ordinals: SiteOrdinals;
  private readonly conflicts: ConflictRecorder | undefined;
  private readonly inBulk: boolean;
  private table!: CrrTable;
  private entries!: readonly PendingRow[];
  /** The row being merged: `entries[at]`. */
  at = 0;
  // Ties compare with the value here: at the first, the chunk's rows are read at once (nothing is
  // written to the table before the chunk's rows are all decided, so they are what a read per tie
  // would see).
  private current: (SqlValue[] | undefined)[] | undefined;

  constructor(stamp: Stamp, sites: Sites, ordinals: SiteOrdinals, conflicts: ConflictRecorder | undefined, inBulk: boolean) {
    this.stamp = stamp;
    this.sites = sites;
    this.ordinals = ordinals;
    this.conflicts = conflicts;
    this.inBulk = inBulk;
  }

  /** Points the context at `table`'s rows of a chunk. */
  reset(table: CrrTable, entries: readonly PendingRow[]): void {
    this.table = table;
    this.entries = entries;
    this.at = 0;
    this.current = undefined;
  }

  currentValue(cid: string): SqlValue {
    const table = this.table;
    if (!this.inBulk) return table.value(this.entries[this.at]!.pk, cid);
    const current = (this.current ??= table.valuesOfMany(this.entries.map((e) => e.pk)));
    const row = current[this.at];
    return row ? row[table.newRows.position(cid)!]! : null;
  }

  siteBytes(site: number): Uint8Array {
    return this.sites.bytesOf(site);
  }

  siteOrdinal(siteId: Uint8Array): number {
    return this.ordinals.ordinal(siteId);
  }

  unknownSite(): number {
    return this.sites.ordinalOf(UNKNOWN_SITE);
  }

  onConcurrent(ch: IncomingCell, mine: CellClock, current: SqlValue, incomingWins: boolean): void {
    const conflicts = this.conflicts;
    if (!conflicts) return;
    conflicts.note(this.table.info.name, this.entries[this.at]!.pk, ch, () => this.ordinals.ordinal(ch.siteId), mine, current, incomingWins);
  }
}

/** A merge's chunks decided and written: its state across chunks, and its result. */
class ChunkMerger {
  readonly result: MergeResult;
  readonly stamp: SeqStamp;
  private readonly ordinals: SiteOrdinals;
  private readonly ctx: ChunkContext;
  private readonly inBulk: boolean;
  private readonly report: StoredReport | undefined;
  private readonly touched = new Set<CrrTable>();
  private readonly rowsWritten = new Map<CrrTable, number>();
  private readonly suspended = new Set<CrrTable>();
  private readonly ranges = new Map<CrrTable, KeyRange>();
  /** The chunk being gathered (merge.ts's gather): per table, its rows. */
  chunk = new Map<CrrTable, ChunkRows>();

  constructor(sites: Sites, version: number, firstSeq: number, conflicts: ConflictRecorder | undefined, inBulk: boolean, report: StoredReport | undefined) {
    this.stamp = new SeqStamp(version, firstSeq);
    this.ordinals = new SiteOrdinals(sites);
    this.ctx = new ChunkContext(this.stamp, sites, this.ordinals, conflicts, inBulk);
    this.inBulk = inBulk;
    this.report = report;
    this.result = { received: 0, applied: 0, tables: Object.create(null) as Record<string, MergeCounts>, nextSeq: firstSeq };
  }

  /** Decides and writes a chunk's rows, table by table. */
  process(chunk: ReadonlyMap<CrrTable, ChunkRows>): void {
    const { inBulk, stamp, ordinals, ctx, result } = this;
    for (const [table, chunkRows] of chunk) {
      const entries = chunkRows.rows;
      let range = this.ranges.get(table);
      if (!range) this.ranges.set(table, (range = new KeyRange(inBulk ? table.keyBounds() : undefined)));
      // Keys are looked up only for rows that may have one (key-range.ts); the rest are new here.
      const lookup: PendingRow[] = [];
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        if (!range.meet(e.pk)) lookup.push(e);
      }
      if (lookup.length > 0) table.loadInto(lookup);
      const written: PendingRow[] = [];
      const counts = (result.tables[table.info.name] ??= { received: 0, applied: 0 });
      ctx.reset(table, entries);
      let received = 0;
      let applied = 0;
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!;
        ctx.at = i;
        const { changes, start, end } = entry;
        received += end - start;
        if (inBulk && entry.key === undefined) {
          const fresh = decideNewRow(table.newRows, changes, stamp, ordinals, start, end);
          if (fresh) {
            // Every change of a row new here wins (new-rows.ts).
            entry.fresh = fresh;
            applied += end - start;
            written.push(entry);
            continue;
          }
        }
        if (entry.row === NO_CLOCKS) entry.row = new RowState();
        const fx = new RowEffects();
        for (let j = start; j < end; j++) {
          const c = changes[j]!;
          // A change whose clocks are already plain numbers is the incoming cell as it is (int64
          // would return them unchanged): no copy per change.
          const cell: IncomingCell = typeof c.colVersion === 'number' && typeof c.cl === 'number' ? c : { cid: c.cid, val: c.val, colVersion: int64(c.colVersion), cl: int64(c.cl), siteId: c.siteId };
          if (mergeCell(entry.row, fx, cell, ctx)) applied++;
        }
        if (entry.row.dirty) {
          entry.fx = fx;
          written.push(entry);
        }
      }
      result.applied += applied;
      counts.received += received;
      counts.applied += applied;
      if (written.length === 0) continue;
      const before = this.rowsWritten.get(table) ?? 0;
      this.rowsWritten.set(table, before + written.length);
      if (!this.suspended.has(table) && before + written.length >= SUSPEND_TRACKING_AFTER) {
        table.suspendTracking();
        this.suspended.add(table);
      }
      table.saveMany(written);
      if (this.report) for (const e of written) this.report.note(table, e);
      this.touched.add(table);
    }
  }

  /** After the last chunk: the log of the tables written cleared, their tracking resumed. */
  finish(): void {
    // Our own writes to the tables went through the triggers too; they are not local edits.
    for (const t of this.touched) t.clearLog();
    for (const t of this.suspended) t.resumeTracking();
    this.result.nextSeq = this.stamp.seq;
  }
}

/**
 * Merges `changes` into the tables at db_version `version`. Must run inside a transaction; throws
 * {@link ChangeError} on the first change that is invalid or doesn't fit our schema (the caller rolls
 * back, so nothing is applied). Rows are processed in chunks: one statement loads the keys of a
 * chunk's rows, one their clocks, and multi-row statements write them back. Rows new here that carry
 * whole runs of cells are decided per row rather than per cell (new-rows.ts; see {@link MergeOptions}).
 */
export function mergeChanges(
  tables: ReadonlyMap<string, CrrTable>,
  sites: Sites,
  changes: Iterable<Change>,
  version: number,
  conflicts?: ConflictRecorder,
  firstSeq = 0,
  { inBulk = true, report }: MergeOptions = {},
): MergeResult {
  const merger = new ChunkMerger(sites, version, firstSeq, conflicts, inBulk, report);
  const received = gather(merger, tables, changes);
  // The last chunk: called here, out of gather's loop (whose optimized code, compiled while the
  // first merge was still in it, would stop at a call it had never seen made).
  merger.process(merger.chunk);
  merger.finish();
  const result = merger.result;
  result.received = received;
  return result;
}

/** `Array.prototype[Symbol.iterator]` and the array iterators' `next`, as this module found them. */
const ARRAY_VALUES = Array.prototype[Symbol.iterator];
const ARRAY_ITERATOR = Object.getPrototypeOf([][Symbol.iterator]()) as { next: unknown; return?: unknown };
const ARRAY_NEXT = ARRAY_ITERATOR.next;

/**
 * Whether `changes` is a plain array that `for … of` would walk index by index: then reading it by
 * index does exactly that, with less work a change (its iterator object, in the loop's code compiled
 * on stack, is not optimized away). Anything else (a subclass, an own or altered iterator) is iterated.
 */
function plainArray(changes: Iterable<Change>): readonly Change[] | undefined {
  if (!Array.isArray(changes) || Object.getPrototypeOf(changes) !== Array.prototype) return undefined;
  if (changes[Symbol.iterator] !== ARRAY_VALUES || ARRAY_ITERATOR.next !== ARRAY_NEXT || 'return' in ARRAY_ITERATOR) return undefined;
  return changes as readonly Change[];
}

/**
 * The chunk being gathered, per table its rows, and what it takes to add a row: state used once per
 * row (the loops in {@link gather} keep what they use per change in locals).
 */
class ChunkGatherer {
  private readonly merger: ChunkMerger;
  /** The caller's array when a plain one (rows' changes are stretches of it), else undefined. */
  private readonly given: readonly Change[] | undefined;
  private rows = 0;
  /** The chunk's changes, when not given an array. */
  changes: Change[] = [];
  private lastTable: CrrTable | undefined;
  private lastRows: ChunkRows | undefined;

  constructor(merger: ChunkMerger, given: readonly Change[] | undefined) {
    this.merger = merger;
    this.given = given;
  }

  /**
   * The row of change number `n`, `c` (of table `t`, whose changes before were another row's): its
   * key unpacked and checked, found in the chunk or added to it (the chunk handed to the merger first
   * when full). Its first change is `c` itself, at n - 1 of the caller's array or next in the chunk's.
   */
  row(t: CrrTable, c: Change, n: number): PendingRow {
    const pk = c.pk;
    let values: SqlValue[];
    try {
      values = unpackColumns(pk);
    } catch (err) {
      throw new ChangeError(`change ${n}: bad primary key for ${c.table}: ${(err as PackError).message}`, { cause: err });
    }
    if (values.length !== t.info.pks.length) {
      throw new ChangeError(`change ${n}: primary key of ${c.table} has ${values.length} columns, here it has ${t.info.pks.length} (schemas differ?)`);
    }
    if (values.includes(null)) throw new ChangeError(`change ${n}: primary key of ${c.table} contains NULL`);
    // A key's text goes through node:sqlite as a string, which can't hold invalid UTF-8 (its bytes
    // would change): refused, as the reads refuse such a key (exact-text.ts). Values carry it exactly.
    for (const v of values) if (typeof v === 'string' && !v.isWellFormed()) throw new ChangeError(`change ${n}: primary key of ${c.table} holds text that is not valid UTF-8 (ddcp can't key rows by it)`);
    const misfit = t.keys.problem(values);
    if (misfit) throw new ChangeError(`change ${n}: primary key of ${c.table} doesn't fit here: ${misfit}`);
    const merger = this.merger;
    // Runs of rows share a table: its rows in the chunk are kept at hand.
    let rows = t === this.lastTable ? this.lastRows : merger.chunk.get(t);
    let row = rows?.find(pk);
    if (!row) {
      if (this.rows >= CHUNK_ROWS) {
        merger.process(merger.chunk);
        merger.chunk = new Map();
        this.rows = 0;
        this.changes = [];
        this.lastTable = undefined;
        rows = undefined;
      }
      const given = this.given;
      // Its first change is this one, at n - 1 of the caller's array or next in the chunk's.
      row = given ? new PendingRow(values, pk, given, n - 1) : new PendingRow(values, pk, this.changes, this.changes.length);
      // A table's rows are made with their first row (ChunkRows: no array made empty).
      if (rows) rows.add(row);
      else merger.chunk.set(t, (rows = new ChunkRows(row)));
      if (t !== this.lastTable) {
        this.lastTable = t;
        this.lastRows = rows;
      }
      this.rows++;
    }
    return row;
  }
}

/**
 * `c` (a cell of column number `at` of `t`) with its value as the column stores it. A peer's value
 * that our column's affinity converts (TEXT '007' into an INTEGER column is 7; the protocol declares
 * no column types, so a hub or a peer of another declared type may send it) is merged as if sent
 * converted: the tie-break, the clocks, the conflicts log and the report all see what SQLite stores,
 * so the order of delivery decides nothing. A copy: the caller's change is left as given.
 */
function storedAs(t: CrrTable, at: number, c: Change): Change {
  return { table: c.table, pk: c.pk, cid: c.cid, val: t.storedValue(at, c.val), colVersion: c.colVersion, dbVersion: c.dbVersion, siteId: c.siteId, cl: c.cl, seq: c.seq };
}

/**
 * Reads, checks and groups the changes into chunks of rows, handing each full chunk to `merger`;
 * leaves the last in `merger.chunk`. Returns the number of changes read. A plain array is read by
 * index, anything else with `for … of` (closed on a throw, as before): the per-change part of the
 * two loops is the same code, written twice.
 */
function gather(merger: ChunkMerger, tables: ReadonlyMap<string, CrrTable>, changes: Iterable<Change>): number {
  const given = plainArray(changes);
  const g = new ChunkGatherer(merger, given);
  let lastTable: CrrTable | undefined;
  let lastPkBytes: Uint8Array | undefined;
  let lastRow: PendingRow | undefined;
  let lastName: string | undefined;
  let lastNamed: CrrTable | undefined;
  let expect = 0;
  // The key and site id objects of the last change that passed (checkChangeAfter).
  let checkedPk: Uint8Array | undefined;
  let checkedSite: Uint8Array | undefined;

  if (given) {
    // Rows' changes are stretches of the caller's array (nothing copied).
    let n = 0;
    for (; n < given.length; ) {
      let c = given[n++]!;
      try {
        checkChangeAfter(c, checkedPk, checkedSite);
      } catch (err) {
        throw new ChangeError(`change ${n}: ${(err as Error).message}`, { cause: err });
      }
      checkedPk = c.pk;
      // A sentinel's site id may be the zero site, which passes only there.
      if (c.cid !== SENTINEL) checkedSite = c.siteId;
      // Runs of changes share a table: its name is compared, not hashed again.
      const t = c.table === lastName ? lastNamed : tables.get(c.table);
      if (!t) throw new ChangeError(`change ${n}: no CRR table ${c.table} here (schemas differ?)`);
      lastName = c.table;
      lastNamed = t;
      const pk = c.pk;
      // Runs of changes share a row (often its very key bytes).
      const newRow = t !== lastTable || (pk !== lastPkBytes && !bytesEqual(lastPkBytes!, pk));
      // A row's cells usually come in column order: each is checked against the column expected next
      // before the table's set of columns.
      if (newRow) expect = 0;
      const cid = c.cid;
      if (cid !== SENTINEL) {
        let at = expect;
        if (cid === t.info.columns[expect]) expect++;
        else if ((at = t.newRows.position(cid) ?? -1) < 0) throw new ChangeError(`change ${n}: table ${c.table} has no column ${cid} here (schemas differ?)`);
        if (!t.valueFits(at, c.val)) {
          // Merged as stored (see storedAs); the caller's array is left as given, so the row takes
          // its changes into an array of its own.
          c = storedAs(t, at, c);
          if (newRow) {
            lastRow = g.row(t, c, n);
            lastTable = t;
            lastPkBytes = pk;
          }
          lastRow!.pushOwn(c, given);
          continue;
        }
      }
      if (newRow) {
        lastRow = g.row(t, c, n);
        lastTable = t;
        lastPkBytes = pk;
      }
      lastRow!.push(c, given, n - 1);
    }
    return n;
  }
  // The same for any other iterable; rows' changes are stretches of the chunk's changes.
  let n = 0;
  for (let c of changes) {
    ++n;
    try {
      checkChangeAfter(c, checkedPk, checkedSite);
    } catch (err) {
      throw new ChangeError(`change ${n}: ${(err as Error).message}`, { cause: err });
    }
    checkedPk = c.pk;
    if (c.cid !== SENTINEL) checkedSite = c.siteId;
    const t = c.table === lastName ? lastNamed : tables.get(c.table);
    if (!t) throw new ChangeError(`change ${n}: no CRR table ${c.table} here (schemas differ?)`);
    lastName = c.table;
    lastNamed = t;
    const pk = c.pk;
    const newRow = t !== lastTable || (pk !== lastPkBytes && !bytesEqual(lastPkBytes!, pk));
    if (newRow) expect = 0;
    const cid = c.cid;
    if (cid !== SENTINEL) {
      let at = expect;
      if (cid === t.info.columns[expect]) expect++;
      else if ((at = t.newRows.position(cid) ?? -1) < 0) throw new ChangeError(`change ${n}: table ${c.table} has no column ${cid} here (schemas differ?)`);
      if (!t.valueFits(at, c.val)) c = storedAs(t, at, c);
    }
    if (newRow) {
      lastRow = g.row(t, c, n);
      lastTable = t;
      lastPkBytes = pk;
    }
    const chunkChanges = g.changes;
    lastRow!.push(c, chunkChanges, chunkChanges.push(c) - 1);
  }
  return n;
}

// An instance of each class a merge makes and drops, kept so that a full collection between merges
// doesn't throw away the merge's optimized code (hidden-classes.ts). Never used: its sites are none.
{
  const merger = new ChunkMerger(undefined as unknown as Sites, 0, 0, undefined, true, undefined);
  const row = new PendingRow([], new Uint8Array(0), [], 0);
  keepHiddenClasses(merger, new ChunkGatherer(merger, undefined), row, new ChunkRows(row), new RowState(), new RowEffects());
}
