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
