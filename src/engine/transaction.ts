/** Running work in one transaction on a connection that may already be inside one. */
import type { SqliteConnection } from './sqlite.ts';

let savepoints = 0;

/**
 * Runs `fn` atomically: in a new `BEGIN IMMEDIATE` transaction (take the write lock up front, so a
 * WAL reader never has to upgrade and fail with SQLITE_BUSY_SNAPSHOT), or in a savepoint when the
 * connection is already in a transaction. Rolls back everything if `fn` throws.
 */
export function transaction<T>(db: SqliteConnection, fn: () => T): T {
  if (db.isTransaction) {
    const name = `ddcp_sp${++savepoints}`;
    db.exec(`SAVEPOINT ${name}`);
    try {
      const result = fn();
      db.exec(`RELEASE ${name}`);
      return result;
    } catch (err) {
      db.exec(`ROLLBACK TO ${name}`);
      db.exec(`RELEASE ${name}`);
      throw err;
    }
  }
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}
