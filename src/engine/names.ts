/** Names of the per-table tables and triggers that make a table a CRR. */
import { INTERNAL_MARK } from './schema.ts';
import { ident } from './sqlite.ts';

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
  pksClIndex: string;
  /** Append-only record of every write by any SQLite client, turned into clocks by `seal`. */
  log: string;
  triggers: { insert: string; update: string; updateKey: string; delete: string };
}

/** Quoted names for table `t`. */
export function crrNames(table: string): CrrNames {
  const n = (suffix: string): string => ident(`${table}${INTERNAL_MARK}${suffix}`);
  return {
    pks: n('pks'),
    clock: n('clock'),
    clockUpdate: n('clock_upd'),
    cells: n('cells'),
    cellsDbvIndex: n('cells_dbv'),
    pksDbvIndex: n('pks_dbv'),
    pksClIndex: n('pks_cl'),
    log: n('log'),
    triggers: { insert: n('ins'), update: n('upd'), updateKey: n('updkey'), delete: n('del') },
  };
}
