/**
 * What merges stored, as a read of the changes after a version would give them back — for a reader
 * of every change (a hub's fan-out) that would otherwise read back what it has just merged. A merge
 * given a report notes each row it wrote with the row's clocks as written; a row written by several
 * merges keeps its last clocks and the values of every merge (a deletion drops the earlier ones).
 * The changes then are each row's sentinel and cells stamped after the version asked for, with the
 * row's final causal length, in (db_version, seq) order: what `readChanges` gives without a filter or
 * a site left out, provided nothing else wrote these tables meanwhile (the caller's to know).
 */
import type { Change } from './change.ts';
import type { Sites } from './clock.ts';
import { packKey } from './pack.ts';
import type { NewRow } from './new-rows.ts';
import type { RowState } from './rules.ts';
import { SENTINEL } from './schema.ts';
import type { SqlValue } from './sqlite.ts';
import type { CrrTable, RowEntry } from './table.ts';
import { latin1 } from '../base/portable.ts';

interface StoredRow {
  table: CrrTable;
  pk: Uint8Array;
  row: RowState | undefined;
  fresh: NewRow | undefined;
  /**
   * The values merges wrote to its columns (the values of its cells stamped by them); undefined for
   * a row new here that nothing wrote since (its values are `fresh`'s: no map per inserted row).
   */
  values: Map<string, SqlValue> | undefined;
}

/** A row's values as a map (made from `fresh` on first need). */
function valuesOf(r: StoredRow): Map<string, SqlValue> {
  if (r.values) return r.values;
  const values = new Map<string, SqlValue>();
  const fresh = r.fresh;
  if (fresh) fresh.shape.cols.forEach((c, i) => values.set(c, fresh.changes[fresh.first + i]!.val));
  return values;
}

/** Rows a report holds at most; past it, it gives up (the reader reads instead). */
export const STORED_REPORT_ROWS = 20_000;

/** The rows merges wrote (see the file comment); pass it as `ApplyOptions.report`. */
export class StoredReport {
  private readonly rows = new Map<string, StoredRow>();
  /** Something was written that the report cannot give back (or it grew too large): read instead. */
  broken = false;

  /** A row a merge wrote (after writing it), with the merge's effects on it. */
  note(table: CrrTable, entry: RowEntry): void {
    if (this.broken) return;
    const pk = packKey(entry.pk);
    const id = `${table.info.name}\u0000${latin1(pk)}`;
    const had = this.rows.get(id);
    if (!had && this.rows.size >= STORED_REPORT_ROWS) {
      this.broken = true;
      this.rows.clear();
      return;
    }
    const fresh = entry.fresh;
    if (fresh) {
      this.rows.set(id, { table, pk, row: undefined, fresh, values: undefined });
      return;
    }
    const values = had ? valuesOf(had) : new Map<string, SqlValue>();
    if (entry.fx?.deleteFirst) values.clear();
    if (entry.fx) for (const [c, v] of entry.fx.values) values.set(c, v);
    this.rows.set(id, { table, pk, row: entry.row, fresh: undefined, values });
  }

  /** Rows noted. */
  get size(): number {
    return this.rows.size;
  }

  /**
   * The stored changes after `since`, in (db_version, seq) order; undefined if the report cannot
   * give them exactly (broken, or a cell stamped after `since` whose value no noted merge wrote).
   */
  changes(since: number, sites: Sites): Change[] | undefined {
    if (this.broken) return undefined;
    const out: Change[] = [];
    for (const r of this.rows.values()) {
      const table = r.table.info.name;
      if (r.fresh) {
        // Nothing wrote the row since it was new here: its values are the merged changes'.
        const { sentinel, clock, shape, changes, first } = r.fresh;
        const cl = sentinel ? sentinel.colVersion : 1;
        if (sentinel && sentinel.dbVersion > since) {
          out.push({ table, pk: r.pk, cid: SENTINEL, val: null, colVersion: cl, dbVersion: sentinel.dbVersion, siteId: sites.bytesOf(sentinel.site), cl, seq: sentinel.seq });
        }
        if (clock.dbVersion > since) {
          const siteId = sites.bytesOf(clock.site);
          for (let k = 0; k < shape.cols.length; k++) {
            const cid = shape.cols[k]!;
            const i = r.table.newRows.position(cid)!;
            out.push({ table, pk: r.pk, cid, val: changes[first + k]!.val, colVersion: clock.colVersion, dbVersion: clock.dbVersion, siteId, cl, seq: clock.seq + i });
          }
        }
        continue;
      }
      const row = r.row!;
      const cl = row.causalLength();
      const s = row.sentinel;
      if (s && s.dbVersion > since) out.push({ table, pk: r.pk, cid: SENTINEL, val: null, colVersion: s.colVersion, dbVersion: s.dbVersion, siteId: sites.bytesOf(s.site), cl, seq: s.seq });
      const values = r.values!; // set for every row not fresh
      for (const [cid, c] of row.cells) {
        if (c.dbVersion <= since) continue;
        if (!values.has(cid)) return undefined;
        out.push({ table, pk: r.pk, cid, val: values.get(cid)!, colVersion: c.colVersion, dbVersion: c.dbVersion, siteId: sites.bytesOf(c.site), cl, seq: c.seq });
      }
    }
    out.sort((a, b) => Number(a.dbVersion) - Number(b.dbVersion) || Number(a.seq) - Number(b.seq));
    return out;
  }
}
