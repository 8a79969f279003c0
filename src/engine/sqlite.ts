/**
 * The SQLite binding the engine needs, as a small structural interface (the Kysely habit): the engine
 * never imports a driver, so any binding with these methods works. `node:sqlite`'s `DatabaseSync`
 * satisfies it as is; {@link openDatabase} opens one with ddcp's connection settings.
 */
import type { DatabaseSync } from 'node:sqlite';
import { DdcpError } from '../base/errors.ts';

/**
 * The Node.js versions whose `node:sqlite` has everything ddcp uses: `DatabaseSync`'s `timeout` option
 * and `isTransaction`, `StatementSync#setReturnArrays()` and `#columns()` all arrived in 22.16.0 and
 * 24.0.0 (none of them in 23.x); `iterate()` and `function()` in 22.13.0. Also `engines.node` in
 * package.json.
 */
export const SQLITE_NODE_RANGE = '^22.16.0 || >=24';

/**
 * `node:sqlite` is missing, or too old for ddcp, in the running Node.js. Thrown when the library is
 * imported, so it fails at once with a reason instead of a link error or a missing method later.
 */
export class NodeSqliteUnavailableError extends DdcpError {
  override name = 'NodeSqliteUnavailableError';
  /** Stable code, for callers that cannot `instanceof` (the import itself failed). */
  readonly code = 'ERR_DDCP_NODE_SQLITE';
  /** The running Node.js version, e.g. `v20.20.2`. */
  readonly nodeVersion: string;
  constructor(nodeVersion: string, options?: { cause?: unknown }) {
    super(`ddcp's library needs Node.js 22.16+ or 24+ (for node:sqlite); found ${nodeVersion} — the ddcp CLI brings its own Node 24`, options);
    this.nodeVersion = nodeVersion;
  }
}

/**
 * `node:sqlite`, looked up at run time rather than imported statically: a static import of a module
 * this Node.js lacks fails while linking, before any of our code could say why. The check is by
 * feature (what ddcp calls), not by version number.
 */
function loadNodeSqlite(): typeof import('node:sqlite') {
  let mod: typeof import('node:sqlite') | undefined;
  try {
    // getBuiltinModule: Node >= 20.16 / 22.3; before that the optional call yields undefined.
    mod = globalThis.process?.getBuiltinModule?.('node:sqlite');
  } catch (err) {
    throw new NodeSqliteUnavailableError(globalThis.process?.version ?? 'not Node.js', { cause: err });
  }
  if (!mod || !isComplete(mod)) throw new NodeSqliteUnavailableError(globalThis.process?.version ?? 'not Node.js');
  return mod;
}

/** Whether this `node:sqlite` has every method ddcp calls (isTransaction lives on instances). */
function isComplete(mod: typeof import('node:sqlite')): boolean {
  const statement = mod.StatementSync?.prototype;
  if (typeof statement?.setReturnArrays !== 'function' || typeof statement.columns !== 'function' || typeof statement.iterate !== 'function') return false;
  if (typeof mod.DatabaseSync.prototype.function !== 'function') return false;
  const probe = new mod.DatabaseSync(':memory:');
  try {
    return typeof probe.isTransaction === 'boolean';
  } finally {
    probe.close();
  }
}

let sqlite: typeof import('node:sqlite') | undefined;

/**
 * `node:sqlite`, checked, loaded on first use: the engine itself runs on any binding (a browser's
 * sqlite-wasm too), so only opening a file the Node way needs it. The Node library entry calls this
 * when imported, so a Node.js without it still fails at once with the reason.
 */
export function nodeSqlite(): typeof import('node:sqlite') {
  return (sqlite ??= loadNodeSqlite());
}

/** A value SQLite stores: INTEGER is always `bigint` (exact 64-bit), REAL is `number`. */
export type SqlValue = null | bigint | number | string | Uint8Array;

export interface RunResult {
  changes: number | bigint;
  lastInsertRowid: number | bigint;
}

export interface Statement {
  run(...params: SqlValue[]): RunResult;
  get(...params: SqlValue[]): unknown;
  /** With named parameters (`:name` binds `named.name`) before the positional ones. */
  get(named: Record<string, SqlValue>, ...params: SqlValue[]): unknown;
  all(...params: SqlValue[]): unknown[];
  iterate(...params: SqlValue[]): Iterator<unknown> & Iterable<unknown>;
  iterate(named: Record<string, SqlValue>, ...params: SqlValue[]): Iterator<unknown> & Iterable<unknown>;
  setReadBigInts(enabled: boolean): unknown;
  setReturnArrays(enabled: boolean): unknown;
  /** Lets a bound object carry names the statement doesn't use (only read filters and write guards need it). */
  setAllowUnknownNamedParameters?(enabled: boolean): unknown;
}

export interface FunctionOptions {
  deterministic?: boolean;
  varargs?: boolean;
  directOnly?: boolean;
  useBigIntArguments?: boolean;
}

/**
 * SQLite's authorizer (`sqlite3_set_authorizer`): asked while a statement is prepared, per action;
 * answers {@link AUTH_OK} or {@link AUTH_DENY} (the statement then fails to prepare).
 */
export type Authorizer = (action: number, arg1: string | null, arg2: string | null, dbName: string | null, trigger: string | null) => number;

/** SQLite's authorizer answers and the action codes the engine looks at (sqlite3.h). */
export const AUTH_OK = 0;
export const AUTH_DENY = 1;
export const AUTH_DELETE = 9;
export const AUTH_INSERT = 18;
export const AUTH_UPDATE = 23;

export interface SqliteConnection {
  exec(sql: string): void;
  prepare(sql: string): Statement;
  function(name: string, options: FunctionOptions, fn: (...args: any[]) => SqlValue): void;
  close(): void;
  readonly isTransaction: boolean;
  /** Where the binding has it (node:sqlite from 24.10): a merge-only engine refuses other writes through it. */
  setAuthorizer?(callback: Authorizer | null): void;
}

/** How long a writer waits for another connection's lock before giving up (ms). */
export const BUSY_TIMEOUT_MS = 10_000;

/**
 * Opens a SQLite file for ddcp: WAL (readers never block the writer), a busy timeout (two processes
 * wait for each other instead of failing at once) and `synchronous=NORMAL` (durable at checkpoints,
 * never corrupt: the WAL default).
 */
export function openDatabase(path: string): DatabaseSync {
  const db = new (nodeSqlite().DatabaseSync)(path, { timeout: BUSY_TIMEOUT_MS });
  try {
    if (path !== ':memory:') db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
  } catch (err) {
    db.close(); // not a database: don't keep the file open
    throw err;
  }
  return db;
}

/** Quotes an SQL identifier. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes an SQL string literal. */
export function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
