/**
 * Policy row predicates (`owner = :peer`) are SQLite expressions. In PostgreSQL mode they are not
 * translated — a translation would differ from SQLite in typing, collation and functions — but
 * evaluated by SQLite itself: the rows to test are put in a scratch in-memory table of the same name
 * and columns (untyped, as the hub's SQLite tables are) and the expression is run over them. An
 * expression over the row's own columns and `:peer` (what policies are) gives what it gives in SQLite
 * mode; a subquery would see only the rows under test.
 */
import { ident, openDatabase, type SqlValue, type SqliteConnection, type Statement, type TableInfo } from '../../../engine/index.ts';

/** A row to test: its key values and its current column values (columns not given are NULL). */
export interface RowValues {
  pk: readonly SqlValue[];
  values: ReadonlyMap<string, SqlValue>;
}

export class ScratchPredicates {
  private db: SqliteConnection | undefined;
  /** The shape each scratch table was made with (remade when a table grows). */
  private readonly shapes = new Map<string, string>();
  private readonly statements = new Map<string, Statement>();

  private connection(): SqliteConnection {
    return (this.db ??= openDatabase(':memory:'));
  }

  private table(info: TableInfo): SqliteConnection {
    const db = this.connection();
    const shape = JSON.stringify([info.pks, info.columns]);
    if (this.shapes.get(info.name) !== shape) {
      db.exec(`DROP TABLE IF EXISTS ${ident(info.name)}`);
      db.exec(`CREATE TABLE ${ident(info.name)} (${[...info.pks, ...info.columns].map(ident).join(', ')})`);
      this.shapes.set(info.name, shape);
      for (const k of [...this.statements.keys()]) if (k.startsWith(`${info.name}\u0000`)) this.statements.delete(k);
    }
    return db;
  }

  private statement(info: TableInfo, kind: string, sql: () => string): Statement {
    const key = `${info.name}\u0000${kind}`;
    let s = this.statements.get(key);
    if (!s) {
      s = this.table(info).prepare(sql());
      s.setAllowUnknownNamedParameters?.(true);
      s.setReadBigInts(true);
      this.statements.set(key, s);
    }
    return s;
  }

  /** For each row, whether it satisfies `where` (NULL counts as false), with `params` bound by name. */
  test(info: TableInfo, where: string, params: Readonly<Record<string, SqlValue>> | undefined, rows: readonly RowValues[]): boolean[] {
    const db = this.table(info);
    const cols = [...info.pks, ...info.columns];
    const insert = this.statement(info, 'insert', () => `INSERT INTO ${ident(info.name)} (rowid, ${cols.map(ident).join(', ')}) VALUES (?${', ?'.repeat(cols.length)})`);
    const select = this.statement(info, `where\u0000${where}`, () => `SELECT rowid AS i FROM ${ident(info.name)} WHERE (${where})`);
    const out = rows.map(() => false);
    db.exec('BEGIN');
    try {
      db.exec(`DELETE FROM ${ident(info.name)}`);
      rows.forEach((r, i) => insert.run(BigInt(i + 1), ...r.pk, ...info.columns.map((c) => r.values.get(c) ?? null)));
      for (const r of select.all({ ...(params ?? {}) } as never) as { i: bigint }[]) out[Number(r.i) - 1] = true;
    } finally {
      db.exec('ROLLBACK');
    }
    return out;
  }

  close(): void {
    this.statements.clear();
    this.shapes.clear();
    this.db?.close();
    this.db = undefined;
  }
}
