/** Running work in one transaction on a connection that may already be inside one. */
import type { SqliteConnection, Statement } from './sqlite.ts';

/**
 * A connection's transaction-control statements, prepared once: `exec` parses its text on every
 * call, and a hub's group commit or a peer's live push runs BEGIN, a savepoint and COMMIT around
 * every small merge. One savepoint name serves every level: `RELEASE`/`ROLLBACK TO` act on the most
 * recent savepoint of that name, and {@link transaction} nests strictly.
 */
class Control {
  readonly begin: Statement;
  readonly beginRead: Statement;
  readonly commit: Statement;
  readonly rollback: Statement;
  readonly savepoint: Statement;
  readonly release: Statement;
  readonly rollbackTo: Statement;
  constructor(db: SqliteConnection) {
    this.begin = db.prepare('BEGIN IMMEDIATE');
    this.beginRead = db.prepare('BEGIN');
    this.commit = db.prepare('COMMIT');
    this.rollback = db.prepare('ROLLBACK');
    this.savepoint = db.prepare('SAVEPOINT ddcp_sp');
    this.release = db.prepare('RELEASE ddcp_sp');
    this.rollbackTo = db.prepare('ROLLBACK TO ddcp_sp');
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
  control(db).begin.run();
}

/** A deferred `BEGIN` (a read's snapshot) through a prepared statement. */
export function beginRead(db: SqliteConnection): void {
  control(db).beginRead.run();
}

/** `COMMIT` through a prepared statement. */
export function commit(db: SqliteConnection): void {
  control(db).commit.run();
}

/** `ROLLBACK` through a prepared statement. */
export function rollback(db: SqliteConnection): void {
  control(db).rollback.run();
}

/**
 * Runs `fn` atomically: in a new `BEGIN IMMEDIATE` transaction (take the write lock up front, so a
 * WAL reader never has to upgrade and fail with SQLITE_BUSY_SNAPSHOT), or in a savepoint when the
 * connection is already in a transaction. Rolls back everything if `fn` throws.
 */
export function transaction<T>(db: SqliteConnection, fn: () => T): T {
  const c = control(db);
  if (db.isTransaction) {
    c.savepoint.run();
    try {
      const result = fn();
      c.release.run();
      return result;
    } catch (err) {
      c.rollbackTo.run();
      c.release.run();
      throw err;
    }
  }
  c.begin.run();
  try {
    const result = fn();
    c.commit.run();
    return result;
  } catch (err) {
    if (db.isTransaction) c.rollback.run();
    throw err;
  }
}
