/**
 * Applying changes from peers: the whole call is one transaction, stamped with one db_version.
 */
import { checkChange, type Change } from './change.ts';
import { UNKNOWN_SITE, type Sites } from './clock.ts';
import type { ConflictRecorder } from './conflicts.ts';
import { ChangeError } from './errors.ts';
import { PackError } from '../base/errors.ts';
import type { MergeCounts } from './history.ts';
import { unpackColumns } from './pack.ts';
import { KeyRange } from './key-range.ts';
import { decideNewRow, type NewRow } from './new-rows.ts';
import { mergeCell, RowEffects, RowState, type IncomingCell, type MergeContext, type Stamp } from './rules.ts';
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
  let seq = firstSeq;
  const stamp: Stamp = { dbVersion: version, nextSeq: () => seq++ };
  const result: MergeResult = { received: 0, applied: 0, tables: Object.create(null) as Record<string, MergeCounts>, nextSeq: firstSeq };
  const touched = new Set<CrrTable>();
  const rowsWritten = new Map<CrrTable, number>();
  const suspended = new Set<CrrTable>();
  const ranges = new Map<CrrTable, KeyRange>();

  // The chunk being gathered: per table, its rows.
  let chunk = new Map<CrrTable, ChunkRows>();
  let chunkRows = 0;
  // Rows' changes are stretches of the caller's array when it passed a plain one (nothing copied:
  // its iterator visits index after index), else of the chunk's changes, kept here.
  const given = Array.isArray(changes) && Object.getPrototypeOf(changes) === Array.prototype ? (changes as readonly Change[]) : undefined;
  let chunkChanges: Change[] = [];
  let lastTable: CrrTable | undefined;
  let lastPkBytes: Uint8Array | undefined;
  let lastRow: PendingRow | undefined;
  let lastName: string | undefined;
  let lastNamed: CrrTable | undefined;
  let expect = 0;
  let received = 0;
  let lastChunkTable: CrrTable | undefined;
  let lastChunkRows: ChunkRows | undefined;
  // Site ordinals are looked up (and new sites added) only for changes that win: runs of changes
  // share a site id, so the last one is remembered.
  let lastSiteId: Uint8Array | undefined;
  let lastSite = 0;
  const siteOrdinal = (siteId: Uint8Array): number => {
    if (siteId !== lastSiteId && (lastSiteId === undefined || !bytesEqual(siteId, lastSiteId))) lastSite = sites.ordinalOf(siteId);
    lastSiteId = siteId;
    return lastSite;
  };

  const processChunk = (): void => {
    for (const [table, chunkRows] of chunk) {
      const entries = chunkRows.rows;
      let range = ranges.get(table);
      if (!range) ranges.set(table, (range = new KeyRange(inBulk ? table.keyBounds() : undefined)));
      // Keys are looked up only for rows that may have one (key-range.ts); the rest are new here.
      const lookup: PendingRow[] = [];
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        if (!range.meet(e.pk)) lookup.push(e);
      }
      if (lookup.length > 0) table.loadInto(lookup);
      const written: PendingRow[] = [];
      const name = table.info.name;
      const counts = (result.tables[name] ??= { received: 0, applied: 0 });
      // One context for the table's rows in this chunk, pointed at the row being merged (not a new
      // object and closures per row).
      let entry!: PendingRow;
      let at = 0;
      // Ties compare with the value here: at the first, the chunk's rows are read at once (nothing is
      // written to the table before the chunk's rows are all decided, so they are what a read per
      // tie would see).
      let current: (SqlValue[] | undefined)[] | undefined;
      const ctx: MergeContext = {
        stamp,
        currentValue: inBulk
          ? (cid) => {
              current ??= table.valuesOfMany(entries.map((e) => e.pk));
              const row = current[at];
              return row ? row[table.newRows.position(cid)!]! : null;
            }
          : (cid) => table.value(entry.pk, cid),
        siteBytes: (site) => sites.bytesOf(site),
        siteOrdinal,
        unknownSite: () => sites.ordinalOf(UNKNOWN_SITE),
        onConcurrent: conflicts && ((ch, mine, current, incomingWins) => conflicts.note(name, entry.pk, ch, () => siteOrdinal(ch.siteId), mine, current, incomingWins)),
      };
      let received = 0;
      let applied = 0;
      for (let i = 0; i < entries.length; i++) {
        entry = entries[i]!;
        at = i;
        const { changes, start, end } = entry;
        received += end - start;
        if (inBulk && entry.key === undefined) {
          const fresh = decideNewRow(table.newRows, changes, stamp, siteOrdinal, start, end);
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
      const before = rowsWritten.get(table) ?? 0;
      rowsWritten.set(table, before + written.length);
      if (!suspended.has(table) && before + written.length >= SUSPEND_TRACKING_AFTER) {
        table.suspendTracking();
        suspended.add(table);
      }
      table.saveMany(written);
      if (report) for (const e of written) report.note(table, e);
      touched.add(table);
    }
    chunk = new Map();
    chunkRows = 0;
    chunkChanges = [];
    lastChunkTable = undefined;
    lastChunkRows = undefined;
    lastTable = undefined;
    lastPkBytes = undefined;
    lastRow = undefined;
  };

  for (const c of changes) {
    const n = ++received;
    try {
      checkChange(c);
    } catch (err) {
      throw new ChangeError(`change ${n}: ${(err as Error).message}`, { cause: err });
    }
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
      if (cid === t.info.columns[expect]) expect++;
      else if (!t.columnSet.has(cid)) throw new ChangeError(`change ${n}: table ${c.table} has no column ${cid} here (schemas differ?)`);
    }
    if (newRow) {
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
      const misfit = t.keys.problem(values);
      if (misfit) throw new ChangeError(`change ${n}: primary key of ${c.table} doesn't fit here: ${misfit}`);
      // Runs of rows share a table: its rows in the chunk are kept at hand.
      let rows = t === lastChunkTable ? lastChunkRows : chunk.get(t);
      let row = rows?.find(pk);
      if (!row) {
        if (chunkRows >= CHUNK_ROWS) {
          processChunk();
          rows = undefined;
        }
        // Its first change is this one, at n - 1 of the caller's array or next in the chunk's.
        row = given ? new PendingRow(values, pk, given, n - 1) : new PendingRow(values, pk, chunkChanges, chunkChanges.length);
        if (rows) rows.add(row);
        else chunk.set(t, (rows = new ChunkRows(row)));
        if (t !== lastChunkTable) {
          lastChunkTable = t;
          lastChunkRows = rows;
        }
        chunkRows++;
      }
      lastTable = t;
      lastPkBytes = pk;
      lastRow = row;
    }
    if (given) lastRow!.push(c, given, n - 1);
    else lastRow!.push(c, chunkChanges, chunkChanges.push(c) - 1);
  }
  result.received = received;
  processChunk();
  // Our own writes to the tables went through the triggers too; they are not local edits.
  for (const t of touched) t.clearLog();
  for (const t of suspended) t.resumeTracking();
  result.nextSeq = seq;
  return result;
}
