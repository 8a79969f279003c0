/**
 * The engine's structural SQLite interface (engine/sqlite.ts) over SQLite's official WebAssembly
 * build (`@sqlite.org/sqlite-wasm`): the same engine runs on it unchanged. It speaks to the C API
 * (`sqlite3.wasm.exports` and `capi`) directly, not through the oo1 convenience layer, because the
 * engine's merge loop runs a few statements per change and that layer's argument checks and
 * per-column conversions would cost most of the time.
 *
 * Semantics follow `node:sqlite`: numbers bind as REAL and bigints as INTEGER, INTEGER reads as
 * `number` (or `bigint` after `setReadBigInts(true)`), BLOBs as `Uint8Array`; `:name` binds
 * `named.name`; an error thrown by a registered function comes out of the statement that called it.
 *
 * Statements: `node:sqlite` finalizes them when they are garbage, wasm memory can't be collected. So
 * a {@link Statement} here holds only its SQL; each call borrows a prepared statement for that SQL
 * from a pool (returned after the call, or when an iteration ends) — statements are reused across
 * calls and never leaked, and a bounded number of SQL texts stay prepared (least recently used go).
 */
import type { FunctionOptions, RunResult, SqlValue, SqliteConnection, Statement } from '../engine/sqlite.ts';
import { DdcpError } from '../base/errors.ts';

/** The initialised sqlite-wasm module (what `sqlite3InitModule()` resolves to). */
export type Sqlite3 = any;

const SQLITE_ROW = 100;
const SQLITE_DONE = 101;
const SQLITE_INTEGER = 1;
const SQLITE_FLOAT = 2;
const SQLITE_TEXT = 3;
const SQLITE_BLOB = 4;
const SQLITE_UTF8 = 1;
const SQLITE_DETERMINISTIC = 0x800;
const SQLITE_DIRECTONLY = 0x80000;

/** How many distinct SQL texts keep prepared statements. */
const POOL_SQL_LIMIT = 256;

/** An SQLite error, shaped like node:sqlite's (`errcode`, `errstr`). */
export class WasmSqliteError extends DdcpError {
  override name = 'WasmSqliteError';
  readonly code = 'ERR_SQLITE_ERROR';
  readonly errcode: number;
  readonly errstr: string;
  constructor(message: string, errcode: number, errstr: string) {
    super(message);
    this.errcode = errcode;
    this.errstr = errstr;
  }
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export class WasmConnection implements SqliteConnection {
  readonly sqlite3: Sqlite3;
  /** The `sqlite3*` handle. */
  readonly pointer: number;
  readonly #x: any;
  readonly #capi: any;
  readonly #wasm: any;
  readonly #pools = new Map<string, number[]>();
  readonly #functions: number[] = [];
  #closed = false;
  /** The error a registered function threw, rethrown by the statement that called it. */
  #thrown: unknown;
  #onClose: (() => void) | undefined;

  /** Wraps an open `sqlite3*` (see {@link openWasmDatabase}); `onClose` runs after it is closed. */
  constructor(sqlite3: Sqlite3, pointer: number, onClose?: () => void) {
    this.sqlite3 = sqlite3;
    this.pointer = pointer;
    this.#capi = sqlite3.capi;
    this.#wasm = sqlite3.wasm;
    this.#x = sqlite3.wasm.exports;
    this.#onClose = onClose;
  }

  get isTransaction(): boolean {
    return this.#x.sqlite3_get_autocommit(this.pointer) === 0;
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  exec(sql: string): void {
    this.#open();
    const rc = this.#capi.sqlite3_exec(this.pointer, sql, 0, 0, 0);
    if (rc !== 0) throw this.#error(rc);
  }

  prepare(sql: string): Statement {
    this.#open();
    const stmt = new WasmStatement(this, sql);
    this.release(sql, this.acquire(sql)); // prepared now, so bad SQL throws here as node's does
    return stmt;
  }

  function(name: string, options: FunctionOptions, fn: (...args: any[]) => SqlValue): void {
    this.#open();
    const bigints = options.useBigIntArguments === true;
    const xFunc = (pCtx: number, argc: number, pArgv: number): void => {
      try {
        const args = new Array<SqlValue>(argc);
        for (let i = 0; i < argc; i++) args[i] = this.#value(this.#wasm.peekPtr(pArgv + 4 * i), bigints);
        this.#result(pCtx, fn(...args));
      } catch (err) {
        this.#thrown = err;
        this.#capi.sqlite3_result_error(pCtx, err instanceof Error ? err.message : String(err), -1);
      }
    };
    const ptr = this.#wasm.installFunction(xFunc, 'v(pip)');
    this.#functions.push(ptr);
    const flags = SQLITE_UTF8 | (options.deterministic ? SQLITE_DETERMINISTIC : 0) | (options.directOnly ? SQLITE_DIRECTONLY : 0);
    const rc = this.#capi.sqlite3_create_function_v2(this.pointer, name, options.varargs ? -1 : fn.length, flags, 0, ptr, 0, 0, 0);
    if (rc !== 0) throw this.#error(rc);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const stmts of this.#pools.values()) for (const p of stmts) this.#x.sqlite3_finalize(p);
    this.#pools.clear();
    this.#capi.sqlite3_close_v2(this.pointer);
    for (const p of this.#functions) this.#wasm.uninstallFunction(p);
    this.#onClose?.();
  }

  // --- for WasmStatement ---

  /** A prepared `sqlite3_stmt*` for `sql`, reset and unbound, from the pool or new. */
  acquire(sql: string): number {
    this.#open();
    const pool = this.#pools.get(sql);
    if (pool) {
      // most recently used last: the least recently used SQL is evicted first
      this.#pools.delete(sql);
      this.#pools.set(sql, pool);
      const p = pool.pop();
      if (p !== undefined) return p;
    }
    const wasm = this.#wasm;
    const stack = wasm.pstack.pointer;
    try {
      const ppStmt = wasm.pstack.allocPtr();
      const rc = this.#capi.sqlite3_prepare_v3(this.pointer, sql, -1, 0, ppStmt, 0);
      if (rc !== 0) throw this.#error(rc);
      const p = wasm.peekPtr(ppStmt);
      if (!p) throw new WasmSqliteError(`not an SQL statement: ${JSON.stringify(sql.slice(0, 60))}`, 21, 'bad parameter or other API misuse');
      return p;
    } finally {
      wasm.pstack.restore(stack);
    }
  }

  /** Gives a statement back (reset, bindings cleared) for the next call with the same SQL. */
  release(sql: string, p: number): void {
    if (this.#closed) return;
    this.#x.sqlite3_reset(p);
    this.#x.sqlite3_clear_bindings(p);
    let pool = this.#pools.get(sql);
    if (!pool) {
      if (this.#pools.size >= POOL_SQL_LIMIT) {
        const [oldest, stmts] = this.#pools.entries().next().value as [string, number[]];
        for (const s of stmts) this.#x.sqlite3_finalize(s);
        this.#pools.delete(oldest);
      }
      this.#pools.set(sql, (pool = []));
    }
    if (pool.length < 4) pool.push(p);
    else this.#x.sqlite3_finalize(p);
  }

  /** Binds `params` (node:sqlite's rules: an object first binds names, the rest bind anonymous parameters in order). */
  bind(p: number, params: unknown[], allowUnknown: boolean): void {
    let rest = params;
    const first = params[0];
    if (first !== null && typeof first === 'object' && !(first instanceof Uint8Array)) {
      rest = params.slice(1);
      for (const [name, value] of Object.entries(first as Record<string, SqlValue>)) {
        let idx = 0;
        for (const prefix of [':', '$', '@']) if ((idx = this.#capi.sqlite3_bind_parameter_index(p, prefix + name)) > 0) break;
        if (idx === 0) {
          if (allowUnknown) continue;
          throw new WasmSqliteError(`Unknown named parameter '${name}'`, 25, 'column index out of range');
        }
        this.#bindOne(p, idx, value);
      }
    }
    if (rest.length === 0) return;
    const count = this.#x.sqlite3_bind_parameter_count(p);
    let k = 0;
    for (let idx = 1; idx <= count && k < rest.length; idx++) {
      // named (`:a`, `@a`, `$a`): bound by name only; `?NNN` is positional, as in node:sqlite
      const name = this.#x.sqlite3_bind_parameter_name(p, idx);
      if (name !== 0 && this.#wasm.heap8u()[name] !== 0x3f) continue;
      this.#bindOne(p, idx, rest[k++] as SqlValue);
    }
    if (k < rest.length) throw new WasmSqliteError(`too many parameters: ${rest.length} given, the statement has ${count}`, 25, 'column index out of range');
  }

  #bindOne(p: number, idx: number, v: SqlValue): void {
    let rc: number;
    if (v === null || v === undefined) rc = this.#x.sqlite3_bind_null(p, idx);
    else if (typeof v === 'bigint') rc = this.#x.sqlite3_bind_int64(p, idx, v);
    else if (typeof v === 'number') rc = this.#x.sqlite3_bind_double(p, idx, v);
    else if (typeof v === 'string') {
      const bytes = encoder.encode(v);
      rc = this.#x.sqlite3_bind_text(p, idx, this.#copyIn(bytes), bytes.length, this.#capi.SQLITE_WASM_DEALLOC);
    } else if (v instanceof Uint8Array) {
      // an empty blob is a zero-length blob, not NULL
      rc = v.length === 0 ? this.#x.sqlite3_bind_zeroblob(p, idx, 0) : this.#x.sqlite3_bind_blob(p, idx, this.#copyIn(v), v.length, this.#capi.SQLITE_WASM_DEALLOC);
    } else if (typeof v === 'boolean') rc = this.#x.sqlite3_bind_int64(p, idx, v ? 1n : 0n);
    else throw new TypeError(`cannot bind a ${typeof v} as an SQL value`);
    if (rc !== 0) throw this.#error(rc);
  }

  /** Steps once: true for a row, false when done; throws the statement's error. */
  step(p: number): boolean {
    this.#thrown = undefined;
    const rc = this.#x.sqlite3_step(p);
    if (rc === SQLITE_ROW) return true;
    if (rc === SQLITE_DONE) return false;
    const thrown = this.#thrown;
    this.#thrown = undefined;
    const err = this.#error(rc);
    this.#x.sqlite3_reset(p);
    throw thrown ?? err;
  }

  columnNames(p: number): string[] {
    const n = this.#x.sqlite3_column_count(p);
    const names = new Array<string>(n);
    for (let i = 0; i < n; i++) names[i] = this.#capi.sqlite3_column_name(p, i);
    return names;
  }

  /** The current row's column `i`. */
  column(p: number, i: number, bigints: boolean): SqlValue {
    const x = this.#x;
    switch (x.sqlite3_column_type(p, i)) {
      case SQLITE_INTEGER: {
        const v = x.sqlite3_column_int64(p, i) as bigint;
        if (bigints) return v;
        if (v > 9007199254740991n || v < -9007199254740991n) throw new RangeError(`value ${v} is too large to be represented as a JavaScript number`);
        return Number(v);
      }
      case SQLITE_FLOAT:
        return x.sqlite3_column_double(p, i);
      case SQLITE_TEXT: {
        const ptr = x.sqlite3_column_text(p, i);
        const n = x.sqlite3_column_bytes(p, i);
        return n === 0 ? '' : decoder.decode(this.#wasm.heap8u().subarray(ptr, ptr + n));
      }
      case SQLITE_BLOB: {
        const ptr = x.sqlite3_column_blob(p, i);
        const n = x.sqlite3_column_bytes(p, i);
        return n === 0 ? new Uint8Array(0) : this.#wasm.heap8u().slice(ptr, ptr + n);
      }
      default:
        return null;
    }
  }

  changes(): RunResult {
    return { changes: Number(this.#x.sqlite3_changes64(this.pointer)), lastInsertRowid: Number(this.#x.sqlite3_last_insert_rowid(this.pointer)) };
  }

  #value(pVal: number, bigints: boolean): SqlValue {
    const x = this.#x;
    switch (x.sqlite3_value_type(pVal)) {
      case SQLITE_INTEGER: {
        const v = x.sqlite3_value_int64(pVal) as bigint;
        return bigints ? v : Number(v);
      }
      case SQLITE_FLOAT:
        return x.sqlite3_value_double(pVal);
      case SQLITE_TEXT:
        return this.#capi.sqlite3_value_text(pVal);
      case SQLITE_BLOB: {
        const n = x.sqlite3_value_bytes(pVal);
        const ptr = x.sqlite3_value_blob(pVal);
        return n === 0 ? new Uint8Array(0) : this.#wasm.heap8u().slice(ptr, ptr + n);
      }
      default:
        return null;
    }
  }

  #result(pCtx: number, v: SqlValue | undefined): void {
    const capi = this.#capi;
    if (v === null || v === undefined) this.#x.sqlite3_result_null(pCtx);
    else if (typeof v === 'bigint') this.#x.sqlite3_result_int64(pCtx, v);
    else if (typeof v === 'number') this.#x.sqlite3_result_double(pCtx, v);
    else if (typeof v === 'string') {
      const bytes = encoder.encode(v);
      this.#x.sqlite3_result_text(pCtx, this.#copyIn(bytes), bytes.length, capi.SQLITE_WASM_DEALLOC);
    } else if (v instanceof Uint8Array) {
      if (v.length === 0) this.#x.sqlite3_result_zeroblob(pCtx, 0);
      else this.#x.sqlite3_result_blob(pCtx, this.#copyIn(v), v.length, capi.SQLITE_WASM_DEALLOC);
    } else throw new TypeError(`a function returned a ${typeof v}, not an SQL value`);
  }

  /** `bytes` copied into wasm memory that SQLite frees (SQLITE_WASM_DEALLOC) when done with it. */
  #copyIn(bytes: Uint8Array): number {
    const ptr = this.#wasm.alloc(bytes.length || 1);
    this.#wasm.heap8u().set(bytes, ptr);
    return ptr;
  }

  #error(rc: number): WasmSqliteError {
    const errstr = this.#capi.sqlite3_errstr(rc) as string;
    const message = this.#capi.sqlite3_errmsg(this.pointer) as string;
    return new WasmSqliteError(message || errstr, rc, errstr);
  }

  #open(): void {
    if (this.#closed) throw new WasmSqliteError('database is not open', 21, 'bad parameter or other API misuse');
  }
}

class WasmStatement implements Statement {
  readonly #db: WasmConnection;
  readonly #sql: string;
  #bigints = false;
  #arrays = false;
  #allowUnknown = false;

  constructor(db: WasmConnection, sql: string) {
    this.#db = db;
    this.#sql = sql;
  }

  setReadBigInts(enabled: boolean): void {
    this.#bigints = enabled;
  }

  setReturnArrays(enabled: boolean): void {
    this.#arrays = enabled;
  }

  setAllowUnknownNamedParameters(enabled: boolean): void {
    this.#allowUnknown = enabled;
  }

  run(...params: SqlValue[]): RunResult {
    const db = this.#db;
    const p = db.acquire(this.#sql);
    try {
      db.bind(p, params, this.#allowUnknown);
      while (db.step(p));
      return db.changes();
    } finally {
      db.release(this.#sql, p);
    }
  }

  get(...params: unknown[]): unknown {
    const db = this.#db;
    const p = db.acquire(this.#sql);
    try {
      db.bind(p, params, this.#allowUnknown);
      if (!db.step(p)) return undefined;
      return this.#row(p, db.columnNames(p));
    } finally {
      db.release(this.#sql, p);
    }
  }

  all(...params: SqlValue[]): unknown[] {
    const db = this.#db;
    const p = db.acquire(this.#sql);
    try {
      db.bind(p, params, this.#allowUnknown);
      const out: unknown[] = [];
      let names: string[] | undefined;
      while (db.step(p)) out.push(this.#row(p, (names ??= db.columnNames(p))));
      return out;
    } finally {
      db.release(this.#sql, p);
    }
  }

  iterate(...params: unknown[]): Iterator<unknown> & Iterable<unknown> {
    const db = this.#db;
    const sql = this.#sql;
    const p = db.acquire(sql);
    try {
      db.bind(p, params, this.#allowUnknown);
    } catch (err) {
      db.release(sql, p);
      throw err;
    }
    let done = false;
    let names: string[] | undefined;
    const finish = (): void => {
      if (done) return;
      done = true;
      db.release(sql, p);
    };
    const row = (q: number, n: string[]): unknown => this.#row(q, n);
    const it: Iterator<unknown> & Iterable<unknown> = {
      next(): IteratorResult<unknown> {
        if (done) return { done: true, value: undefined };
        let more: boolean;
        try {
          more = db.step(p);
        } catch (err) {
          finish();
          throw err;
        }
        if (!more) {
          finish();
          return { done: true, value: undefined };
        }
        return { done: false, value: row(p, (names ??= db.columnNames(p))) };
      },
      return(): IteratorResult<unknown> {
        finish();
        return { done: true, value: undefined };
      },
      [Symbol.iterator]() {
        return it;
      },
    };
    return it;
  }

  #row(p: number, names: string[]): unknown {
    const db = this.#db;
    const n = names.length;
    if (this.#arrays) {
      const out = new Array<SqlValue>(n);
      for (let i = 0; i < n; i++) out[i] = db.column(p, i, this.#bigints);
      return out;
    }
    const out: Record<string, SqlValue> = {};
    for (let i = 0; i < n; i++) out[names[i]!] = db.column(p, i, this.#bigints);
    return out;
  }
}
