/**
 * Checks ddcp's bookkeeping before the engine touches it. A brand-new database has none of it and is
 * initialised; one that has some must have all of what makes its clocks mean anything — its own site
 * id and its db_version counter. Rebuilding those with new values would make a new site that reuses
 * versions the old one already sent (peers would skip its changes) or restart db_version at 1, so a
 * gap is refused with {@link StateError} instead. Tables newer ddcp versions added (history,
 * conflicts, …) are still created when missing: they hold no identity.
 */
import { StateError } from './errors.ts';
import { INTERNAL_MARK } from './schema.ts';
import type { SqliteConnection } from './sqlite.ts';

/** The tables every initialised database has had since the first version of ddcp. */
export const CORE_TABLES = ['ddcp_site_id', 'ddcp_state', 'ddcp_crrs'] as const;

/** Every database-wide table ddcp has made (an app may have tables named ddcp_… of its own). */
const KNOWN = [...CORE_TABLES, 'ddcp_versions', 'ddcp_tracked_peers', 'ddcp_conflicts'];

const HINT = "ddcp will not rebuild it with new values (that would fork this database's history): restore the database from a backup, or clone it afresh from a peer";

/**
 * The on-disk format this ddcp writes: 1 — a clock row per cell; 2 — the row-level clock layout
 * (layout.ts); 3 — key maps of tables keyed by their rowid alias keyed by that key (rekey.ts); 4 — a
 * key-map row without a row clock (col_version NULL) may keep a deleted row clock's db_version, site
 * and seq, which readers before 4 would take for a clock (layout.ts; nothing to migrate: a format-3
 * database is a format-4 one); 5 — the sentinels in a table of their own instead of four columns of the
key map (layout.ts, moved on open). Recorded in ddcp_state as `format` once a database is opened and migrated; a database
 * recorded with a higher one was written by a newer ddcp, whose layout this one would misread or
 * "repair" into damage, so it is refused (as are triggers of a newer ddcp, which we would replace).
 */
export const FORMAT_VERSION = 5;

/** Refuses (StateError, nothing changed) a database written by a newer ddcp: a `format` or triggers above ours. */
export function checkFormat(db: SqliteConnection, triggersVersion: number): void {
  const value = (key: string): number | undefined => {
    const row = db.prepare('SELECT value FROM ddcp_state WHERE key = ?').get(key) as { value: unknown } | undefined;
    return row === undefined ? undefined : Number(row.value);
  };
  const format = value('format');
  const triggers = value('triggers_version');
  const newer = format !== undefined && format > FORMAT_VERSION ? `format ${format}; this ddcp reads up to ${FORMAT_VERSION}` : triggers !== undefined && triggers > triggersVersion ? `triggers version ${triggers}; this ddcp makes ${triggersVersion}` : undefined;
  if (newer) throw new StateError(`this database was written by a newer ddcp (${newer}): upgrade ddcp to open it (nothing was changed)`);
}

/** Records that the database is now in this ddcp's format (after migrating it). */
export function recordFormat(db: SqliteConnection): void {
  db.prepare(`INSERT INTO ddcp_state (key, value) VALUES ('format', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE value < excluded.value`).run(FORMAT_VERSION);
}

/** Whether the database is new to ddcp (true) or initialised and whole (false); throws {@link StateError} if damaged. */
export function checkState(db: SqliteConnection): boolean {
  const names = new Set(
    (db.prepare(`SELECT name FROM main.sqlite_master WHERE type = 'table' AND (name IN (${KNOWN.map(() => '?').join(', ')}) OR instr(name, ?) > 0)`).all(...KNOWN, INTERNAL_MARK) as { name: string }[]).map(
      (r) => r.name,
    ),
  );
  // An app's own table that merely starts with ddcp_ doesn't make a database ddcp's, and a
  // ddcp_site_id alone is a site id chosen ahead of the first open (tests, tools): still new.
  if ([...names].every((n) => n === 'ddcp_site_id')) return true;
  for (const t of CORE_TABLES) {
    if (!names.has(t)) throw new StateError(`ddcp's table ${t} is missing (dropped by another program?); ${HINT}`);
  }
  if (!db.prepare('SELECT 1 FROM ddcp_site_id WHERE ordinal = 0').get()) {
    throw new StateError(`ddcp's table ddcp_site_id has lost this database's own site id (ordinal 0); ${HINT}`);
  }
  if (!db.prepare(`SELECT 1 FROM ddcp_state WHERE key = 'open_version'`).get()) {
    throw new StateError(`ddcp's table ddcp_state has lost the db_version counter (open_version); ${HINT}`);
  }
  return false;
}
