/**
 * Sealing: turning the triggers' write logs into clocks. Everything logged since the last seal is
 * stamped with one new db_version, so a local transaction is never split across versions (several
 * transactions may share one). Runs before changes are read or merged, inside their transaction.
 *
 * The log is cut into runs of one operation. Long runs of inserts of new rows, updates and deletes
 * are sealed set-based in SQL (seal-runs.ts); the rest takes the general path: read in chunks, each
 * chunk's rows loaded together, their operations replayed in log order through the pure rules, and
 * written back together. Both give the same clocks.
 */
import { valuesKey } from './bulk.ts';
import type { CommitCounts } from './history.ts';
import { localDelete, localInsert, localUpdate, type Stamp } from './rules.ts';
import type { SqlValue, SqliteConnection } from './sqlite.ts';
import type { CrrTable } from './table.ts';
import { MASK_BITS, Op } from './triggers.ts';
import { logRuns, logSelect, sealDeleteRun, sealInsertRun, sealUpdateRun } from './seal-runs.ts';

/** Log entries per chunk. */
const CHUNK = 4096;

interface Entry {
  op: number;
  pk: SqlValue[];
  oldPk: SqlValue[];
  masks: (bigint | null)[];
}

/** The columns a change mask names. */
function maskedColumns(columns: readonly string[], masks: readonly (bigint | null)[]): string[] {
  const out: string[] = [];
  masks.forEach((mask, m) => {
    if (!mask) return;
    // Two 31-bit halves: plain number bit tests instead of 62 bigint shifts.
    const lo = Number(mask & 0x7fffffffn);
    const hi = Number(mask >> 31n);
    for (let i = 0; i < 31; i++) if (lo & (1 << i)) out.push(columns[m * MASK_BITS + i]!);
    for (let i = 0; i < 31; i++) if (hi & (1 << i)) out.push(columns[m * MASK_BITS + 31 + i]!);
  });
  return out;
}

function sealChunk(table: CrrTable, entries: Entry[], stamp: Stamp, counts: CommitCounts): void {
  const info = table.info;
  // Every row the chunk touches, loaded once.
  const index = new Map<string, number>();
  const pks: SqlValue[][] = [];
  const slot = (pk: SqlValue[]): number => {
    const k = valuesKey(pk);
    let i = index.get(k);
    if (i === undefined) {
      i = pks.length;
      pks.push(pk);
      index.set(k, i);
    }
    return i;
  };
  const plan = entries.map((e) => ({ e, at: slot(e.pk), old: e.op === Op.UpdateKey ? slot(e.oldPk) : -1 }));
  const rows = table.loadMany(pks);
  for (const { e, at, old } of plan) {
    const row = rows[at]!.row;
    switch (e.op) {
      case Op.Insert:
        localInsert(row, info.columns, stamp);
        counts.inserted++;
        counts.cells += info.columns.length;
        break;
      case Op.Update: {
        const changed = maskedColumns(info.columns, e.masks);
        if (changed.length > 0) {
          localUpdate(row, changed, stamp);
          counts.updated++;
          counts.cells += changed.length;
        }
        break;
      }
      case Op.Delete:
        localDelete(row, stamp);
        counts.deleted++;
        break;
      case Op.UpdateKey:
        // A changed primary key is a different row: the old one is deleted, the new one inserted
        // with all its columns (cr-sqlite moves the old clocks instead, and a peer that had already
        // synced them then never receives the moved values).
        localDelete(rows[old]!.row, stamp);
        localInsert(row, info.columns, stamp);
        counts.deleted++;
        counts.inserted++;
        counts.cells += info.columns.length;
        break;
    }
  }
  table.saveMany(rows);
}

/** How the log is sealed (tests compare the two paths). */
export interface SealOptions {
  /**
   * Runs of one operation at least this long are sealed set-based in SQL (seal-runs.ts); shorter ones,
   * and those only the rules can do, go through the general path. Infinity: the general path only.
   */
  minRun?: number;
}

/** Below this many entries a run costs more in statements than the general path spends on it. */
const MIN_RUN = 64;

/**
 * Stamps every logged write with `version`. Returns what was done per table that had anything
 * logged (for the history), or undefined if nothing was logged.
 */
export function sealTables(db: SqliteConnection, tables: Iterable<CrrTable>, version: number, options: SealOptions = {}): Record<string, CommitCounts> | undefined {
  const minRun = options.minRun ?? MIN_RUN;
  let seq = 0;
  const stamp: Stamp = { dbVersion: version, nextSeq: () => seq++ };
  let done: Record<string, CommitCounts> | undefined;
  for (const table of tables) {
    const runs = logRuns(db, table);
    if (runs.length === 0) continue;
    const counts: CommitCounts = { inserted: 0, updated: 0, deleted: 0, cells: 0 };
    // Consecutive entries left to the general path, sealed before the next set-based run.
    let general: { lo: number; hi: number } | undefined;
    const flush = (): void => {
      if (general) sealGeneral(db, table, general.lo, general.hi, stamp, counts);
      general = undefined;
    };
    for (const run of runs) {
      const set = run.hi - run.lo + 1 >= minRun ? setBased[run.op] : undefined;
      if (set) {
        flush();
        const r = set(db, table, run, version, seq);
        if (r) {
          seq += r.seqs;
          if (run.op === Op.Insert) counts.inserted += r.rows;
          else if (run.op === Op.Update) counts.updated += r.rows;
          else counts.deleted += r.rows;
          counts.cells += r.cells;
          continue;
        }
      }
      general = general ? { lo: general.lo, hi: run.hi } : { lo: run.lo, hi: run.hi };
    }
    flush();
    table.emptyLog();
    (done ??= Object.create(null) as Record<string, CommitCounts>)[table.info.name] = counts;
  }
  return done;
}

const setBased: Record<number, typeof sealInsertRun | undefined> = { [Op.Insert]: sealInsertRun, [Op.Update]: sealUpdateRun, [Op.Delete]: sealDeleteRun };

/** The general path over log entries `lo`…`hi`: read in chunks, replayed through the rules. */
function sealGeneral(db: SqliteConnection, table: CrrTable, lo: number, hi: number, stamp: Stamp, counts: CommitCounts): void {
  const nk = table.info.pks.length;
  const read = db.prepare(logSelect(table));
  read.setReadBigInts(true);
  read.setReturnArrays(true);
  let chunk: Entry[] = [];
  for (const r of read.iterate(lo, hi) as Iterable<SqlValue[]>) {
    chunk.push({ op: Number(r[0]), pk: r.slice(1, 1 + nk), oldPk: r.slice(1 + nk, 1 + 2 * nk), masks: r.slice(1 + 2 * nk) as (bigint | null)[] });
    if (chunk.length >= CHUNK) {
      sealChunk(table, chunk, stamp, counts);
      chunk = [];
    }
  }
  if (chunk.length > 0) sealChunk(table, chunk, stamp, counts);
}
