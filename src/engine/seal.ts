/**
 * Sealing: turning the triggers' write logs into clocks. Everything logged since the last seal is
 * stamped with one new db_version, so a local transaction is never split across versions (several
 * transactions may share one). Runs before changes are read or merged, inside their transaction.
 */
import { Op, logColumns, MASK_BITS } from './triggers.ts';
import { localDelete, localInsert, localUpdate, type Stamp } from './rules.ts';
import type { CrrTable } from './table.ts';
import type { SqlValue, SqliteConnection } from './sqlite.ts';

/** Stamps every logged write with `version`. Returns whether anything was logged. */
export function sealTables(db: SqliteConnection, tables: Iterable<CrrTable>, version: number): boolean {
  let seq = 0;
  const stamp: Stamp = { dbVersion: version, nextSeq: () => seq++ };
  let any = false;
  for (const table of tables) {
    const info = table.info;
    const lc = logColumns(info);
    const cols = ['op', ...lc.keys, ...lc.oldKeys, ...lc.masks].join(', ');
    const read = db.prepare(`SELECT ${cols} FROM ${table.names.log} ORDER BY seq`);
    read.setReadBigInts(true);
    read.setReturnArrays(true);
    const nk = info.pks.length;
    let logged = false;
    for (const r of read.iterate() as Iterable<SqlValue[]>) {
      logged = true;
      const op = Number(r[0]);
      const pk = r.slice(1, 1 + nk);
      if (op === Op.Insert) {
        const { key, row } = table.load(pk);
        localInsert(row, info.columns, stamp);
        table.save(pk, key, row);
      } else if (op === Op.Update) {
        const changed: string[] = [];
        for (let m = 0; m < lc.masks.length; m++) {
          const mask = r[1 + 2 * nk + m] as bigint | null;
          if (!mask) continue;
          for (let i = 0; i < MASK_BITS; i++) if ((mask >> BigInt(i)) & 1n) changed.push(info.columns[m * MASK_BITS + i]!);
        }
        if (changed.length === 0) continue;
        const { key, row } = table.load(pk);
        localUpdate(row, changed, stamp);
        table.save(pk, key, row);
      } else if (op === Op.Delete) {
        const { key, row } = table.load(pk);
        localDelete(row, stamp);
        table.save(pk, key, row);
      } else if (op === Op.UpdateKey) {
        // A changed primary key is a different row: the old one is deleted, the new one inserted
        // with all its columns (cr-sqlite moves the old clocks instead, and a peer that had already
        // synced them then never receives the moved values).
        const oldPk = r.slice(1 + nk, 1 + 2 * nk);
        const before = table.load(oldPk);
        localDelete(before.row, stamp);
        table.save(oldPk, before.key, before.row);
        const after = table.load(pk);
        localInsert(after.row, info.columns, stamp);
        table.save(pk, after.key, after.row);
      }
    }
    if (logged) {
      table.clearLog();
      any = true;
    }
  }
  return any;
}
