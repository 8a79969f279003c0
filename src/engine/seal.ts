/**
 * Sealing: turning the triggers' write logs into clocks. Everything logged since the last seal is
 * stamped with one new db_version, so a local transaction is never split across versions (several
 * transactions may share one). Runs before changes are read or merged, inside their transaction.
 *
 * The log is read in chunks; each chunk's rows are loaded together, their operations replayed in log
 * order through the pure rules, and written back together.
 */
import { valuesKey } from './bulk.ts';
import type { CommitCounts } from './history.ts';
import { localDelete, localInsert, localUpdate, type Stamp } from './rules.ts';
import type { SqlValue, SqliteConnection } from './sqlite.ts';
import type { CrrTable } from './table.ts';
import { logColumns, MASK_BITS, Op } from './triggers.ts';

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

/**
 * Stamps every logged write with `version`. Returns what was done per table that had anything
 * logged (for the history), or undefined if nothing was logged.
 */
export function sealTables(db: SqliteConnection, tables: Iterable<CrrTable>, version: number): Record<string, CommitCounts> | undefined {
  let seq = 0;
  const stamp: Stamp = { dbVersion: version, nextSeq: () => seq++ };
  let done: Record<string, CommitCounts> | undefined;
  for (const table of tables) {
    const counts: CommitCounts = { inserted: 0, updated: 0, deleted: 0, cells: 0 };
    const used = table.sealFreshInserts(version, seq);
    if (used !== undefined) {
      seq += used;
      table.clearLog();
      const width = Math.max(table.info.columns.length, 1);
      counts.inserted = used / width;
      counts.cells = table.info.columns.length * counts.inserted;
      (done ??= Object.create(null) as Record<string, CommitCounts>)[table.info.name] = counts;
      continue;
    }
    const lc = logColumns(table.info);
    const nk = table.info.pks.length;
    const read = db.prepare(`SELECT ${['op', ...lc.keys, ...lc.oldKeys, ...lc.masks].join(', ')} FROM ${table.names.log} ORDER BY seq`);
    read.setReadBigInts(true);
    read.setReturnArrays(true);
    let chunk: Entry[] = [];
    let logged = false;
    for (const r of read.iterate() as Iterable<SqlValue[]>) {
      logged = true;
      chunk.push({ op: Number(r[0]), pk: r.slice(1, 1 + nk), oldPk: r.slice(1 + nk, 1 + 2 * nk), masks: r.slice(1 + 2 * nk) as (bigint | null)[] });
      if (chunk.length >= CHUNK) {
        sealChunk(table, chunk, stamp, counts);
        chunk = [];
      }
    }
    if (chunk.length > 0) sealChunk(table, chunk, stamp, counts);
    if (logged) {
      table.clearLog();
      (done ??= Object.create(null) as Record<string, CommitCounts>)[table.info.name] = counts;
    }
  }
  return done;
}
