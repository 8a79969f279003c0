/**
 * One connection's shell work: running a statement and printing its rows, and the dot commands that
 * read the database. Each statement outside a transaction is its own commit and gets its own
 * db_version, as other SQLite clients' writes do.
 */
import type { SqlValue } from '../../index.ts';
import { INTERNAL_MARK, INTERNAL_PREFIX } from '../../index.ts';
import type { Repository } from '../../index.ts';
import type { DatabaseDot } from './dot-commands.ts';
import type { OutputSettings } from './modes.ts';
import { createPrinter } from './printer.ts';

/** LIKE escape for `_` and `%` in a literal pattern. */
const like = (s: string): string => s.replace(/[\\_%]/g, (c) => `\\${c}`);

/** SQL condition: `col` names something of the user's, not SQLite's or ddcp's bookkeeping. */
function userName(col: string): string {
  return [`'sqlite\\_%'`, `'${like(INTERNAL_PREFIX)}%'`, `'%${like(INTERNAL_MARK)}%'`].map((p) => `${col} NOT LIKE ${p} ESCAPE '\\'`).join(' AND ');
}

export class SqlSession {
  readonly repo: Repository;
  private readonly write: (text: string) => void;

  /** `write` receives the output (rows, schema lines) with its line endings. */
  constructor(repo: Repository, write: (text: string) => void) {
    this.repo = repo;
    this.write = write;
  }

  /** Whether a transaction is open (BEGIN without COMMIT/ROLLBACK yet). */
  get inTransaction(): boolean {
    return this.repo.db.isTransaction;
  }

  /** Runs one statement and prints its rows; throws SQLite's error (the statement had no effect). */
  run(sql: string, settings: OutputSettings): void {
    const stmt = this.repo.db.prepare(sql);
    stmt.setReadBigInts(true);
    const columns = (stmt as unknown as { columns(): { name: string }[] }).columns().map((c) => c.name);
    if (columns.length === 0) stmt.run();
    else {
      stmt.setReturnArrays(true);
      const printer = createPrinter(columns, settings, this.write);
      for (const row of stmt.iterate() as Iterable<SqlValue[]>) printer.row(row);
      printer.end();
    }
    if (!this.repo.db.isTransaction) this.repo.engine.seal();
  }

  /** Rolls back the open transaction, if any; returns whether there was one. */
  rollback(): boolean {
    if (!this.repo.db.isTransaction) return false;
    this.repo.db.exec('ROLLBACK');
    return true;
  }

  /** `.schema`, `.tables`, `.crrs`. */
  dot(cmd: DatabaseDot): void {
    const db = this.repo.db;
    const names = (sql: string, ...params: string[]): string[] => (db.prepare(sql).all(...params) as { v: string }[]).map((r) => r.v);
    let lines: string[];
    if (cmd.name === 'tables') lines = names(`SELECT name AS v FROM sqlite_master WHERE type IN ('table', 'view') AND ${userName('name')} ORDER BY name`);
    else if (cmd.name === 'crrs') lines = this.repo.engine.crrs().map((t) => t.name);
    else {
      const only = cmd.pattern === undefined ? '' : ` AND tbl_name LIKE ?`;
      const sql = `SELECT sql || ';' AS v FROM sqlite_master WHERE sql IS NOT NULL AND ${userName('name')} AND ${userName('tbl_name')}${only}
        ORDER BY tbl_name, type NOT IN ('table', 'view'), name`;
      lines = cmd.pattern === undefined ? names(sql) : names(sql, cmd.pattern);
    }
    for (const line of lines) this.write(line + '\n');
  }
}
