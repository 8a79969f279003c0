/**
 * The CRR tables documents live in, created and made CRRs on first use so they sync over every
 * transport like any other table. (Names can't start with `ddcp_`: that prefix is the engine's.)
 */
import type { Engine } from '../engine/index.ts';
import { transaction } from '../engine/index.ts';

/** One row per document: its existence (`deleted` is a last-writer-wins flag). */
export const DOCS_TABLE = 'ddcpdoc_docs';
/** One row per node of a document (see fields.ts). */
export const FIELDS_TABLE = 'ddcpdoc_fields';
/** One row per change of a document (insert-only, so replicas hold the union). */
export const HISTORY_TABLE = 'ddcpdoc_history';

const DDL = `
CREATE TABLE IF NOT EXISTS ${DOCS_TABLE} (
  collection TEXT NOT NULL, id TEXT NOT NULL, deleted INTEGER,
  PRIMARY KEY (collection, id));
CREATE TABLE IF NOT EXISTS ${FIELDS_TABLE} (
  collection TEXT NOT NULL, doc TEXT NOT NULL, path TEXT NOT NULL, value TEXT,
  PRIMARY KEY (collection, doc, path));
CREATE TABLE IF NOT EXISTS ${HISTORY_TABLE} (
  id TEXT PRIMARY KEY NOT NULL, collection TEXT, doc TEXT, seq INTEGER, at INTEGER, site TEXT,
  author TEXT, op TEXT, forward TEXT, reverse TEXT, state TEXT, undoes TEXT);
CREATE INDEX IF NOT EXISTS ddcpdoc_history_doc ON ${HISTORY_TABLE} (collection, doc, seq);`;

/** Creates the document tables and makes them CRRs if they aren't yet (idempotent). */
export function ensureSchema(engine: Engine): void {
  const names = new Set(engine.crrs().map((t) => t.name));
  if (names.has(DOCS_TABLE) && names.has(FIELDS_TABLE) && names.has(HISTORY_TABLE)) return;
  transaction(engine.db, () => {
    engine.db.exec(DDL);
    for (const t of [DOCS_TABLE, FIELDS_TABLE, HISTORY_TABLE]) engine.asCrr(t);
  });
}
