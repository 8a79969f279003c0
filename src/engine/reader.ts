/**
 * Reading the feed on a connection of its own, without opening an {@link Engine} (which writes as it
 * opens: bookkeeping checks, drift repair): for a second thread reading part of what an engine's
 * read transaction sees (cli/changes-parallel.ts). It only reads, so the connection may be read-only.
 */
import type { Change } from './change.ts';
import { readChanges, type ChangeRange } from './changes.ts';
import { Sites } from './clock.ts';
import { introspect, type TableInfo } from './schema.ts';
import type { DatabaseSync } from 'node:sqlite';
import { BUSY_TIMEOUT_MS, nodeSqlite, type SqliteConnection, type Statement } from './sqlite.ts';
import { CrrTable } from './table.ts';

export class SnapshotReader {
  private readonly db: SqliteConnection;
  private readonly tables: CrrTable[];
  private readonly sites: Sites;
  private owned = false;

  private constructor(db: SqliteConnection) {
    this.db = db;
    // The first read pins the snapshot: the CRRs and site ids are those of the changes read.
    const rows = db.prepare('SELECT tbl FROM ddcp_crrs WHERE altering = 0 ORDER BY tbl').all() as { tbl: string }[];
    this.tables = rows.map(({ tbl }) => new CrrTable(db, introspect(db, tbl)));
    this.sites = new Sites(db);
  }

  /** Opens the database file at `path` read-only and begins a read transaction on it (see {@link begin}); {@link end} closes it. */
  static open(path: string): SnapshotReader {
    const db = new (nodeSqlite().DatabaseSync)(path, { readOnly: true, timeout: BUSY_TIMEOUT_MS });
    try {
      const reader = SnapshotReader.begin(db);
      reader.owned = true;
      return reader;
    } catch (err) {
      db.close();
      throw err;
    }
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

  /** Ends the read transaction (and closes the connection {@link open} opened). */
  end(): void {
    if (this.db.isTransaction) this.db.exec('COMMIT');
    if (this.owned) this.db.close();
  }
}

/**
 * Tells whether any connection committed to a database between two looks: a read-only connection of
 * its own, outside any transaction, and its `PRAGMA data_version` (which moves when another
 * connection commits). Two read transactions that both began between two looks that saw no commit
 * read the same snapshot.
 */
export class CommitWatch {
  private readonly db: DatabaseSync;
  private readonly stmt: Statement;
  private readonly first: unknown;

  /** Opens `path` read-only and takes the first look. */
  constructor(path: string) {
    this.db = new (nodeSqlite().DatabaseSync)(path, { readOnly: true, timeout: BUSY_TIMEOUT_MS });
    this.stmt = this.db.prepare('PRAGMA data_version');
    this.first = this.look();
  }

  private look(): unknown {
    return (this.stmt.get() as { data_version: unknown }).data_version;
  }

  /** Whether anything was committed since the first look. */
  committed(): boolean {
    return this.look() !== this.first;
  }

  close(): void {
    this.db.close();
  }
}
