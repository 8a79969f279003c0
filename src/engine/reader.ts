/**
 * Reading the feed on a connection of its own, without opening an {@link Engine} (which writes as it
 * opens: bookkeeping checks, drift repair): for a second thread reading part of what an engine's
 * read transaction sees (cli/changes-parallel.ts). It only reads, so the connection may be read-only.
 */
import type { Change } from './change.ts';
import { readChanges, type ChangeRange } from './changes.ts';
import { Sites } from './clock.ts';
import { introspect, type TableInfo } from './schema.ts';
import type { SqliteConnection } from './sqlite.ts';
import { CrrTable } from './table.ts';

export class SnapshotReader {
  private readonly db: SqliteConnection;
  private readonly tables: CrrTable[];
  private readonly sites: Sites;

  private constructor(db: SqliteConnection) {
    this.db = db;
    // The first read pins the snapshot: the CRRs and site ids are those of the changes read.
    const rows = db.prepare('SELECT tbl FROM ddcp_crrs WHERE altering = 0 ORDER BY tbl').all() as { tbl: string }[];
    this.tables = rows.map(({ tbl }) => new CrrTable(db, introspect(db, tbl)));
    this.sites = new Sites(db);
  }

  /** Begins a read transaction on `db` (not in one) and pins its snapshot. */
  static begin(db: SqliteConnection): SnapshotReader {
    db.exec('BEGIN');
    try {
      return new SnapshotReader(db);
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }

  /** The CRRs as the snapshot has them, in name order (as {@link Engine.crrs}: compare to check a snapshot is another's). */
  crrs(): TableInfo[] {
    return this.tables.map((t) => t.info);
  }

  /** The changes after `since` in `range`, as {@link Engine.changesSince} with that range reads them. */
  changes(since: number, range: ChangeRange): Generator<Change> {
    return readChanges(this.db, this.tables, this.sites, since, undefined, undefined, false, range);
  }

  /** Ends the read transaction. */
  end(): void {
    if (this.db.isTransaction) this.db.exec('COMMIT');
  }
}
