/**
 * Whether SQLite would store a value unchanged in a column of a given affinity. A change from a peer
 * carries the value as the peer stored it; one that our affinity would convert (TEXT '007' into an
 * INTEGER column becomes 7) is compared in a tie as what it is but stored as something else, so the
 * order of delivery would decide the winner and replicas would part. So the merge takes such a value
 * as what SQLite stores (merge.ts's storedAs); a key that doesn't fit is refused instead (keys.ts:
 * converting it would change the row's identity).
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

/**
 * The affinity of a column declared `declared`, in a STRICT table if `strict`: there ANY has none
 * (it keeps '1', 1 and 1.0 apart), where outside STRICT the same word gives NUMERIC.
 */
export function columnAffinity(declared: string, strict: boolean): Affinity {
  return strict && declared.toUpperCase() === 'ANY' ? 'BLOB' : affinityOf(declared);
}

/** The affinities of `columns` of `table` (a column not found, such as a generated one: none). */
export function columnAffinities(db: SqliteConnection, table: string, columns: readonly string[]): Affinity[] {
  const types = new Map((db.prepare(`PRAGMA main.table_xinfo(${literal(table)})`).all() as { name: string; type: string }[]).map((c) => [c.name, c.type]));
  const list = db.prepare(`PRAGMA main.table_list(${literal(table)})`).get() as { strict?: number | bigint } | undefined;
  const strict = Number(list?.strict ?? 0) === 1;
  return columns.map((c) => {
    const declared = types.get(c);
    return declared === undefined ? 'BLOB' : columnAffinity(declared, strict);
  });
}

/** The storage class's name of a value, for messages. */
export const TYPE_NAME = (v: SqlValue): string => (v === null ? 'NULL' : typeof v === 'bigint' ? 'INTEGER' : typeof v === 'number' ? 'REAL' : typeof v === 'string' ? 'TEXT' : 'BLOB');

/**
 * The shape of a text SQLite may read as a number: a decimal literal between its whitespace. Only
 * such a text is put to SQLite (a date such as '2024-01-05' in a NUMERIC column is not).
 */
const NUMERIC_LOOKING = /^[\t\n\v\f\r ]*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[\t\n\v\f\r ]*$/;

/** Asks SQLite itself what a column of some affinity stores for a value. */
export class AffinityProbe {
  private readonly db: SqliteConnection;
  private readonly probes = new Map<Affinity, Statement>();

  constructor(db: SqliteConnection) {
    this.db = db;
  }

  /**
   * Whether a column of affinity `a` stores `v` unchanged. Decided here but for a text that may read
   * as a number in a numeric column, which SQLite's own parser decides.
   */
  fits(a: Affinity, v: SqlValue): boolean {
    if (v === null || a === 'BLOB' || v instanceof Uint8Array) return true;
    switch (typeof v) {
      case 'string':
        return a === 'TEXT' || !NUMERIC_LOOKING.test(v) || valuesKey([this.store(a, v)]) === valuesKey([v]);
      case 'bigint':
        return a === 'INTEGER' || a === 'NUMERIC';
      default:
        // INTEGER and NUMERIC store an integral REAL strictly inside ±2^63 as an INTEGER (-0.0 as 0);
        // REAL stores -0.0 as 0.0; TEXT stores every number as text.
        if (a === 'TEXT') return false;
        if (a === 'REAL') return !Object.is(v, -0);
        return !(Number.isInteger(v) && v > -9223372036854775808 && v < 9223372036854775808);
    }
  }

  /** Why `v` doesn't fit `column` (named so in the message: `column c`) of affinity `a`, or undefined if it does. */
  problem(column: string, a: Affinity, v: SqlValue): string | undefined {
    if (this.fits(a, v)) return undefined;
    const stored = this.store(a, v);
    return `${column} has ${a} affinity: SQLite would store ${TYPE_NAME(v)} ${String(v).slice(0, 40)} as ${TYPE_NAME(stored)}`;
  }

  /**
   * What a column of affinity `a` stores for `v`, asked of SQLite: a scratch row in a temp table,
   * removed at once. A rolled-back savepoint (a refused source transaction) may take the table with
   * it: then it is made again.
   */
  store(a: Affinity, v: SqlValue): SqlValue {
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
