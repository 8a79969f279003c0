/**
 * Which keying a CRR's key map has, and moving it from one to the other (names.ts,
 * `CrrNames.rowidKeyed`): a table keyed by its rowid alias has its key map keyed by that key itself,
 * any other table by numbers beside a UNIQUE copy of its key. Existing repositories (format 2) are
 * moved on open; a schema change that makes the key stop being the rowid alias moves it back.
 */
import { KEY_CLOCK_COLUMNS, clockViewSql, layoutTablesSql } from './layout.ts';
import { keyColumns } from './keys.ts';
import { crrNames, isRowidAlias, keyMapKeyedByRowid, type CrrNames } from './names.ts';
import { INTERNAL_MARK, type TableInfo } from './schema.ts';
import { ident, type SqliteConnection } from './sqlite.ts';
import { keyMapSql } from './triggers.ts';

/**
 * The keying the key map of CRR `info` should have: by the rowid alias when the table's key is one
 * and every key the map holds (tombstones included) is an integer — always, unless the table's key
 * was something else before a schema change.
 */
function wantsRowidKeying(db: SqliteConnection, info: TableInfo, n: CrrNames): boolean {
  if (!isRowidAlias(db, info.name)) return false;
  if (n.rowidKeyed) return true;
  const pk = n.pkCol(info.pks[0]!);
  return db.prepare(`SELECT 1 FROM ${n.pks} WHERE typeof(${pk}) <> 'integer' LIMIT 1`).get() === undefined;
}

/**
 * Gives CRR `info`'s key map the keying its table calls for ({@link wantsRowidKeying}), inside the
 * caller's transaction, and returns its names. Nothing is lost: moving to the rowid keying, each
 * row's key becomes the table's key and the overrides and sentinel follow it; moving back, the keys stay and the
 * key column is stored again. The clock view is made anew for `info`'s columns.
 */
export function fitKeyMap(db: SqliteConnection, info: TableInfo): CrrNames {
  const from = crrNames(info.name, keyMapKeyedByRowid(db, info.name));
  const exists = db.prepare(`SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?`).get(`${info.name}${INTERNAL_MARK}pks`) !== undefined;
  if (!exists) return from;
  const toRowid = wantsRowidKeying(db, info, from);
  if (toRowid === from.rowidKeyed) return from;
  const to = crrNames(info.name, toRowid);
  const oldPks = ident(`${info.name}${INTERNAL_MARK}pks_old`);
  const oldCells = ident(`${info.name}${INTERNAL_MARK}cells_old`);
  const oldSentinels = ident(`${info.name}${INTERNAL_MARK}sentinels_old`);
  // The view (its update trigger goes with it) names the tables: dropped first, so the renames
  // below have nothing to rewrite; the indexes keep their names through a rename.
  db.exec(`DROP VIEW IF EXISTS ${from.clock};
DROP INDEX IF EXISTS ${from.pksDbvIndex};
DROP INDEX IF EXISTS ${from.cellsDbvIndex};
DROP INDEX IF EXISTS ${from.sentinelsDbvIndex};
ALTER TABLE ${from.pks} RENAME TO ${oldPks};
ALTER TABLE ${from.cells} RENAME TO ${oldCells};
ALTER TABLE ${from.sentinels} RENAME TO ${oldSentinels};`);
  db.exec(keyMapSql(info, to, keyColumns(db, info.name).map((c) => c.affinity)));
  db.exec(layoutTablesSql(to));
  const clocks = KEY_CLOCK_COLUMNS.join(', ');
  const cellCols = 'cid, col_version, db_version, site, seq';
  const sentinelCols = 'cl, db_version, site, seq';
  if (toRowid) {
    const pk = ident(info.pks[0]!);
    db.exec(`INSERT INTO ${to.pks} (__key, ${clocks}) SELECT ${pk}, ${clocks} FROM ${oldPks} ORDER BY ${pk};
INSERT INTO ${to.cells} (key, ${cellCols}) SELECT p.${pk}, o.cid, o.col_version, o.db_version, o.site, o.seq FROM ${oldCells} o JOIN ${oldPks} p ON p.__key = o.key;
INSERT INTO ${to.sentinels} (key, ${sentinelCols}) SELECT p.${pk}, s.cl, s.db_version, s.site, s.seq FROM ${oldSentinels} s JOIN ${oldPks} p ON p.__key = s.key ORDER BY p.${pk};`);
  } else {
    const pks = info.pks.map(ident).join(', ');
    db.exec(`INSERT INTO ${to.pks} (__key, ${pks}, ${clocks}) SELECT __key, __key, ${clocks} FROM ${oldPks} ORDER BY __key;
INSERT INTO ${to.cells} (key, ${cellCols}) SELECT key, ${cellCols} FROM ${oldCells};
INSERT INTO ${to.sentinels} (key, ${sentinelCols}) SELECT key, ${sentinelCols} FROM ${oldSentinels} ORDER BY key;`);
  }
  db.exec(`DROP TABLE ${oldPks};
DROP TABLE ${oldCells};
DROP TABLE ${oldSentinels};
${clockViewSql(info, to)}`);
  return to;
}
