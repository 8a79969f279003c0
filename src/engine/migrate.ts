/**
 * Opening a database written by an older ddcp: each CRR still in the per-cell clock layout is moved
 * to the row-level one (layout.ts), the sentinels kept in the key map are moved to their own table
 * (layout.ts: format 4 → 5), and a key map of a table keyed by its rowid alias is keyed by that key
 * (rekey.ts: format 2 → 3), in the opening transaction.
 */
import { storedShape } from './drift.ts';
import { migrateLayout, moveSentinels } from './layout.ts';
import { fitKeyMap } from './rekey.ts';
import { crrNames } from './names.ts';
import { introspect } from './schema.ts';
import type { SqliteConnection } from './sqlite.ts';

/** Moves every CRR kept in the per-cell layout to the row-level one, keyed as its table calls for. */
export function migrateLayouts(db: SqliteConnection): void {
  // Key maps are keyed anew once, moving from format 2 (or 1) to 3; schema changes keep them fitted since.
  const format = db.prepare(`SELECT value FROM ddcp_state WHERE key = 'format'`).get() as { value: unknown } | undefined;
  const rekey = format === undefined || Number(format.value) < 3;
  for (const { tbl } of db.prepare('SELECT tbl FROM ddcp_crrs ORDER BY tbl').all() as { tbl: string }[]) {
    const n = crrNames(tbl);
    // The shape the clocks were written for: the one the triggers were made for, else the table's own.
    const exists = db.prepare(`SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?`).get(tbl) !== undefined;
    const info = storedShape(db, tbl) ?? (exists ? introspect(db, tbl) : undefined);
    if (info) {
      // Sentinels first: rekeying copies the key map by the columns this version gives it.
      if (!migrateLayout(db, info, n)) moveSentinels(db, info, n);
      if (exists && rekey) fitKeyMap(db, info);
    }
    // A table gone without a recorded shape: its tracking is removed on open (drift), clocks and all.
    else if (db.prepare(`SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?`).get(`${tbl}__ddcp_clock`)) db.exec(`DROP TABLE ${n.clock}`);
  }
}
