/**
 * The JSON documents of each hosted database, materialized as JSONB rows (`documents`, a GIN index
 * on `content`) so server-side SQL can query them: `SELECT id FROM documents WHERE db = $1 AND
 * content->>'status' = 'done'`. Kept in the merge's transaction: after a merge, every document
 * whose rows it received is decoded again from the database's cells — with the docs layer's own
 * pure decoding (`documentOf`), so the row is what a client that synced the database reads
 * (content, version, revision) — and written, or removed if it is deleted or not there.
 */
import type { Sql } from 'postgres';
import { packColumns, unpackColumns, unpackValue, type Change, type SqlValue } from '../../../engine/index.ts';
import { DOCUMENT_CHANGES_TABLE, DOCUMENT_FIELDS_TABLE, DOCUMENTS_TABLE, documentOf, type StoredDocument } from '../../../docs/index.ts';
import { bytes, hex } from './cells.ts';

const DOC_TABLES = new Set([DOCUMENTS_TABLE, DOCUMENT_FIELDS_TABLE, DOCUMENT_CHANGES_TABLE]);

/** A document's key (collection, id), and its map key. */
type DocKey = [string, string];
const keyOf = (collection: string, id: string): string => JSON.stringify([collection, id]);

/** The documents whose rows are among `changes` (keys of their three tables start with collection, id). */
export function touchedDocuments(changes: Iterable<Change>): DocKey[] {
  const out = new Map<string, DocKey>();
  let lastPk: Uint8Array | undefined;
  for (const c of changes) {
    if (!DOC_TABLES.has(c.table) || c.pk === lastPk) continue;
    lastPk = c.pk;
    const values = unpackColumns(c.pk);
    const [collection, id] = values;
    if (typeof collection !== 'string' || typeof id !== 'string') continue;
    const k = keyOf(collection, id);
    if (!out.has(k)) out.set(k, [collection, id]);
  }
  return [...out.values()];
}

/**
 * The packed keys of a table whose key starts with (collection, id) and has `columns` columns lie
 * in [lo, hi): the packing starts with the column count, then each value in turn.
 */
function keyRange(collection: string, id: string, columns: number): [Uint8Array, Uint8Array] {
  const two = packPrefix(collection, id);
  const lo = new Uint8Array(two);
  lo[0] = columns;
  const hi = new Uint8Array(lo);
  let i = hi.length - 1;
  while (i >= 0 && hi[i] === 0xff) hi[i--] = 0;
  hi[i]! += 1;
  return [lo, hi];
}

/** pack([collection, id]): the docs table's key, and after its count byte the start of the others'. */
const packPrefix = (collection: string, id: string): Uint8Array => packColumns([collection, id]);

interface CellRow {
  i: number;
  tbl: string;
  pk: Buffer;
  cid: string;
  val: Buffer | null;
}

/**
 * Re-materializes the documents of database `db` whose rows are among `changes`, inside the
 * caller's transaction `tx` (after the merge wrote the cells). Does nothing for a database without
 * the document tables.
 */
export async function materializeDocuments(tx: Sql, schema: string, db: string, changes: Iterable<Change>): Promise<void> {
  const docs = touchedDocuments(changes);
  if (docs.length === 0) return;
  const docKeys: string[] = [];
  const lows: string[] = [];
  const highs: string[] = [];
  const tables: string[] = [];
  docs.forEach(([collection, id]) => {
    const exact = packPrefix(collection, id);
    const exactHi = keyRange(collection, id, 2)[1];
    for (const [tbl, range] of [
      [DOCUMENTS_TABLE, [exact, exactHi]],
      [DOCUMENT_FIELDS_TABLE, keyRange(collection, id, 3)],
      [DOCUMENT_CHANGES_TABLE, keyRange(collection, id, 4)],
    ] as const) {
      tables.push(tbl);
      lows.push(hex(range[0]));
      highs.push(hex(range[1]));
    }
    docKeys.push(keyOf(collection, id));
  });
  // One index range probe per (document, table); the docs table's range holds exactly its key.
  const rows = await tx.unsafe<CellRow[]>(
    `SELECT ((q.i - 1) / 3 + 1)::int4 AS i, q.tbl, c.pk, c.cid, c.val
       FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY q(tbl, lo, hi, i),
       LATERAL (SELECT pk, cid, val FROM ${schema}.cells WHERE db = $1 AND tbl = q.tbl AND pk >= decode(q.lo, 'hex') AND pk < decode(q.hi, 'hex') AND cid <> '-1' OFFSET 0) c`,
    [db, tables, lows, highs] as never[],
  );
  const stored = docs.map((): StoredDocument & { fields: Map<string, string | null> } => ({ deleted: undefined, fields: new Map() }));
  const history = docs.map(() => new Set<string>());
  for (const r of rows) {
    const s = stored[r.i - 1]!;
    const val: SqlValue = r.val === null ? null : unpackValue(bytes(r.val));
    if (r.tbl === DOCUMENTS_TABLE) {
      if (r.cid === 'deleted') s.deleted = Number(val);
    } else if (r.tbl === DOCUMENT_FIELDS_TABLE) {
      if (r.cid === 'value') s.fields.set(unpackColumns(bytes(r.pk))[2] as string, typeof val === 'string' ? val : null);
    } else if (r.cid === 'entry') history[r.i - 1]!.add(hex(r.pk));
  }
  const upserts: { collection: string[]; id: string[]; version: number[]; revision: string[]; content: string[] } = { collection: [], id: [], version: [], revision: [], content: [] };
  const gone: { collection: string[]; id: string[] } = { collection: [], id: [] };
  docs.forEach(([collection, id], i) => {
    const d = documentOf(collection, id, stored[i]!, history[i]!.size);
    if (!d) {
      gone.collection.push(collection);
      gone.id.push(id);
      return;
    }
    upserts.collection.push(collection);
    upserts.id.push(id);
    upserts.version.push(d.version);
    upserts.revision.push(d.revision);
    // jsonb can't hold U+0000 in a string: the one place the row differs (U+FFFD instead).
    upserts.content.push(JSON.stringify(d.content).replaceAll('\\u0000', '\\ufffd'));
  });
  if (upserts.collection.length > 0) {
    await tx.unsafe(
      `INSERT INTO ${schema}.documents (db, collection, id, version, revision, content)
       SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int8[], $5::text[], $6::text[]::jsonb[])
       ON CONFLICT (db, collection, id) DO UPDATE SET version = excluded.version, revision = excluded.revision, content = excluded.content`,
      [db, upserts.collection, upserts.id, upserts.version, upserts.revision, upserts.content] as never[],
    );
  }
  if (gone.collection.length > 0) {
    await tx.unsafe(`DELETE FROM ${schema}.documents d USING unnest($2::text[], $3::text[]) g(collection, id) WHERE d.db = $1 AND d.collection = g.collection AND d.id = g.id`, [
      db,
      gone.collection,
      gone.id,
    ] as never[]);
  }
}
