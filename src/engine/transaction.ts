/** Running work in one transaction on a connection that may already be inside one. */
import type { SqliteConnection, Statement } from './sqlite.ts';

/**
 * A connection's transaction-control statements, prepared once: `exec` parses its text on every
 * call, and a hub's group commit or a peer's live push runs BEGIN, a savepoint and COMMIT around
 * every small merge. One savepoint name serves every level: `RELEASE`/`ROLLBACK TO` act on the most
 * recent savepoint of that name, and {@link transaction} nests strictly.
 */
class Control {
  private readonly db: SqliteConnection;
  private readonly prepared = new Map<string, Statement>();
  constructor(db: SqliteConnection) {
    this.db = db;
  }
  /** Runs `sql`, prepared at its first use on this connection (a short-lived one prepares only what it runs). */
  run(sql: string): void {
    let s = this.prepared.get(sql);
    if (!s) this.prepared.set(sql, (s = this.db.prepare(sql)));
    s.run();
  }
}

const controls = new WeakMap<SqliteConnection, Control>();

/** The connection's prepared transaction-control statements (prepared at first use). */
function control(db: SqliteConnection): Control {
  let c = controls.get(db);
  if (!c) controls.set(db, (c = new Control(db)));
  return c;
}

/** `BEGIN IMMEDIATE` through a prepared statement (for callers that run several transactions' work in one). */
export function beginImmediate(db: SqliteConnection): void {
  control(db).run('BEGIN IMMEDIATE');
}

/** A deferred `BEGIN` (a read's snapshot) through a prepared statement. */
export function beginRead(db: SqliteConnection): void {
  control(db).run('BEGIN');
}

/** `COMMIT` through a prepared statement. */
export function commit(db: SqliteConnection): void {
  control(db).run('COMMIT');
}

/** `ROLLBACK` through a prepared statement. */
export function rollback(db: SqliteConnection): void {
  control(db).run('ROLLBACK');
}

/**
 * Runs `fn` atomically: in a new `BEGIN IMMEDIATE` transaction (take the write lock up front, so a
 * WAL reader never has to upgrade and fail with SQLITE_BUSY_SNAPSHOT), or in a savepoint when the
 * connection is already in a transaction. Rolls back everything if `fn` throws.
 */
export function transaction<T>(db: SqliteConnection, fn: () => T): T {
  const c = control(db);
  if (db.isTransaction) {
    c.run('SAVEPOINT ddcp_sp');
    try {
      const result = fn();
      c.run('RELEASE ddcp_sp');
      return result;
    } catch (err) {
      c.run('ROLLBACK TO ddcp_sp');
      c.run('RELEASE ddcp_sp');
      throw err;
    }
  }
  c.run('BEGIN IMMEDIATE');
  try {
    const result = fn();
    c.run('COMMIT');
    return result;
  } catch (err) {
    if (db.isTransaction) c.run('ROLLBACK');
    throw err;
  }
}
