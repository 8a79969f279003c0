/**
 * The staging area: changes fetched from remotes but not merged yet, in `.ddcp/staging.db` beside
 * the database (fetch never touches the database itself). Changes are kept as encoded batches (one
 * row per batch, sync/codec.ts), and per remote it remembers how far fetching got, so the next fetch
 * transfers only what is new.
 */
import { renameSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import type { Change } from '../engine/index.ts';
import { openDatabase, type SqliteConnection, type Statement, transaction } from '../engine/index.ts';
import { batchSize, type Batch } from '../sync/batches.ts';
import { eachChangeOf, encodeChanges } from '../sync/codec.ts';

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
  /**
   * The address whose proof of `siteId` the fetch's session verified, for a merge to bind it when
   * nothing else authenticates the remote (a hub database: its address isn't known before it answers).
   */
  owner?: string;
}

/** A remote's staging at one moment (see {@link Staging.mark}). */
export interface StagingMark {
  remote: string;
  /** The number of the last staged batch. */
  n: number;
  fetched: { site_id: Uint8Array; version: number | bigint; fetched_at: number | bigint; owner: string | null } | undefined;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS fetched (remote TEXT PRIMARY KEY, site_id BLOB NOT NULL, version INTEGER NOT NULL, fetched_at INTEGER NOT NULL, owner TEXT) STRICT;
CREATE TABLE IF NOT EXISTS batches (
  remote TEXT NOT NULL, n INTEGER NOT NULL,
  version INTEGER NOT NULL, complete INTEGER NOT NULL, changes INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (remote, n)
) STRICT;`;

/** The columns each staging table must have (a file of another shape is damaged, not ours to guess at). */
const COLUMNS: Record<string, string[]> = {
  fetched: ['remote', 'site_id', 'version', 'fetched_at', 'owner'],
  batches: ['remote', 'n', 'version', 'complete', 'changes', 'data'],
};

/** The staging file is not a staging area (garbage, another database, tables of another shape). */
class StagingDamage extends Error {}

/** SQLite's "file is not a database" (26) and "database disk image is malformed" (11). */
const isDamage = (err: unknown): boolean => err instanceof StagingDamage || [11, 26].includes(Number((err as { errcode?: number }).errcode) & 0xff);

/**
 * Opens the staging area at `path`. It is a cache — changes fetched and not merged yet, which the
 * next fetch gets again (the versions merged are kept in the database) — so a damaged one is set
 * aside as `staging.db.corrupt-<time>` (kept for inspection) and a fresh one made, and `notice` says so.
 */
export function openStaging(path: string, notice: (message: string) => void): Staging {
  try {
    return new Staging(path);
  } catch (err) {
    if (!isDamage(err)) throw err;
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(path, aside);
    for (const suffix of ['-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
    notice(`${path} was damaged (${(err as Error).message}); set aside as ${basename(aside)} — changes fetched and not merged yet will be fetched again`);
    return new Staging(path);
  }
}

/** The bytes of each staged batch row (one step per batch; the changes are read by one generator). */
function* batchBytes(rows: Iterable<[Uint8Array]>): Generator<Uint8Array> {
  for (const r of rows) yield r[0];
}

export class Staging {
  readonly db: SqliteConnection;
  private readonly insert: Statement;
  private readonly upsertFetched: Statement;

  constructor(path: string) {
    const db = openDatabase(path);
    try {
      db.exec(SCHEMA);
      // A staging area from before site proofs: its fetched remotes' owners are not known.
      const old = (db.prepare(`SELECT name FROM pragma_table_info('fetched')`).all() as { name: string }[]).map((r) => r.name);
      if (old.join() === 'remote,site_id,version,fetched_at') db.exec('ALTER TABLE fetched ADD COLUMN owner TEXT');
      for (const [table, want] of Object.entries(COLUMNS)) {
        const have = (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[]).map((r) => r.name);
        if (have.join() !== want.join()) throw new StagingDamage(`table ${table} has columns (${have.join(', ')}), not (${want.join(', ')})`);
      }
    } catch (err) {
      db.close();
      throw err;
    }
    this.db = db;
    this.insert = this.db.prepare('INSERT INTO batches VALUES (?, (SELECT coalesce(max(n), 0) + 1 FROM batches WHERE remote = ?), ?, ?, ?, ?)');
    this.upsertFetched = this.db.prepare(
      `INSERT INTO fetched VALUES (?, ?, ?, ?, ?) ON CONFLICT (remote) DO UPDATE SET site_id = excluded.site_id,
       version = max(version, excluded.version), fetched_at = excluded.fetched_at, owner = excluded.owner`,
    );
  }

  state(remote: string): FetchState | undefined {
    const r = this.db.prepare('SELECT remote, site_id, version, fetched_at, owner FROM fetched WHERE remote = ?').get(remote) as
      | { remote: string; site_id: Uint8Array; version: number; fetched_at: number; owner: string | null }
      | undefined;
    if (!r) return undefined;
    const state: FetchState = { remote: r.remote, siteId: new Uint8Array(r.site_id), version: Number(r.version), fetchedAt: Number(r.fetched_at), staged: this.count(remote) };
    if (r.owner !== null) state.owner = r.owner;
    return state;
  }

  /** Changes staged for a remote. */
  count(remote: string): number {
    return Number((this.db.prepare('SELECT coalesce(sum(changes), 0) AS n FROM batches WHERE remote = ?').get(remote) as { n: number }).n);
  }

  /**
   * Stages one batch from a remote, in one transaction. A complete batch also records that the
   * remote is fetched up to its version; an incomplete one (part of a huge version) waits for the
   * rest. Returns how many changes were staged. `owner`: the address that proved `siteId` (see {@link FetchState.owner}).
   */
  stage(remote: string, siteId: Uint8Array, batch: Batch, owner?: string): number {
    const size = batchSize(batch);
    return transaction(this.db, () => {
      if (size > 0) {
        this.insert.run(remote, remote, BigInt(batch.version), batch.complete ? 1n : 0n, BigInt(size), batch.encoded ?? encodeChanges(batch.changes));
      }
      if (batch.complete) this.upsertFetched.run(remote, siteId, BigInt(batch.version), BigInt(Date.now()), owner ?? null);
      return size;
    });
  }

  /**
   * Drops staged batches past the last complete one (left by an interrupted fetch: the next fetch
   * starts again from the last complete version).
   */
  dropIncomplete(remote: string): void {
    this.db
      .prepare(
        `DELETE FROM batches WHERE remote = ? AND n > coalesce((SELECT max(n) FROM batches WHERE remote = ? AND complete = 1), 0)`,
      )
      .run(remote, remote);
  }

  /** Where a remote's staging stands now, to {@link restore} it if a fetch must be undone. */
  mark(remote: string): StagingMark {
    const n = Number((this.db.prepare('SELECT coalesce(max(n), 0) AS n FROM batches WHERE remote = ?').get(remote) as { n: number }).n);
    const fetched = this.db.prepare('SELECT site_id, version, fetched_at, owner FROM fetched WHERE remote = ?').get(remote) as StagingMark['fetched'];
    return { remote, n, fetched };
  }

  /** Undoes what was staged for the remote since `mark`, and how far fetching got. */
  restore(mark: StagingMark): void {
    transaction(this.db, () => {
      this.db.prepare('DELETE FROM batches WHERE remote = ? AND n > ?').run(mark.remote, BigInt(mark.n));
      const f = mark.fetched;
      if (f) this.db.prepare('INSERT OR REPLACE INTO fetched VALUES (?, ?, ?, ?, ?)').run(mark.remote, f.site_id, f.version, f.fetched_at, f.owner);
      else this.db.prepare('DELETE FROM fetched WHERE remote = ?').run(mark.remote);
    });
  }

  /**
   * The staged changes of a remote, in the order they were fetched, decoded one at a time (they
   * were validated when staged; a merge of them is one transaction, so an error midway undoes it).
   */
  changes(remote: string): Generator<Change> {
    const s = this.db.prepare('SELECT data FROM batches WHERE remote = ? ORDER BY n');
    s.setReturnArrays(true);
    return eachChangeOf(batchBytes(s.iterate(remote) as Iterable<[Uint8Array]>));
  }

  /** Drops a remote's staged changes (after they were merged). */
  clear(remote: string): void {
    this.db.prepare('DELETE FROM batches WHERE remote = ?').run(remote);
  }

  /** Nothing is staged for any remote, nor any fetch state kept. */
  empty(): boolean {
    return (this.db.prepare('SELECT NOT EXISTS (SELECT 1 FROM batches) AND NOT EXISTS (SELECT 1 FROM fetched) AS e').get() as { e: number }).e === 1;
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
