/**
 * `ddcp/docs`: JSON documents stored in a repository's CRR tables — create, patch, query, history,
 * undo and change events — synced like any other table.
 *
 * @example
 * ```ts
 * import { Repository } from 'ddcp';
 * import { Documents } from 'ddcp/docs';
 * const docs = new Documents(Repository.open('./notes').engine);
 * ```
 */
export { Documents } from './documents.ts';
export type { ConnectionSource, Document, DocumentsOptions, UndoResult } from './documents.ts';
export type { HistoryEntry as DocumentHistoryEntry } from './history.ts';
export type { DocumentEvent, ChangeEvent as DocumentChangeEvent, ConflictEvent as DocumentConflictEvent, SyncEvent as DocumentSyncEvent, ConnectionEvent as DocumentConnectionEvent, EventFilter as DocumentEventFilter } from './events.ts';
export type { Json, JsonObject } from './json.ts';
export type { Operation as JsonPatchOperation } from './patch.ts';
export { DocumentError, PatchError, InvalidDocumentError, DocumentNotFoundError, DocumentExistsError, NothingToUndoError } from './errors.ts';
// For stores that keep a database's rows outside SQLite (the hub in PostgreSQL mode): the tables
// and the pure decoding of a document from its rows, the same every replica uses.
export { CHANGES_TABLE as DOCUMENT_CHANGES_TABLE, DOCS_TABLE as DOCUMENTS_TABLE, FIELDS_TABLE as DOCUMENT_FIELDS_TABLE } from './schema.ts';
export { documentOf, type StoredDocument } from './decode.ts';
