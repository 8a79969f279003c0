/**
 * The staging area: changes fetched from remotes but not merged yet, in `.ddcp/staging.db` beside
 * the database (fetch never touches the database itself). Per remote it also remembers how far
 * fetching got, so the next fetch transfers only what is new.
 */
import type { Change } from '../engine/change.ts';
import { openDatabase, type SqlValue, type SqliteConnection, type Statement } from '../engine/sqlite.ts';
import { transaction } from '../engine/transaction.ts';

export interface FetchState {
  remote: string;
  /** The remote's site id. */
  siteId: Uint8Array;
  /** The remote's db_version we have fetched everything up to. */
  version: number;
  /** When we last fetched (ms since the epoch). */
  fetchedAt: number;
  /** Changes staged and not merged yet. */
  staged: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS fetched (remote TEXT PRIMARY KEY, site_id BLOB NOT NULL, version INTEGER NOT NULL, fetched_at INTEGER NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS staged (
  remote TEXT NOT NULL, n INTEGER NOT NULL,
  tbl TEXT NOT NULL, pk BLOB NOT NULL, cid TEXT NOT NULL, val ANY,
  col_version INTEGER NOT NULL, db_version INTEGER NOT NULL, site_id BLOB NOT NULL, cl INTEGER NOT NULL, seq INTEGER NOT NULL,
  PRIMARY KEY (remote, n)
) STRICT, WITHOUT ROWID;`;

export class Staging {
  readonly db: SqliteConnection;
  private readonly insert: Statement;

  constructor(path: string) {
    this.db = openDatabase(path);
    this.db.exec(SCHEMA);
    this.insert = this.db.prepare('INSERT INTO staged VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  }

  state(remote: string): FetchState | undefined {
    const r = this.db.prepare('SELECT remote, site_id, version, fetched_at FROM fetched WHERE remote = ?').get(remote) as
      | { remote: string; site_id: Uint8Array; version: number; fetched_at: number }
      | undefined;
    if (!r) return undefined;
    return { remote: r.remote, siteId: new Uint8Array(r.site_id), version: Number(r.version), fetchedAt: Number(r.fetched_at), staged: this.count(remote) };
  }

  count(remote: string): number {
    return Number((this.db.prepare('SELECT count(*) AS n FROM staged WHERE remote = ?').get(remote) as { n: number }).n);
  }

  /**
   * Stages changes from a remote and records how far it got, in one transaction: a failed or
   * interrupted fetch stages nothing. `version` may depend on the changes, so it is asked for after
   * they are stored. Returns how many changes were staged.
   */
  stage(remote: string, siteId: Uint8Array, changes: Iterable<Change>, version: () => number, onProgress?: (n: number) => void): number {
    return transaction(this.db, () => {
      const row = this.db.prepare('SELECT coalesce(max(n), 0) AS n FROM staged WHERE remote = ?').get(remote) as { n: number };
      let n = Number(row.n);
      let count = 0;
      for (const c of changes) {
        this.insert.run(remote, BigInt(++n), c.table, c.pk, c.cid, c.val, BigInt(c.colVersion), BigInt(c.dbVersion), c.siteId, BigInt(c.cl), BigInt(c.seq));
        if (++count % 10_000 === 0) onProgress?.(count);
      }
      this.db
        .prepare(
          `INSERT INTO fetched VALUES (?, ?, ?, ?) ON CONFLICT (remote) DO UPDATE SET site_id = excluded.site_id,
           version = max(version, excluded.version), fetched_at = excluded.fetched_at`,
        )
        .run(remote, siteId, BigInt(version()), BigInt(Date.now()));
      return count;
    });
  }

  /** The staged changes of a remote, in the order they were fetched (read lazily). */
  *changes(remote: string): Generator<Change> {
    const s = this.db.prepare('SELECT tbl, pk, cid, val, col_version, db_version, site_id, cl, seq FROM staged WHERE remote = ? ORDER BY n');
    s.setReadBigInts(true);
    s.setReturnArrays(true);
    for (const r of s.iterate(remote) as Iterable<SqlValue[]>) {
      yield {
        table: r[0] as string,
        pk: r[1] as Uint8Array,
        cid: r[2] as string,
        val: r[3] ?? null,
        colVersion: Number(r[4]),
        dbVersion: Number(r[5]),
        siteId: r[6] as Uint8Array,
        cl: Number(r[7]),
        seq: Number(r[8]),
      };
    }
  }

  /** Drops a remote's staged changes (after they were merged). */
  clear(remote: string): void {
    this.db.prepare('DELETE FROM staged WHERE remote = ?').run(remote);
  }

  /** Forgets a remote entirely. */
  forget(remote: string): void {
    transaction(this.db, () => {
      this.clear(remote);
      this.db.prepare('DELETE FROM fetched WHERE remote = ?').run(remote);
    });
  }

  close(): void {
    this.db.close();
  }
}
