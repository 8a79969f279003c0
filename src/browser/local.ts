/**
 * `ddcp/browser/local`: the replica in the calling thread, without a worker — the engine on
 * sqlite-wasm, documents and hub sync, synchronous SQL. For a page that wants one tab's in-memory
 * replica, for a worker of the app's own, and for tests and benchmarks. OPFS persistence needs a
 * dedicated worker (the opfs-sahpool VFS).
 */
export { LocalReplica, DOC_METHODS } from './replica.ts';
export type { ReplicaOptions, ExecResult, ChangeListener, StateListener } from './replica.ts';
export { deleteBrowserDatabase, openBrowserDatabase, loadSqlite, opfsAvailable, StorageError, type Storage, type OpenOptions } from './sqlite.ts';
export { WasmConnection, WasmSqliteError } from './wasm-connection.ts';
export { HubSync, EngineFeed, MAX_RETRY_MS, type HubConnection } from './sync.ts';
export { Engine, type SqlValue, type SqliteConnection, type Change } from '../engine/index.ts';
export { Documents } from '../docs/documents.ts';
