/**
 * Connection settings for a database holding documents. Each patch writes a field row and a history
 * entry keyed by document, so a batch of changes to documents spread over the database dirties pages
 * all over the field, history and clock B-trees: with SQLite's default page cache (2 MiB per
 * connection) a large history no longer fits, and pages are evicted and read again, spilled mid-
 * transaction and re-written; with the default WAL checkpoint (every 1,000 pages, ≈ 4 MB) nearly
 * every commit checkpoints too, writing the same pages into the database file again and syncing it.
 * On the documents bench (100,000 patches on 10,000 documents, a 44 MB file) that was a third of
 * the CPU time, nearly all of it in the kernel (pread/pwrite/fsync). Temporary storage goes to
 * memory too: a multi-row upsert of a batch keeps a statement journal, and a merge fills the engine's
 * scratch tables (temp.ddcp_layout_*), both written to temporary files by default once past 64 KiB.
 */
import type { SqliteConnection } from '../engine/index.ts';

/** Default page cache a Documents connection is raised to (bytes): SQLite allocates it only as pages are used. */
export const DEFAULT_PAGE_CACHE_BYTES = 64 * 1024 * 1024;

/** Pages the WAL may hold before the committing connection checkpoints it (SQLite's default: 1,000). */
export const WAL_CHECKPOINT_PAGES = 10_000;

function pragmaNumber(db: SqliteConnection, name: string): number {
  const row = db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown> | undefined;
  return Number(row?.[name] ?? 0);
}

/**
 * Raises `db`'s page cache to `bytes` and its WAL auto-checkpoint to {@link WAL_CHECKPOINT_PAGES},
 * never lowering a larger setting the app chose (nor turning on a checkpoint it turned off), and
 * keeps temporary storage in memory unless the app chose where it goes. All are per connection and
 * change no result: only how much is kept in memory, and how often the WAL is folded into the
 * database file. `bytes` 0: the connection is left as it is.
 */
export function tuneConnection(db: SqliteConnection, bytes: number): void {
  if (bytes <= 0) return;
  const size = pragmaNumber(db, 'cache_size');
  // Negative: KiB; positive: pages.
  const current = size < 0 ? -size * 1024 : size * pragmaNumber(db, 'page_size');
  if (current < bytes) db.exec(`PRAGMA cache_size = ${-Math.ceil(bytes / 1024)}`);
  const checkpoint = pragmaNumber(db, 'wal_autocheckpoint');
  if (checkpoint > 0 && checkpoint < WAL_CHECKPOINT_PAGES) db.exec(`PRAGMA wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
  // 0: the build's default (files); 1 (file) or 2 (memory): the app's choice.
  if (pragmaNumber(db, 'temp_store') === 0) db.exec('PRAGMA temp_store = MEMORY');
}
