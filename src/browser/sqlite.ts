/**
 * Loading SQLite's WebAssembly build and opening databases on it: in memory, or persisted in the
 * origin private file system through the `opfs-sahpool` VFS (which needs no cross-origin isolation
 * headers, only a dedicated worker: it holds synchronous access handles, one connection per origin).
 */
// SHA-256 and Ed25519 for the engine and sync here, where node:crypto is missing (base/portable.ts).
import '../base/portable-web.ts';
import sqlite3InitModule from '@sqlite.org/sqlite-wasm';
import { DdcpError } from '../base/errors.ts';
import { WasmConnection, type Sqlite3 } from './wasm-connection.ts';

/** Where a browser database lives. */
export type Storage = 'opfs' | 'memory';

/** The browser can't persist a database as asked (no OPFS here, or another holds it). */
export class StorageError extends DdcpError {
  override name = 'StorageError';
}

let module: Promise<Sqlite3> | undefined;

/** The sqlite-wasm module, initialised once (it fetches `sqlite3.wasm` beside the bundle). */
export function loadSqlite(): Promise<Sqlite3> {
  return (module ??= (sqlite3InitModule as unknown as (o?: object) => Promise<Sqlite3>)({ print: () => {}, printErr: () => {} }));
}

/** What this module uses of sqlite-wasm's pool utility. */
interface Pool {
  vfsName: string;
  unlink(name: string): boolean;
}

let pool: Promise<Pool> | undefined;

/** Whether this context can persist with opfs-sahpool (a dedicated worker with OPFS). */
export function opfsAvailable(): boolean {
  const g = globalThis as { navigator?: { storage?: { getDirectory?: unknown } }; FileSystemFileHandle?: { prototype?: { createSyncAccessHandle?: unknown } }; WorkerGlobalScope?: unknown };
  return typeof g.navigator?.storage?.getDirectory === 'function' && typeof g.FileSystemFileHandle?.prototype?.createSyncAccessHandle === 'function' && g.WorkerGlobalScope !== undefined;
}

/**
 * Installs the opfs-sahpool VFS once per worker. Another worker of this origin may still be letting
 * go of the pool's access handles (a closing tab): retried for up to `waitMs`.
 */
async function installPool(sqlite3: Sqlite3, waitMs: number): Promise<Pool> {
  const deadline = Date.now() + waitMs;
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    try {
      return (await sqlite3.installOpfsSAHPoolVfs({ name: 'ddcp-sahpool', directory: '/ddcp', initialCapacity: 6 })) as Pool;
    } catch (err) {
      if (Date.now() > deadline) throw new StorageError(`cannot open the OPFS storage: ${(err as Error).message}`, { cause: err });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

function openPool(sqlite3: Sqlite3, waitMs = 5_000): Promise<Pool> {
  if (!opfsAvailable()) throw new StorageError('OPFS persistence needs a dedicated worker in a browser with the origin private file system');
  pool ??= installPool(sqlite3, waitMs).catch((err) => {
    pool = undefined;
    throw err;
  });
  return pool;
}

function fileOf(name: string): string {
  if (!/^[\w.-]{1,100}$/.test(name)) throw new StorageError(`"${name}" is not a database name (1-100 of letters, digits, '_', '-', '.')`);
  return `/${name}.db`;
}

/** Deletes database `name` from OPFS (close it first). Returns whether it existed. */
export async function deleteBrowserDatabase(name: string): Promise<boolean> {
  const p = await openPool(await loadSqlite());
  const file = fileOf(name);
  const existed = p.unlink(file);
  p.unlink(`${file}-journal`);
  return existed;
}

export interface OpenOptions {
  storage?: Storage;
  /** How long to wait for OPFS held by a closing tab (ms, default 5 s). */
  waitMs?: number;
}

/** Opens database `name` (a file name in the pool, or any label in memory) with ddcp's settings. */
export async function openBrowserDatabase(name: string, options: OpenOptions = {}): Promise<WasmConnection> {
  const sqlite3 = await loadSqlite();
  const storage = options.storage ?? 'memory';
  let filename = ':memory:';
  let vfs: string | number = 0;
  if (storage === 'opfs') {
    vfs = (await openPool(sqlite3, options.waitMs)).vfsName;
    filename = fileOf(name);
  }
  const { capi, wasm } = sqlite3;
  const stack = wasm.pstack.pointer;
  let pointer = 0;
  try {
    const ppDb = wasm.pstack.allocPtr();
    const rc = capi.sqlite3_open_v2(filename, ppDb, capi.SQLITE_OPEN_READWRITE | capi.SQLITE_OPEN_CREATE, vfs || null);
    pointer = wasm.peekPtr(ppDb);
    if (rc !== 0) {
      const message = pointer ? capi.sqlite3_errmsg(pointer) : capi.sqlite3_errstr(rc);
      if (pointer) capi.sqlite3_close_v2(pointer);
      throw new StorageError(`cannot open ${name}: ${message}`);
    }
  } finally {
    wasm.pstack.restore(stack);
  }
  const db = new WasmConnection(sqlite3, pointer);
  // The pool holds its files exclusively: no other connection can see a lock, so none is taken per
  // transaction; a rollback journal in the pool keeps commits atomic.
  if (storage === 'opfs') db.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = TRUNCATE; PRAGMA synchronous = NORMAL');
  return db;
}
