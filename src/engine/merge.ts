/**
 * Applying changes from peers. Consecutive changes of one row are merged together (one read of its
 * clocks, one write of the row); the whole call is one transaction, stamped with one db_version.
 */
import { checkChange, type Change } from './change.ts';
import { UNKNOWN_SITE, type Sites } from './clock.ts';
import { ChangeError, PackError } from './errors.ts';
import { unpackColumns } from './pack.ts';
import { mergeCell, RowEffects, type MergeContext, type Stamp } from './rules.ts';
import { SENTINEL } from './schema.ts';
import type { SqlValue } from './sqlite.ts';
import type { CrrTable } from './table.ts';
import { bytesEqual } from './value.ts';

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
}

/**
 * Merges `changes` into the tables at db_version `version`. Must run inside a transaction; throws
 * {@link ChangeError} on the first change that is invalid or doesn't fit our schema (the caller rolls
 * back, so nothing is applied).
 */
export function mergeChanges(tables: ReadonlyMap<string, CrrTable>, sites: Sites, changes: Iterable<Change>, version: number): MergeResult {
  let seq = 0;
  const stamp: Stamp = { dbVersion: version, nextSeq: () => seq++ };
  const result: MergeResult = { received: 0, applied: 0 };
  const touched = new Set<CrrTable>();

  let table: CrrTable | undefined;
  let pkBytes: Uint8Array | undefined;
  let pk: SqlValue[] = [];
  let state: ReturnType<CrrTable['load']> | undefined;
  let fx = new RowEffects();
  let dirty = false;
  let lastSiteId: Uint8Array | undefined;
  let lastSite = 0;

  const ctx: MergeContext = {
    stamp,
    currentValue: (cid) => table!.value(pk, cid),
    siteBytes: (site) => sites.bytesOf(site),
    unknownSite: () => sites.ordinalOf(UNKNOWN_SITE),
  };

  const rowsWritten = new Map<CrrTable, number>();
  const suspended = new Set<CrrTable>();
  const flush = (): void => {
    if (table && state && dirty) {
      const n = (rowsWritten.get(table) ?? 0) + 1;
      rowsWritten.set(table, n);
      if (n === SUSPEND_TRACKING_AFTER) {
        table.suspendTracking();
        suspended.add(table);
      }
      table.applyEffects(pk, fx);
      table.save(pk, state.key, state.row);
      touched.add(table);
    }
    state = undefined;
    dirty = false;
  };

  for (const c of changes) {
    const n = ++result.received;
    try {
      checkChange(c);
    } catch (err) {
      throw new ChangeError(`change ${n}: ${(err as Error).message}`, { cause: err });
    }
    const t = tables.get(c.table);
    if (!t) throw new ChangeError(`change ${n}: no CRR table ${c.table} here (schemas differ?)`);
    if (c.cid !== SENTINEL && !t.columnSet.has(c.cid)) throw new ChangeError(`change ${n}: table ${c.table} has no column ${c.cid} here (schemas differ?)`);
    if (t !== table || !pkBytes || !bytesEqual(pkBytes, c.pk)) {
      flush();
      let values: SqlValue[];
      try {
        values = unpackColumns(c.pk);
      } catch (err) {
        throw new ChangeError(`change ${n}: bad primary key for ${c.table}: ${(err as PackError).message}`, { cause: err });
      }
      if (values.length !== t.info.pks.length) {
        throw new ChangeError(`change ${n}: primary key of ${c.table} has ${values.length} columns here it has ${t.info.pks.length} (schemas differ?)`);
      }
      if (values.some((v) => v === null)) throw new ChangeError(`change ${n}: primary key of ${c.table} contains NULL`);
      table = t;
      pkBytes = c.pk;
      pk = values;
      state = t.load(pk);
      fx = new RowEffects();
    }
    // Runs of changes share a site id: skip the lookup when it is the same as the last one.
    if (c.siteId !== lastSiteId && (lastSiteId === undefined || !bytesEqual(c.siteId, lastSiteId))) lastSite = sites.ordinalOf(c.siteId);
    lastSiteId = c.siteId;
    if (mergeCell(state!.row, fx, { cid: c.cid, val: c.val, colVersion: c.colVersion, cl: c.cl, site: lastSite }, ctx)) {
      result.applied++;
      dirty = true;
    }
  }
  flush();
  // Our own writes to the tables went through the triggers too; they are not local edits.
  for (const t of touched) t.clearLog();
  for (const t of suspended) t.resumeTracking();
  return result;
}
