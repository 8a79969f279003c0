/**
 * Table introspection and the rules a table must meet to become a CRR (those of cr-sqlite 0.16):
 * a non-null primary key, no AUTOINCREMENT, no UNIQUE index besides the primary key, no checked
 * foreign keys, and a DEFAULT for every NOT NULL column — anything else could make a merge fail or
 * two peers assign one key to unrelated rows.
 */
import { SchemaError } from './errors.ts';
import { ident, literal, type SqliteConnection } from './sqlite.ts';

/** What the engine needs to know of a CRR table. */
export interface TableInfo {
  readonly name: string;
  /** Primary-key columns, in primary-key order (the order keys are packed in). */
  readonly pks: readonly string[];
  /** Replicated non-key columns, in table order. Generated columns are left out: peers compute them. */
  readonly columns: readonly string[];
}

/** Names ddcp keeps to itself: its tables, and the suffixes of its per-table tables and triggers. */
export const INTERNAL_PREFIX = 'ddcp_';
export const INTERNAL_MARK = '__ddcp_';

/** The row sentinel's column id (cr-sqlite's `-1`). */
export const SENTINEL = '-1';

interface ColumnRow {
  name: string;
  type: string;
  notnull: number | bigint;
  dflt_value: string | null;
  pk: number | bigint;
  hidden: number | bigint;
}

function tableKind(db: SqliteConnection, table: string): { sql: string } | undefined {
  return db.prepare(`SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name = ?`).get(table) as { sql: string } | undefined;
}

/** Reads a table's key and columns; throws {@link SchemaError} if there is no such table. */
export function introspect(db: SqliteConnection, table: string): TableInfo {
  if (!tableKind(db, table)) throw new SchemaError(`no such table: ${table}`);
  const cols = db.prepare(`PRAGMA main.table_xinfo(${literal(table)})`).all() as unknown as ColumnRow[];
  const pks = cols
    .filter((c) => Number(c.pk) > 0)
    .sort((a, b) => Number(a.pk) - Number(b.pk))
    .map((c) => c.name);
  const columns = cols.filter((c) => Number(c.pk) === 0 && Number(c.hidden) === 0).map((c) => c.name);
  return { name: table, pks, columns };
}

/**
 * Checks that `table` can be a CRR and returns its shape. Throws {@link SchemaError} naming the table
 * and the reason otherwise.
 */
export function checkCrrTable(db: SqliteConnection, table: string): TableInfo {
  const fail = (reason: string): never => {
    throw new SchemaError(`cannot make table ${table} a CRR: ${reason}`);
  };
  if (typeof table !== 'string' || table.length === 0) throw new SchemaError('crsql_as_crr needs a table name');
  if (table.startsWith('sqlite_') || table.startsWith(INTERNAL_PREFIX) || table.includes(INTERNAL_MARK)) {
    fail('the name is reserved for SQLite or ddcp');
  }
  const master = tableKind(db, table);
  if (!master) {
    const other = db.prepare(`SELECT type FROM main.sqlite_master WHERE name = ?`).get(table) as { type: string } | undefined;
    throw new SchemaError(other ? `cannot make ${table} a CRR: it is a ${other.type}, not a table` : `no such table: ${table}`);
  }
  if (/^\s*create\s+virtual\b/i.test(master.sql)) fail('it is a virtual table');
  const list = db.prepare(`PRAGMA main.table_list(${literal(table)})`).get() as { wr: number | bigint } | undefined;
  const withoutRowid = Number(list?.wr ?? 0) === 1;
  const cols = db.prepare(`PRAGMA main.table_xinfo(${literal(table)})`).all() as unknown as ColumnRow[];
  const pkCols = cols.filter((c) => Number(c.pk) > 0);
  if (pkCols.length === 0) fail('it has no primary key');
  for (const c of pkCols) {
    if (Number(c.notnull) === 0 && !withoutRowid) fail(`primary-key column ${c.name} is nullable (declare it NOT NULL)`);
    if (Number(c.hidden) !== 0) fail(`primary-key column ${c.name} is generated`);
    // The key map keeps the key columns beside its own `__key` (SQLite names ignore case).
    if (c.name.toLowerCase() === '__key') fail(`primary-key column ${c.name}: the name __key is reserved for ddcp (rename the column)`);
  }
  if (pkCols.length > 255) fail('its primary key has more than 255 columns');
  if (/\bautoincrement\b/i.test(master.sql)) {
    fail('it has an AUTOINCREMENT primary key (two peers would give unrelated rows the same key; use a UUID or another natural key)');
  }
  const indexes = db.prepare(`PRAGMA main.index_list(${literal(table)})`).all() as { name: string; unique: number | bigint; origin: string }[];
  const unique = indexes.find((i) => Number(i.unique) === 1 && i.origin !== 'pk');
  if (unique) fail(`it has a UNIQUE index besides the primary key (${unique.origin === 'u' ? 'a UNIQUE constraint' : unique.name})`);
  // Keys are compared byte for byte everywhere (the key map, merges, peers): under another collation
  // 'a' and 'A' would be one row here and two in the key map, so two peers could each keep a different
  // one and never converge. (A rowid alias has no index: an integer key has no collation to speak of.)
  const pkIndex = indexes.find((i) => i.origin === 'pk');
  if (pkIndex) {
    const keyCols = db.prepare(`PRAGMA main.index_xinfo(${literal(pkIndex.name)})`).all() as { name: string | null; coll: string; key: number | bigint }[];
    const collated = keyCols.find((k) => Number(k.key) === 1 && k.name !== null && k.coll.toUpperCase() !== 'BINARY');
    if (collated) {
      fail(`primary-key column ${collated.name} has COLLATE ${collated.coll} (keys are compared byte for byte, so two peers could keep 'a' and 'A' as different rows; use the default BINARY collation)`);
    }
  }
  const fks = db.prepare(`PRAGMA main.foreign_key_list(${literal(table)})`).all();
  if (fks.length > 0) fail('it has checked foreign-key constraints, which replication could violate');
  for (const c of cols) {
    if (c.name === SENTINEL) fail(`column name ${c.name} is reserved for the row sentinel`);
    if (c.name.includes(INTERNAL_MARK)) fail(`column name ${c.name} is reserved for ddcp`);
    if (Number(c.pk) === 0 && Number(c.hidden) === 0 && Number(c.notnull) !== 0 && c.dflt_value === null) {
      fail(`column ${c.name} is NOT NULL without a DEFAULT (peers on other schema versions could not insert rows)`);
    }
  }
  return introspect(db, table);
}

/** A stable description of a CRR's shape; peers with different fingerprints have different schemas. */
export function describe(info: TableInfo): string {
  return `${ident(info.name)}(${info.pks.map((p) => `${ident(p)} PK`).concat(info.columns.map(ident)).join(', ')})`;
}
