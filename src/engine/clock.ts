/**
 * Database-wide clock state: this database's site id, the db_version counter, the site-id ordinals
 * clocks refer to, and the versions we hold of each peer (cr-sqlite's tracked peers).
 */
import type { SqliteConnection, Statement } from './sqlite.ts';
import { toHex } from '../base/hex.ts';
import { randomBytes } from '../base/portable.ts';
import { STAMP_SQL, stampParams, type VersionRecord } from './history.ts';

export const SITE_ID_BYTES = 16;

/** Stands for "some site" where a change doesn't say which (all zero bytes: below every real id). */
export const UNKNOWN_SITE = new Uint8Array(SITE_ID_BYTES);

/** A peer's latest db_version that we hold. */
export interface TrackedPeer {
  siteId: Uint8Array;
  version: number;
}

export const GLOBAL_SCHEMA = `
CREATE TABLE IF NOT EXISTS ddcp_site_id (ordinal INTEGER PRIMARY KEY, site_id BLOB NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS ddcp_state (key TEXT PRIMARY KEY, value ANY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ddcp_versions (db_version INTEGER PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ddcp_crrs (tbl TEXT PRIMARY KEY, altering INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ddcp_tracked_peers (
  site_id BLOB NOT NULL, version INTEGER NOT NULL, seq INTEGER NOT NULL DEFAULT 0,
  tag INTEGER NOT NULL DEFAULT 0, event INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (site_id, tag, event)
);`;

/** Site ids ↔ the small ordinals stored in clocks (0 is this database). */
export class Sites {
  private readonly byOrdinal = new Map<number, Uint8Array>();
  private readonly byHex = new Map<string, number>();
  private readonly insert: Statement;
  private readonly all: Statement;
  readonly local: Uint8Array;
  private readonly db: SqliteConnection;

  constructor(db: SqliteConnection) {
    this.db = db;
    const row = db.prepare('SELECT site_id FROM ddcp_site_id WHERE ordinal = 0').get() as { site_id: Uint8Array } | undefined;
    if (row) this.local = new Uint8Array(row.site_id);
    else {
      this.local = randomBytes(SITE_ID_BYTES);
      db.prepare('INSERT INTO ddcp_site_id (ordinal, site_id) VALUES (0, ?)').run(this.local);
    }
    this.insert = db.prepare('INSERT INTO ddcp_site_id (site_id) VALUES (?) RETURNING ordinal');
    this.all = db.prepare('SELECT ordinal, site_id FROM ddcp_site_id');
    this.reload();
  }

  /** Re-reads the ordinals (another connection may have added sites; a rolled-back one may have lost some). */
  reload(): void {
    this.byOrdinal.clear();
    this.byHex.clear();
    for (const r of this.all.all() as { ordinal: number; site_id: Uint8Array }[]) {
      const bytes = new Uint8Array(r.site_id);
      this.byOrdinal.set(Number(r.ordinal), bytes);
      this.byHex.set(toHex(bytes), Number(r.ordinal));
    }
  }

  /** The ordinal of a site id, adding it if new (inside the caller's transaction). */
  ordinalOf(siteId: Uint8Array): number {
    const hex = toHex(siteId);
    const known = this.byHex.get(hex);
    if (known !== undefined) return known;
    const ordinal = Number((this.insert.get(siteId) as { ordinal: number }).ordinal);
    const bytes = new Uint8Array(siteId);
    this.byOrdinal.set(ordinal, bytes);
    this.byHex.set(hex, ordinal);
    return ordinal;
  }

  /** The ordinal of a site id if we know it. */
  lookup(siteId: Uint8Array): number | undefined {
    return this.byHex.get(toHex(siteId));
  }

  bytesOf(ordinal: number): Uint8Array {
    let bytes = this.byOrdinal.get(ordinal);
    if (!bytes) {
      this.reload();
      bytes = this.byOrdinal.get(ordinal);
      if (!bytes) throw new Error(`unknown site ordinal ${ordinal}`);
    }
    return bytes;
  }
}

/**
 * The db_version counter. `open` is the version the next stamping (seal or merge) uses; every
 * version below it is final, so readers never see a version that can still grow.
 */
export class Versions {
  private readonly get: Statement;
  private readonly set: Statement;
  private readonly stamp: Statement;
  private readonly timeOf: Statement;
  constructor(db: SqliteConnection) {
    db.prepare(`INSERT INTO ddcp_state (key, value) VALUES ('open_version', 1) ON CONFLICT DO NOTHING`).run();
    this.get = db.prepare(`SELECT value FROM ddcp_state WHERE key = 'open_version'`);
    this.set = db.prepare(`UPDATE ddcp_state SET value = ? WHERE key = 'open_version'`);
    this.stamp = db.prepare(STAMP_SQL);
    this.timeOf = db.prepare('SELECT at FROM ddcp_versions WHERE db_version = ?');
  }
  open(): number {
    return Number((this.get.get() as { value: number | bigint }).value);
  }
  /** Closes the open version: it becomes the current db_version, stamped with its time and what it was. */
  close(version: number, record: VersionRecord, at = Date.now()): void {
    this.set.run(BigInt(version + 1));
    this.stamp.run(...stampParams(version, at, record));
  }

  /** When a version was stamped here (ms since the epoch), if known. */
  time(version: number): number | undefined {
    const r = this.timeOf.get(BigInt(version)) as { at: number | bigint } | undefined;
    return r ? Number(r.at) : undefined;
  }
}

/** cr-sqlite's tracked peers: the latest version of each peer we have merged. */
export class TrackedPeers {
  private readonly db: SqliteConnection;
  private versionStmt: Statement | undefined;
  private recordStmt: Statement | undefined;
  constructor(db: SqliteConnection) {
    this.db = db;
  }

  all(): TrackedPeer[] {
    return (this.db.prepare('SELECT site_id, version FROM ddcp_tracked_peers WHERE tag = 0 AND event = 0 ORDER BY site_id').all() as { site_id: Uint8Array; version: number | bigint }[]).map(
      (r) => ({ siteId: new Uint8Array(r.site_id), version: Number(r.version) }),
    );
  }

  versionOf(siteId: Uint8Array): number {
    this.versionStmt ??= this.db.prepare('SELECT version FROM ddcp_tracked_peers WHERE site_id = ? AND tag = 0 AND event = 0');
    const r = this.versionStmt.get(siteId) as { version: number | bigint } | undefined;
    return r ? Number(r.version) : 0;
  }

  /** Records that we hold `version` of a peer; never moves backwards. */
  record(siteId: Uint8Array, version: number): void {
    this.recordStmt ??= this.db.prepare(
      `INSERT INTO ddcp_tracked_peers (site_id, version, seq, tag, event) VALUES (?, ?, 0, 0, 0)
       ON CONFLICT (site_id, tag, event) DO UPDATE SET version = max(version, excluded.version)`,
    );
    this.recordStmt.run(siteId, BigInt(version));
  }
}
