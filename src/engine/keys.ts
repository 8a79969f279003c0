/**
 * Canonical primary keys. SQLite converts a value stored in a column by the column's affinity (an
 * INTEGER 1 in a TEXT column becomes '1', a REAL 1.0 in an INTEGER column becomes 1). A packed key
 * from a peer that affinity would convert names a row by a value the row doesn't have: the key map
 * would give that row a second identity, with its own clocks, and replicas would part. So a key is
 * accepted only if it holds exactly what SQLite would store — what an honest replica sends — and the
 * key map is declared with the same affinities (defence in depth).
 */
import { literal, type SqlValue, type SqliteConnection, type Statement } from './sqlite.ts';
import { valuesKey } from './bulk.ts';

/** SQLite's column affinities (BLOB is "none": values are stored as given). */
export type Affinity = 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC';

/** The affinity of a declared type, by SQLite's rules (datatype3.html §3.1). */
export function affinityOf(declared: string): Affinity {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'INTEGER';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'TEXT';
  if (t === '' || t.includes('BLOB')) return 'BLOB';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'REAL';
  return 'NUMERIC';
}

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

/**
 * The affinity of a column declared `declared`, in a STRICT table if `strict`: there ANY has none
 * (it keeps '1', 1 and 1.0 apart), where outside STRICT the same word gives NUMERIC.
 */
export function columnAffinity(declared: string, strict: boolean): Affinity {
  return strict && declared.toUpperCase() === 'ANY' ? 'BLOB' : affinityOf(declared);
}

const TYPE_NAME = (v: SqlValue): string => (typeof v === 'bigint' ? 'INTEGER' : typeof v === 'number' ? 'REAL' : typeof v === 'string' ? 'TEXT' : 'BLOB');

/** Checks packed keys against a table's key columns. */
export class KeyCheck {
  private readonly columns: readonly KeyColumn[];
  private readonly db: SqliteConnection;
  private readonly probes = new Map<Affinity, Statement>();

  constructor(db: SqliteConnection, columns: readonly KeyColumn[]) {
    this.db = db;
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
      // Only a few pairs need SQLite's own verdict (is this text a number?); the rest are clear here.
      const a = col.affinity;
      if (a === 'BLOB' || v instanceof Uint8Array) continue;
      if (typeof v === 'string' && a === 'TEXT') continue;
      if (typeof v === 'bigint' && (a === 'INTEGER' || a === 'NUMERIC')) continue;
      // -0.0 is the exception: SQLite stores it as 0.0, so it goes to SQLite's verdict below.
      if (typeof v === 'number' && a === 'REAL' && !Object.is(v, -0)) continue;
      const stored = this.store(a, v);
      if (valuesKey([stored]) !== valuesKey([v])) return `key column ${col.name} has ${a} affinity: SQLite would store ${TYPE_NAME(v)} ${String(v).slice(0, 40)} as ${TYPE_NAME(stored)}`;
    }
    return undefined;
  }

  /**
   * What a column of affinity `a` stores for `v`, asked of SQLite: a scratch row in a temp table,
   * removed at once. A rolled-back savepoint (a refused source transaction) may take the table with
   * it: then it is made again.
   */
  private store(a: Affinity, v: SqlValue): SqlValue {
    const table = `temp.ddcp_affinity_${a.toLowerCase()}`;
    for (let attempt = 0; ; attempt++) {
      try {
        let s = this.probes.get(a);
        if (!s) {
          this.db.exec(`CREATE TABLE IF NOT EXISTS ${table} (v ${a})`);
          s = this.db.prepare(`INSERT INTO ${table} (v) VALUES (?) RETURNING v`);
          s.setReadBigInts(true);
          s.setReturnArrays(true);
          this.probes.set(a, s);
        }
        const r = (s.get(v) as [SqlValue])[0];
        this.db.exec(`DELETE FROM ${table}`);
        return r;
      } catch (err) {
        this.probes.delete(a);
        if (attempt > 0) throw err;
      }
    }
  }
}
