/**
 * The row-level clock layout: one bookkeeping row per row in the common case instead of one per cell.
 *
 * - The key map (`t__ddcp_pks`) holds each row's *row clock* (col_version, db_version, site, seq)
 *   standing for every cell without an override: cell *i* (the table's columns in order) has clock
 *   (col_version, db_version, site, seq + i). A row without a row clock has col_version NULL; its
 *   db_version, site and seq are then meaningless and may hold the last row clock of a deleted row
 *   (format 4): a delete leaves them, so that the row's entry in the (db_version, seq) index is not
 *   moved. Readers go by col_version alone.
 * - `t__ddcp_sentinels` holds the sentinels (causal length, db_version, site, seq) of the rows that
 *   have one — rows deleted or re-inserted, or whose sentinel came from a peer; a row without one
 *   (causal length 1, the common case) has no row there (format 5: in format 4 they were four more
 *   columns of the key map, NULL in most rows but costing a byte each in every row's record).
 * - `t__ddcp_cells` holds the overrides: cells whose clock is not the row clock's, and markers
 *   (col_version NULL) for cells that have no clock where the row clock would give them one.
 * - `t__ddcp_clock` is a view giving today's per-cell rows, so SQL written against it reads the same.
 *
 * The encoding of a row is canonical — a function of its cells' clocks alone: the row clock is the
 * largest group of cells sharing (col_version, db_version, site, seq − position), the one with the
 * earliest column on a tie, NULL when the row has no cell clock. Every path that writes clocks (the
 * rules' save, the set-based seal, migration, schema changes) writes this encoding, so any two ways of
 * reaching the same clocks store the same rows — but for those leftovers of a deleted row's clock,
 * which only the set-based seal of a delete keeps (every other write of a row without a row clock
 * makes them NULL).
 */
import type { CrrNames } from './names.ts';
import type { CellClock } from './rules.ts';
import { INTERNAL_MARK, SENTINEL, type TableInfo } from './schema.ts';
import { ident, literal, type SqliteConnection } from './sqlite.ts';

/** The key map's clock columns (reserved: column names containing `__ddcp_` are refused). */
export const K = {
  cv: '__ddcp_cv',
  dbv: '__ddcp_dbv',
  site: '__ddcp_site',
  seq: '__ddcp_seq',
} as const;
export const KEY_CLOCK_COLUMNS: readonly string[] = Object.values(K);

/** Format 4's sentinel columns of the key map (moved to the sentinels table on open: {@link moveSentinels}). */
const OLD_SENTINEL_COLUMNS = ['__ddcp_cl', '__ddcp_cl_dbv', '__ddcp_cl_site', '__ddcp_cl_seq'] as const;

/** `('a', 0), ('b', 1), …`: the columns with their positions, for a VALUES list. */
export function positions(columns: readonly string[]): string {
  return columns.map((c, i) => `(${literal(c)}, ${i})`).join(', ');
}

/** DDL of the overrides and sentinels tables and the clock indexes (the key map itself is made by triggers.ts). */
export function layoutTablesSql(n: CrrNames): string {
  return `
CREATE TABLE IF NOT EXISTS ${n.cells} (
  key INTEGER NOT NULL,
  cid TEXT NOT NULL,
  col_version INTEGER,
  db_version INTEGER NOT NULL,
  site INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (key, cid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ${n.cellsDbvIndex} ON ${n.cells} (db_version, seq) WHERE col_version IS NOT NULL;
CREATE INDEX IF NOT EXISTS ${n.pksDbvIndex} ON ${n.pks} (${K.dbv}, ${K.seq}) WHERE ${K.dbv} IS NOT NULL;
CREATE TABLE IF NOT EXISTS ${n.sentinels} (
  key INTEGER PRIMARY KEY,
  cl INTEGER NOT NULL,
  db_version INTEGER NOT NULL,
  site INTEGER NOT NULL,
  seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ${n.sentinelsDbvIndex} ON ${n.sentinels} (db_version, seq);`;
}

/**
 * DDL (re)making the per-cell view for the table's current columns, and the trigger that lets SQL
 * update a clock through it (tools and tests do; the engine writes the tables).
 */
export function clockViewSql(info: TableInfo, n: CrrNames): string {
  const parts = [`SELECT key, '${SENTINEL}', cl, db_version, site, seq FROM ${n.sentinels}`];
  if (info.columns.length > 0) {
    parts.push(`SELECT p.__key, v.column1, p.${K.cv}, p.${K.dbv}, p.${K.site}, p.${K.seq} + v.column2 FROM ${n.pks} p CROSS JOIN (VALUES ${positions(info.columns)}) v
   WHERE p.${K.cv} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${n.cells} o WHERE o.key = p.__key AND o.cid = v.column1)`);
  }
  parts.push(`SELECT key, cid, col_version, db_version, site, seq FROM ${n.cells} WHERE col_version IS NOT NULL`);
  return `
DROP VIEW IF EXISTS ${n.clock};
CREATE VIEW ${n.clock} (key, cid, col_version, db_version, site, seq) AS
  ${parts.join('\n  UNION ALL ')};
CREATE TRIGGER ${n.clockUpdate} INSTEAD OF UPDATE ON ${n.clock} BEGIN
  UPDATE ${n.sentinels} SET cl = NEW.col_version, db_version = NEW.db_version, site = NEW.site, seq = NEW.seq WHERE OLD.cid = '${SENTINEL}' AND key = OLD.key;
  INSERT INTO ${n.cells} (key, cid, col_version, db_version, site, seq) SELECT OLD.key, OLD.cid, NEW.col_version, NEW.db_version, NEW.site, NEW.seq WHERE OLD.cid <> '${SENTINEL}'
    ON CONFLICT (key, cid) DO UPDATE SET col_version = excluded.col_version, db_version = excluded.db_version, site = excluded.site, seq = excluded.seq;
END;`;
}

/** A row's cells encoded: the row clock (seq of column 0), and per column an override (null: no clock). */
export interface EncodedRow {
  row: CellClock | undefined;
  overrides: [string, CellClock | null][];
}

/** The canonical encoding of a row's cell clocks (see the file comment). */
export function encodeRow(columns: readonly string[], cells: ReadonlyMap<string, CellClock>): EncodedRow {
  let best: CellClock | undefined;
  if (cells.size > 0) {
    // Groups in order of their earliest column, so that on a tie the earliest wins.
    const groups = new Map<string, { clock: CellClock; count: number }>();
    for (let i = 0; i < columns.length; i++) {
      const c = cells.get(columns[i]!);
      if (!c) continue;
      const id = `${c.colVersion}|${c.dbVersion}|${c.site}|${c.seq - i}`;
      const g = groups.get(id);
      if (g) g.count++;
      else groups.set(id, { clock: { colVersion: c.colVersion, dbVersion: c.dbVersion, site: c.site, seq: c.seq - i }, count: 1 });
    }
    let top: { clock: CellClock; count: number } | undefined;
    for (const g of groups.values()) if (!top || g.count > top.count) top = g;
    best = top?.clock;
  }
  const overrides: [string, CellClock | null][] = [];
  for (let i = 0; i < columns.length; i++) {
    const cid = columns[i]!;
    const c = cells.get(cid);
    if (!c) {
      if (best) overrides.push([cid, null]);
    } else if (!best || c.colVersion !== best.colVersion || c.dbVersion !== best.dbVersion || c.site !== best.site || c.seq !== best.seq + i) {
      overrides.push([cid, c]);
    }
  }
  return { row: best, overrides };
}

const TEMP = `
CREATE TEMP TABLE IF NOT EXISTS ddcp_layout_keys (key INTEGER PRIMARY KEY);
CREATE TEMP TABLE IF NOT EXISTS ddcp_layout_cells (key INTEGER NOT NULL, pos INTEGER NOT NULL, cid TEXT NOT NULL, cv INTEGER NOT NULL, dbv INTEGER NOT NULL, site INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (key, pos)) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS ddcp_layout_best (key INTEGER PRIMARY KEY, cv INTEGER NOT NULL, dbv INTEGER NOT NULL, site INTEGER NOT NULL, base INTEGER NOT NULL);`;

/**
 * Scratch tables for a set-based re-encoding: `temp.ddcp_layout_keys` (the rows) and
 * `temp.ddcp_layout_cells` (their cell clocks, by position). Emptied.
 */
export function startReencode(db: SqliteConnection): void {
  db.exec(TEMP);
  db.exec('DELETE FROM temp.ddcp_layout_keys; DELETE FROM temp.ddcp_layout_cells; DELETE FROM temp.ddcp_layout_best;');
}

/** SQL filling `temp.ddcp_layout_cells` with the current cell clocks of the rows in `temp.ddcp_layout_keys`. */
export function decodeKeysSql(info: TableInfo, n: CrrNames): string {
  if (info.columns.length === 0) return 'SELECT 1';
  return `INSERT INTO temp.ddcp_layout_cells (key, pos, cid, cv, dbv, site, seq)
  SELECT p.__key, v.column2, v.column1,
    CASE WHEN o.key IS NULL THEN p.${K.cv} ELSE o.col_version END,
    CASE WHEN o.key IS NULL THEN p.${K.dbv} ELSE o.db_version END,
    CASE WHEN o.key IS NULL THEN p.${K.site} ELSE o.site END,
    CASE WHEN o.key IS NULL THEN p.${K.seq} + v.column2 ELSE o.seq END
  FROM temp.ddcp_layout_keys k CROSS JOIN ${n.pks} p ON p.__key = k.key CROSS JOIN (VALUES ${positions(info.columns)}) v
  LEFT JOIN ${n.cells} o ON o.key = p.__key AND o.cid = v.column1
  WHERE CASE WHEN o.key IS NULL THEN p.${K.cv} IS NOT NULL ELSE o.col_version IS NOT NULL END`;
}

/**
 * Writes the canonical encoding of the rows in `temp.ddcp_layout_keys` from their cell clocks in
 * `temp.ddcp_layout_cells` (positions of `info.columns`): the row clocks, and the overrides in place
 * of the old ones. The sentinels are left as they are.
 */
export function writeEncoded(db: SqliteConnection, info: TableInfo, n: CrrNames): void {
  db.exec(`
INSERT INTO temp.ddcp_layout_best (key, cv, dbv, site, base)
  SELECT key, cv, dbv, site, base FROM (
    SELECT key, cv, dbv, site, seq - pos AS base, row_number() OVER (PARTITION BY key ORDER BY count(*) DESC, min(pos)) AS rn
    FROM temp.ddcp_layout_cells GROUP BY key, cv, dbv, site, seq - pos)
  WHERE rn = 1;
UPDATE ${n.pks} SET ${K.cv} = b.cv, ${K.dbv} = b.dbv, ${K.site} = b.site, ${K.seq} = b.base
  FROM (SELECT k.key, b.cv, b.dbv, b.site, b.base FROM temp.ddcp_layout_keys k LEFT JOIN temp.ddcp_layout_best b ON b.key = k.key) b
  WHERE ${n.pks}.__key = b.key;
DELETE FROM ${n.cells} WHERE key IN (SELECT key FROM temp.ddcp_layout_keys);
INSERT INTO ${n.cells} (key, cid, col_version, db_version, site, seq)
  SELECT c.key, c.cid, c.cv, c.dbv, c.site, c.seq FROM temp.ddcp_layout_cells c JOIN temp.ddcp_layout_best b ON b.key = c.key
  WHERE NOT (c.cv = b.cv AND c.dbv = b.dbv AND c.site = b.site AND c.seq - c.pos = b.base);`);
  if (info.columns.length > 0) {
    db.exec(`INSERT INTO ${n.cells} (key, cid, col_version, db_version, site, seq)
  SELECT b.key, v.column1, NULL, 0, 0, 0 FROM temp.ddcp_layout_best b CROSS JOIN (VALUES ${positions(info.columns)}) v
  WHERE NOT EXISTS (SELECT 1 FROM temp.ddcp_layout_cells c WHERE c.key = b.key AND c.pos = v.column2);`);
  }
}

/**
 * Re-encodes every row of a CRR for the columns `info` has now, from the clocks the view gives
 * (made for the columns it had): after a schema change column positions move, and clocks of columns
 * it no longer has are forgotten. The view is made anew.
 */
export function reencodeTable(db: SqliteConnection, info: TableInfo, n: CrrNames): void {
  encodeFromClock(db, info, n);
  db.exec(clockViewSql(info, n));
}

/**
 * Encodes every row of the CRR from the per-cell clocks `n.clock` holds (the view, or the old
 * layout's table), for the columns `info` has.
 */
function encodeFromClock(db: SqliteConnection, info: TableInfo, n: CrrNames): void {
  startReencode(db);
  db.exec(`INSERT INTO temp.ddcp_layout_keys (key) SELECT __key FROM ${n.pks}`);
  if (info.columns.length > 0) {
    db.exec(`INSERT INTO temp.ddcp_layout_cells (key, pos, cid, cv, dbv, site, seq)
  SELECT c.key, v.column2, c.cid, c.col_version, c.db_version, c.site, c.seq FROM ${n.clock} c JOIN (VALUES ${positions(info.columns)}) v ON v.column1 = c.cid`);
  }
  writeEncoded(db, info, n);
  startReencode(db);
}

/**
 * Moves a CRR kept in the per-cell layout (a `t__ddcp_clock` table: ddcp before the row-level
 * layout) to this one, inside the caller's transaction: the key map gains the clock columns, the
 * sentinels and cells are encoded from the old table, which is then dropped. `info` is the shape
 * the clocks were written for. Returns whether there was anything to move.
 */
export function migrateLayout(db: SqliteConnection, info: TableInfo, n: CrrNames): boolean {
  const raw = `${info.name}__ddcp_clock`;
  const kind = db.prepare(`SELECT type FROM main.sqlite_master WHERE name = ?`).get(raw) as { type: string } | undefined;
  if (kind?.type !== 'table') return false;
  for (const c of KEY_CLOCK_COLUMNS) db.exec(`ALTER TABLE ${n.pks} ADD COLUMN ${ident(c)} INTEGER`);
  db.exec(layoutTablesSql(n));
  db.exec(`INSERT INTO ${n.sentinels} (key, cl, db_version, site, seq)
  SELECT c.key, c.col_version, c.db_version, c.site, c.seq FROM ${n.clock} c WHERE c.cid = '${SENTINEL}' ORDER BY c.key`);
  encodeFromClock(db, info, n);
  db.exec(`DROP TABLE ${n.clock}`);
  db.exec(clockViewSql(info, n));
  return true;
}

/** Gives the clocks stamped by this database (site 0) the site ordinal `to` (a renewed site id). */
export function moveLocalSite(db: SqliteConnection, n: CrrNames, to: number): void {
  const o = BigInt(to);
  db.prepare(`UPDATE ${n.sentinels} SET site = ? WHERE site = 0`).run(o);
  db.prepare(`UPDATE ${n.pks} SET ${K.site} = ? WHERE ${K.site} = 0`).run(o);
  db.prepare(`UPDATE ${n.cells} SET site = ? WHERE site = 0 AND col_version IS NOT NULL`).run(o);
}

/**
 * Moves the sentinels of a CRR in format 4 — four columns of the key map — to the sentinels table
 * (format 5), inside the caller's transaction: copied row for row, then the columns dropped (SQLite
 * rewrites the key map without them). The view and its trigger, which name those columns, are made
 * anew for `info`'s columns. Returns whether there was anything to move.
 */
export function moveSentinels(db: SqliteConnection, info: TableInfo, n: CrrNames): boolean {
  const cols = (db.prepare(`PRAGMA main.table_xinfo(${literal(`${info.name}${INTERNAL_MARK}pks`)})`).all() as { name: string }[]).map((c) => c.name);
  if (!cols.includes(OLD_SENTINEL_COLUMNS[0])) return false;
  const [cl, dbv, site, seq] = OLD_SENTINEL_COLUMNS;
  db.exec(`DROP VIEW IF EXISTS ${n.clock};
DROP INDEX IF EXISTS ${n.pksClIndex};
${layoutTablesSql(n)}
INSERT INTO ${n.sentinels} (key, cl, db_version, site, seq) SELECT __key, ${cl}, ${dbv}, ${site}, ${seq} FROM ${n.pks} WHERE ${cl} IS NOT NULL ORDER BY __key;`);
  for (const c of OLD_SENTINEL_COLUMNS) db.exec(`ALTER TABLE ${n.pks} DROP COLUMN ${ident(c)}`);
  db.exec(clockViewSql(info, n));
  return true;
}
