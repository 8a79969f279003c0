/**
 * The engine's only face to the layers above (sync/, repo/, bundle/, peer/, docs/, cli/ and the
 * public API): everything they use of the engine, and nothing else. Code outside src/engine imports
 * from here, never from an engine file; tests may reach deeper.
 */
export { Engine } from './engine.ts';
export { StoredReport } from './stored.ts';
export type { ApplyOptions, ApplyResult, ChangesOptions, EngineOptions, HistoryOptions } from './engine.ts';
export type { Change } from './change.ts';
export type { ChangeRowSink } from './change-row-sink.ts';
export { SITE_ID_BYTES } from './clock.ts';
export type { TrackedPeer } from './clock.ts';
export type { Conflict, ConflictSide } from './conflicts.ts';
export { SchemaError, ChangeError, StateError } from './errors.ts';
export { SiteClaimError } from './owners.ts';
export type { ReadFilter, RowRule, WriteGuard } from './filter.ts';
export { registerFunctions } from './functions.ts';
export type { Refusal } from './guard.ts';
export type { CommitCounts, HistoryEntry, MergeCounts, VersionRecord } from './history.ts';
export { packColumns, unpackColumns, packValue, unpackValue, readValue, readValueAt, skipValueAt, writeKey, writeValue } from './pack.ts';
export type { ReadCursor } from './pack.ts';
export { INTERNAL_MARK, INTERNAL_PREFIX, SENTINEL } from './schema.ts';
export type { TableInfo } from './schema.ts';
export { NodeSqliteUnavailableError, SQLITE_NODE_RANGE, ident, nodeSqlite, openDatabase } from './sqlite.ts';
export type { SqlValue, SqliteConnection, Statement } from './sqlite.ts';
export { beginImmediate, commit, rollback, transaction } from './transaction.ts';
export { compareValues } from './value.ts';
// The merge rules as pure functions, for a store that keeps CRR state outside SQLite (the hub's
// PostgreSQL store): it must merge exactly as the engine does.
export { checkChange } from './change.ts';
export { CHUNK_ROWS } from './merge.ts';
export { UNKNOWN_SITE } from './clock.ts';
export { columnsFit, coversColumn, labelOf, rulesOf } from './filter.ts';
export { keyText, sourceTransactions, touchedRows, type TouchedRowOf } from './guard.ts';
export { mergeCell, RowEffects, RowState } from './rules.ts';
export type { CellClock, IncomingCell, MergeContext, Stamp } from './rules.ts';
export { bytesEqual, compareBytes } from './value.ts';
