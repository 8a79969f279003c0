/** Names of the per-table tables and triggers that make a table a CRR. */
import { INTERNAL_MARK } from './schema.ts';
import { ident, literal, type SqliteConnection } from './sqlite.ts';

export interface CrrNames {
  /** Map from a primary key to a small integer key (cr-sqlite's `__crsql_pks`). */
  pks: string;
  /** A view with one row per (key, column): col_version, db_version, origin site, seq (cr-sqlite's `__crsql_clock`); see layout.ts. */
  clock: string;
  /** The trigger updating clocks through the view. */
  clockUpdate: string;
  /** Cell clocks that differ from their row's clock (layout.ts). */
  cells: string;
  cellsDbvIndex: string;
  pksDbvIndex: string;
  /** The sentinels (causal length and its clock) of rows that have one (layout.ts). */
  sentinels: string;
  sentinelsDbvIndex: string;
  /** Format 4's index of the sentinel columns the key map then had (dropped by migration). */
  pksClIndex: string;
  /** Append-only record of every write by any SQLite client, turned into clocks by `seal`. */
  log: string;
  triggers: { insert: string; update: string; updateKey: string; delete: string };
  /**
   * The key map is keyed by the table's own key: the table's primary key is a single INTEGER
   * PRIMARY KEY of a rowid table (the rowid alias), and the key map's `__key` is that value itself —
   * no copy of the key column to store and no UNIQUE index on it (one B-tree less per write). The
   * key column is still readable there under its name, a virtual generated column (`__key`'s value).
   */
  rowidKeyed: boolean;
  /** The key map's column (quoted) holding primary-key column `pk`: `__key` itself when {@link rowidKeyed}. */
  pkCol(pk: string): string;
}

/**
 * Quoted names for table `t`; `rowidKeyed`: its key map is keyed by the table's rowid alias
 * ({@link keyMapKeyedByRowid} for an existing CRR, {@link isRowidAlias} for a new one).
 */
export function crrNames(table: string, rowidKeyed = false): CrrNames {
  const n = (suffix: string): string => ident(`${table}${INTERNAL_MARK}${suffix}`);
  return {
    pks: n('pks'),
    clock: n('clock'),
    clockUpdate: n('clock_upd'),
    cells: n('cells'),
    cellsDbvIndex: n('cells_dbv'),
    pksDbvIndex: n('pks_dbv'),
    sentinels: n('sentinels'),
    sentinelsDbvIndex: n('sentinels_dbv'),
    pksClIndex: n('pks_cl'),
    log: n('log'),
    triggers: { insert: n('ins'), update: n('upd'), updateKey: n('updkey'), delete: n('del') },
    rowidKeyed,
    pkCol: rowidKeyed ? () => '__key' : ident,
  };
}

/**
 * Whether table `table`'s primary key is the rowid alias: a single column declared exactly INTEGER
 * PRIMARY KEY of a rowid table (not `INTEGER PRIMARY KEY DESC`, which SQLite keeps as an ordinary
 * column with its own index, and may hold non-integers).
 */
export function isRowidAlias(db: SqliteConnection, table: string): boolean {
  const list = db.prepare(`PRAGMA main.table_list(${literal(table)})`).get() as { wr: number | bigint } | undefined;
  if (!list || Number(list.wr) === 1) return false;
  const pks = (db.prepare(`PRAGMA main.table_xinfo(${literal(table)})`).all() as { type: string; pk: number | bigint }[]).filter((c) => Number(c.pk) > 0);
  if (pks.length !== 1 || pks[0]!.type.toUpperCase() !== 'INTEGER') return false;
  const indexes = db.prepare(`PRAGMA main.index_list(${literal(table)})`).all() as { origin: string }[];
  return !indexes.some((i) => i.origin === 'pk');
}

/**
 * Whether CRR `table`'s key map, as stored, is keyed by the table's rowid alias (its key column is
 * a generated column, not a stored copy); for a CRR without a key map yet, whether it will be.
 */
export function keyMapKeyedByRowid(db: SqliteConnection, table: string): boolean {
  const cols = db.prepare(`PRAGMA main.table_xinfo(${literal(`${table}${INTERNAL_MARK}pks`)})`).all() as { hidden: number | bigint }[];
  if (cols.length > 0) return cols.some((c) => Number(c.hidden) !== 0);
  return isRowidAlias(db, table);
}
