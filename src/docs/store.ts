/** Reading and writing one document's rows (see fields.ts for the representation). */
import type { SqliteConnection, SqlValue } from '../engine/index.ts';
import { contentOf, valuedRows, type StoredDocument } from './decode.ts';
import { ARRAY_MARKER, layout, OBJECT_MARKER, visibleRows } from './fields.ts';
import { canonical, type JsonObject } from './json.ts';
import type { Operation } from './patch.ts';
import { CHANGES_TABLE, DOCS_TABLE, FIELDS_TABLE } from './schema.ts';
import { statement } from './statements.ts';

export type { StoredDocument } from './decode.ts';

/** A document's rows and its history's length and next seq here (what a change starts from). */
export interface LoadedDocument {
  stored: StoredDocument & { fields: Map<string, string | null> };
  version: number;
  nextSeq: number;
}

// One statement for all three reads: the existence row (k 0), the history's count and greatest
// seq (k 1), then the field rows (k 2).
const LOAD = `SELECT 0, deleted, NULL FROM ${DOCS_TABLE} WHERE collection = ?1 AND id = ?2
  UNION ALL SELECT 1, count(*), max(seq) FROM ${CHANGES_TABLE} WHERE collection = ?1 AND doc = ?2
  UNION ALL SELECT 2, value, path FROM ${FIELDS_TABLE} WHERE collection = ?1 AND doc = ?2`;

/** Reads a document's rows, with its version and the seq its next change here gets. */
export function loadDocument(db: SqliteConnection, collection: string, id: string): LoadedDocument {
  const s = statement(db, LOAD);
  s.setReturnArrays(true);
  const fields = new Map<string, string | null>();
  let deleted: number | undefined;
  let version = 0;
  let nextSeq = 1;
  for (const r of s.all(collection, id) as [number, SqlValue, SqlValue][]) {
    if (r[0] === 2) fields.set(r[2] as string, r[1] as string | null);
    else if (r[0] === 0) deleted = Number(r[1]);
    else {
      version = Number(r[1]);
      nextSeq = Number(r[2] ?? 0) + 1;
    }
  }
  return { stored: { deleted, fields }, version, nextSeq };
}

/** The live content of a document, or undefined if it doesn't exist or is deleted. */
export function readContent(db: SqliteConnection, collection: string, id: string): JsonObject | undefined {
  return contentOf(loadDocument(db, collection, id).stored);
}

/** The row writes that take a document from what is stored to a new content. */
export interface RowWrites {
  /** Field rows to set (null: removed), in order. */
  fields: [string, string | null][];
  /** The existence row: inserted (`insert`), its flag changed (`update`), or left alone. */
  doc: 'insert' | 'update' | undefined;
  deleted: number;
  /** The rows that show once these writes are made (path → text; empty when deleted). */
  visible: Map<string, string>;
}

/**
 * What changes the document from what `stored` holds (whose content is `current`; undefined: none)
 * to `next` (undefined: deleted): only rows whose value changes — so a field nobody touched keeps
 * its clock and a concurrent edit of it elsewhere wins. Rows that were visible and are no longer
 * part of the document are cleared, and so are hidden rows under an object this change creates
 * (they belong to an older object there). Other hidden rows — e.g. members whose parent object
 * hasn't arrived yet from a peer — are left alone, so they show once it does (no row that is
 * hidden now shows afterwards: what shows then is exactly `next`'s rows). `visible`: the rows that
 * show now, if known; `forward`: the patch from `current` to `next`, if known. Pure.
 */
export function planWrites(stored: StoredDocument, current: JsonObject | undefined, next: JsonObject | undefined, visible?: ReadonlyMap<string, string>, forward?: readonly Operation[]): RowWrites {
  if (visible && current && next && forward?.length === 1) {
    const quick = oneLeaf(stored, visible, forward[0]!);
    if (quick) return quick;
  }
  const have = stored.fields;
  const was = current ? (visible ?? visibleRows(valuedRows(have))) : new Map<string, string>();
  const want = next ? layout(next, was) : new Map<string, string>();
  const fresh: string[] = [];
  for (const [p, v] of want) if ((v === OBJECT_MARKER || v === ARRAY_MARKER) && was.get(p) !== v) fresh.push(p + '/');
  if (next && !current) fresh.push('/');
  const fields: [string, string | null][] = [];
  for (const [path, value] of have) {
    if (value === null || want.has(path)) continue;
    if (was.has(path) || fresh.some((prefix) => path.startsWith(prefix))) fields.push([path, null]);
  }
  for (const [path, value] of want) if (have.get(path) !== value) fields.push([path, value]);
  const deleted = next ? 0 : 1;
  return { fields, deleted, doc: stored.deleted === undefined ? 'insert' : stored.deleted !== deleted ? 'update' : undefined, visible: want };
}

/**
 * {@link planWrites} for a patch replacing one leaf with a leaf (the common edit), or undefined for
 * any other: then the rows that show afterwards are those that show now with that one changed, and
 * that one row is all there is to write (no container appears or goes, nothing else changes text).
 */
function oneLeaf(stored: StoredDocument, visible: ReadonlyMap<string, string>, op: Operation): RowWrites | undefined {
  if (op.op !== 'replace' || (typeof op.value === 'object' && op.value !== null)) return undefined;
  const old = visible.get(op.path);
  if (old === undefined || old === OBJECT_MARKER || old === ARRAY_MARKER) return undefined;
  const text = canonical(op.value);
  const want = new Map(visible);
  want.set(op.path, text);
  return { fields: stored.fields.get(op.path) === text ? [] : [[op.path, text]], deleted: 0, doc: stored.deleted === 0 ? undefined : stored.deleted === undefined ? 'insert' : 'update', visible: want };
}

/**
 * Applies {@link planWrites}' result to `stored` (a cached copy of the rows). Returns whether it
 * added rows (they come last, not where {@link loadDocument} would put them: see {@link inStoredOrder}).
 */
export function applyWrites(stored: StoredDocument & { fields: Map<string, string | null> }, w: RowWrites): boolean {
  let added = false;
  for (const [path, value] of w.fields) {
    if (!added && !stored.fields.has(path)) added = true;
    stored.fields.set(path, value);
  }
  if (w.doc) stored.deleted = w.deleted;
  return added;
}

/**
 * Compares strings as SQLite's BINARY collation does (UTF-8 bytes, i.e. code points): JavaScript's
 * `<` compares UTF-16 units, which differs for characters above U+FFFF against U+E000–U+FFFF.
 */
function compareBinary(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && x <= 0xdfff && y >= 0xd800 && y <= 0xdfff) return x - y;
    return (x >= 0xd800 && x <= 0xdfff ? 0x10000 : x) - (y >= 0xd800 && y <= 0xdfff ? 0x10000 : y);
  }
  return a.length - b.length;
}

/**
 * Puts a cached copy's rows back in the order {@link loadDocument} reads them (by path, as the
 * primary key orders them), after {@link applyWrites} added some: the order of a change's row
 * writes follows it, and with it the order of the changes on the wire.
 */
export function inStoredOrder(stored: { fields: Map<string, string | null> }): void {
  const rows = [...stored.fields].sort((a, b) => compareBinary(a[0], b[0]));
  stored.fields.clear();
  for (const [p, v] of rows) stored.fields.set(p, v);
}

const SET_FIELD = `INSERT INTO ${FIELDS_TABLE} (collection, doc, path, value) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value`;
const INSERT_DOC = `INSERT INTO ${DOCS_TABLE} (collection, id, deleted) VALUES (?, ?, ?)`;
const UPDATE_DOC = `UPDATE ${DOCS_TABLE} SET deleted = ? WHERE collection = ? AND id = ?`;

/** Writes {@link planWrites}' result, one statement per row. */
export function writeRows(db: SqliteConnection, collection: string, id: string, w: RowWrites): void {
  if (w.fields.length > 0) {
    const set = statement(db, SET_FIELD);
    for (const [path, value] of w.fields) set.run(collection, id, path, value);
  }
  if (w.doc === 'insert') statement(db, INSERT_DOC).run(collection, id, BigInt(w.deleted)); // INTEGER, not REAL (see entryRow)
  else if (w.doc === 'update') statement(db, UPDATE_DOC).run(BigInt(w.deleted), collection, id);
}

/** Rows per multi-row statement of {@link writeMany}. */
const GROUP = 64;

/**
 * Writes many rows of one table with multi-row upserts (`columns` per row, flat in `values`): a
 * batch of changes costs a few statements rather than one per row.
 */
export function upsertMany(db: SqliteConnection, table: string, columns: readonly string[], keys: number, values: SqlValue[]): void {
  const width = columns.length;
  const rows = values.length / width;
  for (let r = 0; r < rows; r += GROUP) {
    const n = Math.min(GROUP, rows - r);
    statement(db, upsertSql(table, columns, keys, n)).run(...values.slice(r * width, (r + n) * width));
  }
}

/** The SQL texts of {@link upsertMany}, made once each (a batch runs the same few again and again). */
const upserts = new Map<string, string>();

function upsertSql(table: string, columns: readonly string[], keys: number, n: number): string {
  const id = `${table}\0${columns.join(',')}\0${keys}\0${n}`;
  let sql = upserts.get(id);
  if (sql === undefined) {
    sql = `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array.from({ length: n }, () => `(${columns.map(() => '?').join(', ')})`).join(', ')}
     ON CONFLICT (${columns.slice(0, keys).join(', ')}) DO UPDATE SET ${columns.slice(keys).map((c) => `${c} = excluded.${c}`).join(', ')}`;
    upserts.set(id, sql);
  }
  return sql;
}

/** Ids of the live documents of a collection, in id order. */
export function liveIds(db: SqliteConnection, collection: string): string[] {
  return (statement(db, `SELECT id FROM ${DOCS_TABLE} WHERE collection = ? AND deleted = 0 ORDER BY id`).all(collection) as { id: string }[]).map((r) => r.id);
}

/** Names of collections holding at least one live document. */
export function collectionNames(db: SqliteConnection): string[] {
  return (statement(db, `SELECT DISTINCT collection FROM ${DOCS_TABLE} WHERE deleted = 0 ORDER BY collection`).all() as { collection: string }[]).map((r) => r.collection);
}
