/**
 * Merging changes into a CRR state kept outside SQLite, exactly as the engine merges into SQLite
 * (engine/merge.ts): the same validation and errors, the same pure rules (`mergeCell` over a row's
 * `RowState`), and the same order of work — rows gathered into chunks of {@link CHUNK_ROWS}, each
 * chunk processed table by table, row by row — so every clock, seq included, comes out the same.
 *
 * What differs is only the I/O, which is asynchronous and batched wider than a chunk: the rows of
 * several chunks (a window) are loaded with one query per table, merged in memory in chunk order,
 * and their changed cells written back with two statements. A row met again in a later window is
 * loaded again, and sees what the earlier window wrote (one transaction).
 */
import {
  bytesEqual,
  ChangeError,
  checkChange,
  CHUNK_ROWS,
  mergeCell,
  packColumns,
  RowEffects,
  RowState,
  SENTINEL,
  UNKNOWN_SITE,
  unpackColumns,
  type CellClock,
  type Change,
  type MergeContext,
  type SqlValue,
  type Stamp,
  type TableInfo,
} from '../../../engine/index.ts';
import { int64, type Int64 } from '../../../base/int64.ts';
import type { ConflictNotes } from './conflicts.ts';

/** One stored cell (or sentinel) of a row: its clock, with the origin's site id, and its value. */
export interface StoredCell {
  cid: string;
  val: SqlValue;
  /** 64-bit (a bigint beyond 2^53, base/int64.ts), as the engine's clocks. */
  colVersion: Int64;
  dbVersion: number;
  site: Uint8Array;
  seq: number;
}

/**
 * A row's cells to write: `cleared` first removes every cell but the sentinel (the row was deleted);
 * `stored` says which of `cells` are stored now, after that removal (updated, not inserted).
 */
export interface RowWrite {
  table: string;
  pk: Uint8Array;
  cleared: boolean;
  cells: StoredCell[];
  stored: boolean[];
}

/** What the merge needs of the store, inside the caller's transaction. */
export interface CellIO {
  /** The cells of these rows of `table`, by {@link rowId} of the packed key (missing rows: absent). */
  load(table: string, pks: readonly Uint8Array[]): Promise<Map<string, StoredCell[]>>;
  save(rows: readonly RowWrite[]): Promise<void>;
}

/** A map key for a packed primary key. */
export const rowId = (pk: Uint8Array): string => Buffer.from(pk.buffer, pk.byteOffset, pk.byteLength).toString('latin1');

/**
 * Site ids ↔ the small numbers `RowState` clocks hold, for one merge. 0 is the store's own site (what
 * `mergeCell` stamps when a revived row's cells restart at version 0).
 */
export class SiteOrdinals {
  private readonly bytes: Uint8Array[] = [];
  private readonly byHex = new Map<string, number>();
  constructor(local: Uint8Array) {
    this.ordinalOf(local);
  }
  ordinalOf(site: Uint8Array): number {
    const hex = rowId(site); // a map key
    let n = this.byHex.get(hex);
    if (n === undefined) {
      n = this.bytes.length;
      this.bytes.push(new Uint8Array(site));
      this.byHex.set(hex, n);
    }
    return n;
  }
  bytesOf(n: number): Uint8Array {
    const b = this.bytes[n];
    if (!b) throw new Error(`unknown site ordinal ${n}`);
    return b;
  }
}

export interface MergeResult {
  received: number;
  applied: number;
  /** The next seq free in the version (a further merge into it starts there). */
  nextSeq: number;
}

/** Rows loaded and merged per window (several chunks). */
const WINDOW_ROWS = 4096;

/**
 * The rows `changes` touch, by table, keyed as the merge keys them (packed again from their
 * values), to load before the merge asks: undefined if they are more than one window or a key does
 * not unpack (the merge then loads, or refuses, itself).
 */
export function rowsOf(changes: readonly Change[]): Map<string, Uint8Array[]> | undefined {
  const rows = new Map<string, Map<string, Uint8Array>>();
  let n = 0;
  let lastTable: string | undefined;
  let lastPk: Uint8Array | undefined;
  for (const c of changes) {
    if (c.table === lastTable && lastPk && bytesEqual(lastPk, c.pk)) continue;
    lastTable = c.table;
    lastPk = c.pk;
    let pk: Uint8Array;
    try {
      pk = packColumns(unpackColumns(c.pk));
    } catch {
      return undefined;
    }
    let byId = rows.get(c.table);
    if (!byId) rows.set(c.table, (byId = new Map()));
    const id = rowId(pk);
    if (byId.has(id)) continue;
    if (++n > WINDOW_ROWS) return undefined;
    byId.set(id, pk);
  }
  return new Map([...rows].map(([t, byId]) => [t, [...byId.values()]]));
}

interface PendingRow {
  pk: Uint8Array;
  changes: { c: Change; site: number }[];
}

/** Rows by table (in first-seen order, as the engine's chunk map), then by key. */
type Chunk = Map<string, Map<string, PendingRow>>;

/** A row as merged: its clocks and its current values (what the SQLite table row would hold). */
interface RowRecord {
  state: RowState;
  values: Map<string, SqlValue>;
  /** The cells stored when it was loaded. */
  stored: Set<string>;
}

/**
 * The engine's chunking (engine/merge.ts mergeChanges), with its checks and error messages: each
 * change is validated; a chunk closes when a new row would make it exceed {@link CHUNK_ROWS}.
 */
function* chunksOf(changes: Iterable<Change>, tables: ReadonlyMap<string, TableInfo>, sites: SiteOrdinals, counts: MergeResult): Generator<Chunk> {
  const columnSets = new Map<string, Set<string>>();
  let chunk: Chunk = new Map();
  let chunkRows = 0;
  let lastTable: TableInfo | undefined;
  let lastPkBytes: Uint8Array | undefined;
  let lastRow: PendingRow | undefined;
  let lastSiteId: Uint8Array | undefined;
  let lastSite = 0;
  for (const c of changes) {
    const n = ++counts.received;
    try {
      checkChange(c);
    } catch (err) {
      throw new ChangeError(`change ${n}: ${(err as Error).message}`, { cause: err });
    }
    const t = tables.get(c.table);
    if (!t) throw new ChangeError(`change ${n}: no CRR table ${c.table} here (schemas differ?)`);
    let cols = columnSets.get(t.name);
    if (!cols) columnSets.set(t.name, (cols = new Set(t.columns)));
    if (c.cid !== SENTINEL && !cols.has(c.cid)) throw new ChangeError(`change ${n}: table ${c.table} has no column ${c.cid} here (schemas differ?)`);
    if (c.siteId !== lastSiteId && (lastSiteId === undefined || !bytesEqual(c.siteId, lastSiteId))) lastSite = sites.ordinalOf(c.siteId);
    lastSiteId = c.siteId;
    if (t !== lastTable || !lastPkBytes || !bytesEqual(lastPkBytes, c.pk)) {
      let values: SqlValue[];
      try {
        values = unpackColumns(c.pk);
      } catch (err) {
        throw new ChangeError(`change ${n}: bad primary key for ${c.table}: ${(err as Error).message}`, { cause: err });
      }
      if (values.length !== t.pks.length) throw new ChangeError(`change ${n}: primary key of ${c.table} has ${values.length} columns, here it has ${t.pks.length} (schemas differ?)`);
      if (values.some((v) => v === null)) throw new ChangeError(`change ${n}: primary key of ${c.table} contains NULL`);
      let rows = chunk.get(t.name);
      if (!rows) chunk.set(t.name, (rows = new Map()));
      const id = rowId(c.pk);
      let row = rows.get(id);
      if (!row) {
        if (chunkRows >= CHUNK_ROWS) {
          yield chunk;
          chunk = new Map([[t.name, (rows = new Map())]]);
          chunkRows = 0;
        }
        // Stored as the engine's feed would send it: packed again from the values.
        rows.set(id, (row = { pk: packColumns(values), changes: [] }));
        chunkRows++;
      }
      lastTable = t;
      lastPkBytes = c.pk;
      lastRow = row;
    }
    lastRow!.changes.push({ c, site: lastSite });
  }
  if (chunkRows > 0) yield chunk;
}

/** A loaded row's state; its values are those of its clocked cells (the hub's tables have no defaults). */
function recordOf(cells: readonly StoredCell[] | undefined, sites: SiteOrdinals): RowRecord {
  const state = new RowState();
  const values = new Map<string, SqlValue>();
  const stored = new Set<string>();
  for (const cell of cells ?? []) {
    stored.add(cell.cid);
    const clock: CellClock = { colVersion: cell.colVersion, dbVersion: cell.dbVersion, site: sites.ordinalOf(cell.site), seq: cell.seq };
    if (cell.cid === SENTINEL) state.sentinel = clock;
    else {
      state.cells.set(cell.cid, clock);
      values.set(cell.cid, cell.val);
    }
  }
  return { state, values, stored };
}

/**
 * Merges `changes` at db_version `version` (seqs from `firstSeq`), reading and writing through `io`
 * inside the caller's transaction, noting concurrent cells in `conflicts`. Throws {@link ChangeError} at the first change that is invalid or
 * doesn't fit `tables` (the caller rolls back: nothing applied).
 */
export async function mergeCells(io: CellIO, tables: ReadonlyMap<string, TableInfo>, sites: SiteOrdinals, changes: Iterable<Change>, version: number, firstSeq = 0, conflicts?: ConflictNotes): Promise<MergeResult> {
  let seq = firstSeq;
  const stamp: Stamp = { dbVersion: version, nextSeq: () => seq++ };
  const result: MergeResult = { received: 0, applied: 0, nextSeq: firstSeq };
  const unknown = sites.ordinalOf(UNKNOWN_SITE);

  const runWindow = async (window: Chunk[]): Promise<void> => {
    // Load every row of the window, one query per table.
    const records = new Map<string, Map<string, RowRecord>>();
    const wanted = new Map<string, Map<string, Uint8Array>>();
    for (const chunk of window) {
      for (const [table, rows] of chunk) {
        let w = wanted.get(table);
        if (!w) wanted.set(table, (w = new Map()));
        for (const [id, row] of rows) w.set(id, row.pk);
      }
    }
    for (const [table, pks] of wanted) {
      const loaded = await io.load(table, [...pks.values()]);
      const recs = new Map<string, RowRecord>();
      for (const id of pks.keys()) recs.set(id, recordOf(loaded.get(rowId(pks.get(id)!)), sites));
      records.set(table, recs);
    }
    // Merge in the engine's order.
    for (const chunk of window) {
      for (const [table, rows] of chunk) {
        const recs = records.get(table)!;
        for (const [id, pending] of rows) {
          const rec = recs.get(id)!;
          const fx = new RowEffects();
          const ctx: MergeContext = {
            stamp,
            currentValue: (cid) => rec.values.get(cid) ?? null,
            siteBytes: (site) => sites.bytesOf(site),
            siteOrdinal: (siteId) => sites.ordinalOf(siteId),
            unknownSite: () => unknown,
            onConcurrent: conflicts && ((ch, mine, current, incomingWins) => conflicts.note(table, pending.pk, ch, mine, sites.bytesOf(mine.site), current, incomingWins)),
          };
          for (const { c } of pending.changes) {
            if (mergeCell(rec.state, fx, { cid: c.cid, val: c.val, colVersion: int64(c.colVersion), cl: int64(c.cl), siteId: c.siteId }, ctx)) result.applied++;
          }
          // What the SQLite table row would now hold: deleted first, then the values written.
          if (fx.deleteFirst) rec.values.clear();
          for (const [cid, v] of fx.values) rec.values.set(cid, v);
        }
      }
    }
    // Write the changed rows.
    const writes: RowWrite[] = [];
    for (const [table, recs] of records) {
      const pks = wanted.get(table)!;
      for (const [id, rec] of recs) {
        const { state } = rec;
        if (!state.dirty) continue;
        const cells: StoredCell[] = [];
        const stored = (cid: string, clock: CellClock, val: SqlValue): StoredCell => ({ cid, val, colVersion: clock.colVersion, dbVersion: clock.dbVersion, site: sites.bytesOf(clock.site), seq: clock.seq });
        if (state.sentinelDirty && state.sentinel) cells.push(stored(SENTINEL, state.sentinel, null));
        for (const cid of state.dirtyCells) cells.push(stored(cid, state.cells.get(cid)!, rec.values.get(cid) ?? null));
        const kept = (cid: string): boolean => rec.stored.has(cid) && (cid === SENTINEL || !state.cellsCleared);
        writes.push({ table, pk: pks.get(id)!, cleared: state.cellsCleared, cells, stored: cells.map((c) => kept(c.cid)) });
      }
    }
    if (writes.length > 0) await io.save(writes);
  };

  let window: Chunk[] = [];
  let windowRows = 0;
  for (const chunk of chunksOf(changes, tables, sites, result)) {
    window.push(chunk);
    for (const rows of chunk.values()) windowRows += rows.size;
    if (windowRows >= WINDOW_ROWS) {
      await runWindow(window);
      window = [];
      windowRows = 0;
    }
  }
  if (window.length > 0) await runWindow(window);
  result.nextSeq = seq;
  return result;
}
