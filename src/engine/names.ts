/** Names of the per-table tables and triggers that make a table a CRR. */
import { INTERNAL_MARK } from './schema.ts';
import { ident } from './sqlite.ts';

export interface CrrNames {
  /** Map from a primary key to a small integer key (cr-sqlite's `__crsql_pks`). */
  pks: string;
  /** One row per (key, column): col_version, db_version, origin site, seq (cr-sqlite's `__crsql_clock`). */
  clock: string;
  clockDbvIndex: string;
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
    clockDbvIndex: n('clock_dbv'),
    log: n('log'),
    triggers: { insert: n('ins'), update: n('upd'), updateKey: n('updkey'), delete: n('del') },
  };
}
