/**
 * Documents' states kept between changes, so a change to a document changed before needs no read:
 * its rows, content, version and next seq as this object last wrote or read them.
 *
 * They stay valid only while nothing but this object's own committed writes changed the database.
 * Two counters tell, both read inside the write transaction (its lock held, so no other connection
 * can commit meanwhile): `total_changes()` counts every row written on this connection — ours,
 * the engine's triggers, a merge, a seal, an app's own SQL — and `data_version` changes when
 * another connection commits. Our own writes are bracketed ({@link DocumentCache.wrote}), so only
 * a write by anyone else (or a seal) drops the cache. Only a caller that owns the transaction
 * (began it, so knows it commits) uses the cache: a change made inside an app's transaction reads
 * and writes as if there were none, and its writes drop the cache at the next check.
 */
import type { SqliteConnection, Statement } from '../engine/index.ts';
import type { JsonObject } from './json.ts';
import type { LoadedDocument } from './store.ts';

/** A document's state as cached: what {@link LoadedDocument} holds, and what it derives from it. */
export interface CachedDocument extends LoadedDocument {
  /** Its content (undefined: none or deleted). Never handed out: callers get copies. */
  content: JsonObject | undefined;
  /** The rows that show (path → text), when it has content and they are known. */
  visible: Map<string, string> | undefined;
  /** Whether rows were added since it was read (so they are out of the order a read gives). */
  added: boolean;
}

/** Documents kept by default (a small task document takes about 0.8 kB of heap: 8 MB for 10,000). */
export const DEFAULT_CACHE_SIZE = 10_000;

export class DocumentCache {
  private readonly map = new Map<string, CachedDocument>();
  private readonly limit: number;
  private readonly db: SqliteConnection;
  private stampStmt: Statement | undefined;
  private changesStmt: Statement | undefined;
  /** `total_changes()` and `data_version` when the cache was last known valid (-1: not since a clear). */
  private changes = -1;
  private version = -1;
  /** Counts the times the cache was dropped: states read before a drop may be stale. */
  generation = 0;

  constructor(db: SqliteConnection, limit = DEFAULT_CACHE_SIZE) {
    this.db = db;
    this.limit = limit;
  }

  /** Whether the cache keeps anything at all. */
  get enabled(): boolean {
    return this.limit > 0;
  }

  /**
   * Drops every document unless nothing was written since the cache was last valid. Call it inside
   * the write transaction the caller began, before reading from the cache; `again`: it was called
   * before in this transaction (no other connection can have committed since: only this
   * connection's writes need to be looked for, which is cheaper).
   */
  check(again = false): void {
    if (!this.enabled) return;
    if (again) {
      const changes = this.totalChanges();
      if (changes === this.changes) return;
      this.drop();
      this.changes = changes;
      return;
    }
    if (!this.stampStmt) {
      this.stampStmt = this.db.prepare('SELECT total_changes(), data_version FROM pragma_data_version');
      this.stampStmt.setReturnArrays(true);
    }
    const [changes, version] = (this.stampStmt.get() as unknown as [number, number]).map(Number) as [number, number];
    if (changes === this.changes && version === this.version) return;
    this.drop();
    this.changes = changes;
    this.version = version;
  }

  /**
   * Runs `write` (rows written by the caller, in the transaction it began and checked): the rows it
   * writes, triggers' included, don't count as someone else's.
   */
  wrote(write: () => void): void {
    if (!this.enabled) return write();
    const before = this.totalChanges();
    write();
    if (before === this.changes) this.changes = this.totalChanges();
    else this.clear();
  }

  /**
   * Says that every row written since {@link check} was the caller's (it wrote nothing else in
   * between: a cheaper {@link wrote} for one change).
   */
  wroteSinceCheck(): void {
    if (this.enabled && this.changes >= 0) this.changes = this.totalChanges();
  }

  private totalChanges(): number {
    if (!this.changesStmt) {
      this.changesStmt = this.db.prepare('SELECT total_changes()');
      this.changesStmt.setReturnArrays(true);
    }
    return Number((this.changesStmt.get() as unknown as [number])[0]);
  }

  get(key: string): CachedDocument | undefined {
    return this.map.get(key);
  }

  /** Keeps `doc` (most recently used: the least recently set go first when full). */
  set(key: string, doc: CachedDocument): void {
    if (!this.enabled) return;
    this.map.delete(key);
    this.map.set(key, doc);
    if (this.map.size > this.limit) this.map.delete(this.map.keys().next().value!);
  }

  /** Forgets everything (a rollback, a merge); the next {@link check} starts afresh. */
  clear(): void {
    this.drop();
    this.changes = -1;
    this.version = -1;
  }

  private drop(): void {
    this.map.clear();
    this.generation++;
  }

  /** How many documents are kept (for tests). */
  get size(): number {
    return this.map.size;
  }
}
