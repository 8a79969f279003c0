/**
 * How often a hosted database's WAL is folded into its file. The hub's common commit is a small
 * merge (one to ten changes) that writes ~9 pages, five of them the same bookkeeping pages every time
 * (the version counter, the history, the pusher's tracked version, the direct versions, the log).
 * With SQLite's default automatic checkpoint (every 1,000 pages) every ~110th commit copies those
 * pages into the database file again and syncs the WAL and the file, on the event loop, inside that
 * commit. Checkpointing every 10,000 pages copies each hot page once per ~1,100 commits, syncs a
 * tenth as often, and so a commit waits on it a tenth as often. The WAL file is cut back to
 * {@link HOSTED_WAL_KEEP_BYTES} when it restarts, so a database written in bursts keeps the disk
 * footprint it had with the default.
 */
import type { SqliteConnection } from '../../../engine/index.ts';

/** Pages a hosted database's WAL may hold before the committing connection checkpoints it (SQLite's default: 1,000). */
export const HOSTED_CHECKPOINT_PAGES = 10_000;

/** What the WAL file is truncated to when it restarts after a checkpoint (≈ the default's 1,000 pages). */
export const HOSTED_WAL_KEEP_BYTES = 4 * 1024 * 1024;

/** Sets a hosted database's writer connection to checkpoint as above (per connection; no result changes). */
export function tuneHostedWriter(db: SqliteConnection): void {
  db.exec(`PRAGMA wal_autocheckpoint = ${HOSTED_CHECKPOINT_PAGES}`);
  db.exec(`PRAGMA journal_size_limit = ${HOSTED_WAL_KEEP_BYTES}`);
}
