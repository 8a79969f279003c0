/** Reading and writing one document's rows (see fields.ts for the representation). */
import type { SqliteConnection } from '../engine/index.ts';
import { contentOf, valuedRows, type StoredDocument } from './decode.ts';
import { ARRAY_MARKER, layout, OBJECT_MARKER, visibleRows } from './fields.ts';
import type { JsonObject } from './json.ts';
import { DOCS_TABLE, FIELDS_TABLE } from './schema.ts';
import { statement } from './statements.ts';

export type { StoredDocument } from './decode.ts';

/** Reads a document's rows. */
export function loadDocument(db: SqliteConnection, collection: string, id: string): StoredDocument {
  const row = statement(db, `SELECT deleted FROM ${DOCS_TABLE} WHERE collection = ? AND id = ?`).get(collection, id) as { deleted: unknown } | undefined;
  const rows = statement(db, `SELECT path, value FROM ${FIELDS_TABLE} WHERE collection = ? AND doc = ?`).all(collection, id) as { path: string; value: string | null }[];
  const fields = new Map<string, string | null>();
  for (const r of rows) fields.set(r.path, r.value);
  return { deleted: row ? Number(row.deleted) : undefined, fields };
}


/** The live content of a document, or undefined if it doesn't exist or is deleted. */
export function readContent(db: SqliteConnection, collection: string, id: string): JsonObject | undefined {
  return contentOf(loadDocument(db, collection, id));
}

/**
 * Changes the document from what `stored` holds (whose content is `current`; undefined: none) to
 * `next` (undefined: deleted), writing only rows whose value changes — so a field nobody touched
 * keeps its clock and a concurrent edit of it elsewhere wins. Rows that were visible and are no
 * longer part of the document are cleared, and so are hidden rows under an object this change
 * creates (they belong to an older object there). Other hidden rows — e.g. members whose parent
 * object hasn't arrived yet from a peer — are left alone, so they show once it does.
 */
export function writeContent(db: SqliteConnection, collection: string, id: string, stored: StoredDocument, current: JsonObject | undefined, next: JsonObject | undefined): void {
  const have = stored.fields;
  const was = current ? visibleRows(valuedRows(have)) : new Map<string, string>();
  const want = next ? layout(next, was) : new Map<string, string>();
  const isContainer = (v: string | undefined): boolean => v === OBJECT_MARKER || v === ARRAY_MARKER;
  const fresh = [...want].filter(([p, v]) => isContainer(v) && was.get(p) !== v).map(([p]) => p + '/');
  if (next && !current) fresh.push('/');
  const set = statement(db, `INSERT INTO ${FIELDS_TABLE} (collection, doc, path, value) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value`);
  for (const [path, value] of have) {
    if (value === null || want.has(path)) continue;
    if (was.has(path) || fresh.some((prefix) => path.startsWith(prefix))) set.run(collection, id, path, null);
  }
  for (const [path, value] of want) if (have.get(path) !== value) set.run(collection, id, path, value);
  const deleted = next ? 0 : 1;
  if (stored.deleted === undefined) statement(db, `INSERT INTO ${DOCS_TABLE} (collection, id, deleted) VALUES (?, ?, ?)`).run(collection, id, deleted);
  else if (stored.deleted !== deleted) statement(db, `UPDATE ${DOCS_TABLE} SET deleted = ? WHERE collection = ? AND id = ?`).run(deleted, collection, id);
}

/** Ids of the live documents of a collection, in id order. */
export function liveIds(db: SqliteConnection, collection: string): string[] {
  return (statement(db, `SELECT id FROM ${DOCS_TABLE} WHERE collection = ? AND deleted = 0 ORDER BY id`).all(collection) as { id: string }[]).map((r) => r.id);
}

/** Names of collections holding at least one live document. */
export function collectionNames(db: SqliteConnection): string[] {
  return (statement(db, `SELECT DISTINCT collection FROM ${DOCS_TABLE} WHERE deleted = 0 ORDER BY collection`).all() as { collection: string }[]).map((r) => r.collection);
}
