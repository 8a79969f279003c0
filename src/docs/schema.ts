/**
 * The CRR tables documents live in, created and made CRRs on first use so they sync over every
 * transport like any other table. (Names can't start with `ddcp_`: that prefix is the engine's.)
 */
import type { Engine } from '../engine/index.ts';
import { transaction } from '../engine/index.ts';
import { migrateHistory } from './migrate.ts';

/** One row per document: its existence (`deleted` is a last-writer-wins flag). */
export const DOCS_TABLE = 'ddcpdoc_docs';
/** One row per node of a document (see fields.ts). */
export const FIELDS_TABLE = 'ddcpdoc_fields';
/**
 * One row per change of a document, keyed by (collection, document, author site, seq), its body
 * one compact value (entry.ts): written once, never edited, so replicas hold the union and each
 * entry is one cell with one clock.
 */
export const CHANGES_TABLE = 'ddcpdoc_changes';
/** The history table of the first release (12 columns per change, the state after each), migrated on open. */
export const OLD_HISTORY_TABLE = 'ddcpdoc_history';

const DDL = `
CREATE TABLE IF NOT EXISTS ${DOCS_TABLE} (
  collection TEXT NOT NULL, id TEXT NOT NULL, deleted INTEGER,
  PRIMARY KEY (collection, id));
CREATE TABLE IF NOT EXISTS ${FIELDS_TABLE} (
  collection TEXT NOT NULL, doc TEXT NOT NULL, path TEXT NOT NULL, value TEXT,
  PRIMARY KEY (collection, doc, path));
CREATE TABLE IF NOT EXISTS ${CHANGES_TABLE} (
  collection TEXT NOT NULL, doc TEXT NOT NULL, site BLOB NOT NULL, seq INTEGER NOT NULL, entry BLOB,
  PRIMARY KEY (collection, doc, site, seq));`;

/**
 * Creates the document tables and makes them CRRs if they aren't yet (idempotent); a repository
 * written by the first release has its history moved to the changes table, in the same transaction.
 */
export function ensureSchema(engine: Engine): void {
  const names = new Set(engine.crrs().map((t) => t.name));
  if (names.has(DOCS_TABLE) && names.has(FIELDS_TABLE) && names.has(CHANGES_TABLE) && !names.has(OLD_HISTORY_TABLE)) return;
  transaction(engine.db, () => {
    engine.db.exec(DDL);
    for (const t of [DOCS_TABLE, FIELDS_TABLE, CHANGES_TABLE]) engine.asCrr(t);
    if (names.has(OLD_HISTORY_TABLE)) migrateHistory(engine, OLD_HISTORY_TABLE, CHANGES_TABLE);
  });
}
