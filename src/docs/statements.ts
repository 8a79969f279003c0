/**
 * Prepared statements kept per connection: a document change runs a handful of statements, and
 * preparing them anew each time cost more than running them.
 */
import type { SqliteConnection, Statement } from '../engine/index.ts';

const byConnection = new WeakMap<SqliteConnection, Map<string, Statement>>();

/** The prepared statement of `sql` on `db`, prepared on first use. */
export function statement(db: SqliteConnection, sql: string): Statement {
  let cache = byConnection.get(db);
  if (!cache) byConnection.set(db, (cache = new Map()));
  let s = cache.get(sql);
  if (!s) cache.set(sql, (s = db.prepare(sql)));
  return s;
}
