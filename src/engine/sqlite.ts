/**
 * The SQLite binding the engine needs, as a small structural interface (the Kysely habit): the engine
 * never imports a driver, so any binding with these methods works. `node:sqlite`'s `DatabaseSync`
 * satisfies it as is; {@link openDatabase} opens one with ddcp's connection settings.
 */
import { DatabaseSync } from 'node:sqlite';

/** A value SQLite stores: INTEGER is always `bigint` (exact 64-bit), REAL is `number`. */
export type SqlValue = null | bigint | number | string | Uint8Array;

export interface RunResult {
  changes: number | bigint;
  lastInsertRowid: number | bigint;
}

export interface Statement {
  run(...params: SqlValue[]): RunResult;
  get(...params: SqlValue[]): unknown;
  all(...params: SqlValue[]): unknown[];
  iterate(...params: SqlValue[]): Iterator<unknown> & Iterable<unknown>;
  setReadBigInts(enabled: boolean): unknown;
  setReturnArrays(enabled: boolean): unknown;
}

export interface FunctionOptions {
  deterministic?: boolean;
  varargs?: boolean;
  directOnly?: boolean;
  useBigIntArguments?: boolean;
}

export interface SqliteConnection {
  exec(sql: string): void;
  prepare(sql: string): Statement;
  function(name: string, options: FunctionOptions, fn: (...args: any[]) => SqlValue): void;
  close(): void;
  readonly isTransaction: boolean;
}

/** How long a writer waits for another connection's lock before giving up (ms). */
export const BUSY_TIMEOUT_MS = 10_000;

/**
 * Opens a SQLite file for ddcp: WAL (readers never block the writer), a busy timeout (two processes
 * wait for each other instead of failing at once) and `synchronous=NORMAL` (durable at checkpoints,
 * never corrupt: the WAL default).
 */
export function openDatabase(path: string): DatabaseSync {
  const db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS });
  if (path !== ':memory:') db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
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
