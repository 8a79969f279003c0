/**
 * Canonical primary keys. SQLite converts a value stored in a column by the column's affinity (an
 * INTEGER 1 in a TEXT column becomes '1', a REAL 1.0 in an INTEGER column becomes 1). A packed key
 * from a peer that affinity would convert names a row by a value the row doesn't have: the key map
 * would give that row a second identity, with its own clocks, and replicas would part. So a key is
 * accepted only if it holds exactly what SQLite would store — what an honest replica sends — and the
 * key map is declared with the same affinities (defence in depth).
 */
import { literal, type SqlValue, type SqliteConnection } from './sqlite.ts';
import { AffinityProbe, columnAffinity, TYPE_NAME, type Affinity } from './affinity.ts';

export interface KeyColumn {
  name: string;
  affinity: Affinity;
  /** An INTEGER PRIMARY KEY of a rowid table: the rowid itself, which holds integers only. */
  rowid: boolean;
}

/** The primary-key columns of `table`, in key order, with their affinities. */
export function keyColumns(db: SqliteConnection, table: string): KeyColumn[] {
  const cols = (db.prepare(`PRAGMA main.table_xinfo(${literal(table)})`).all() as { name: string; type: string; pk: number | bigint }[])
    .filter((c) => Number(c.pk) > 0)
    .sort((a, b) => Number(a.pk) - Number(b.pk));
  const list = db.prepare(`PRAGMA main.table_list(${literal(table)})`).get() as { wr: number | bigint; strict: number | bigint } | undefined;
  const withoutRowid = Number(list?.wr ?? 0) === 1;
  const strict = Number(list?.strict ?? 0) === 1;
  return cols.map((c) => ({ name: c.name, affinity: columnAffinity(c.type, strict), rowid: !withoutRowid && cols.length === 1 && c.type.toUpperCase() === 'INTEGER' }));
}

/** Checks packed keys against a table's key columns. */
export class KeyCheck {
  private readonly columns: readonly KeyColumn[];
  private readonly probe: AffinityProbe;

  constructor(db: SqliteConnection, columns: readonly KeyColumn[]) {
    this.probe = new AffinityProbe(db);
    this.columns = columns;
  }

  /** Why `values` (an unpacked key, no NULLs) is not what SQLite would store, or undefined if it is. */
  problem(values: readonly SqlValue[]): string | undefined {
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      const col = this.columns[i];
      if (!col) return undefined; // the column count is checked by the caller
      if (col.rowid) {
        if (typeof v !== 'bigint') return `key column ${col.name} is an INTEGER PRIMARY KEY and takes only integers, not ${TYPE_NAME(v)}`;
        continue;
      }
      const misfit = this.probe.problem(`key column ${col.name}`, col.affinity, v);
      if (misfit) return misfit;
    }
    return undefined;
  }
}
