/**
 * Opening a database written by an older ddcp: each CRR still in the per-cell clock layout is moved
 * to the row-level one (layout.ts), in the opening transaction.
 */
import { storedShape } from './drift.ts';
import { migrateLayout } from './layout.ts';
import { crrNames } from './names.ts';
import { introspect } from './schema.ts';
import type { SqliteConnection } from './sqlite.ts';

/** Moves every CRR kept in the per-cell layout to the row-level one. */
export function migrateLayouts(db: SqliteConnection): void {
  for (const { tbl } of db.prepare('SELECT tbl FROM ddcp_crrs ORDER BY tbl').all() as { tbl: string }[]) {
    const n = crrNames(tbl);
    // The shape the clocks were written for: the one the triggers were made for, else the table's own.
    const exists = db.prepare(`SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?`).get(tbl) !== undefined;
    const info = storedShape(db, tbl) ?? (exists ? introspect(db, tbl) : undefined);
    if (info) migrateLayout(db, info, n);
    // A table gone without a recorded shape: its tracking is removed on open (drift), clocks and all.
    else if (db.prepare(`SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?`).get(`${tbl}__ddcp_clock`)) db.exec(`DROP TABLE ${n.clock}`);
  }
}
