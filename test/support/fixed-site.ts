/** Engines whose site id the test chooses. */
import type { DatabaseSync } from 'node:sqlite';
import { Engine } from '../../src/engine/engine.ts';
import { openDatabase } from '../../src/engine/sqlite.ts';

/**
 * An engine (and its connection) on a fresh in-memory database whose site id is `site`: fixed, so two builds are the same
 * database (images made once and copied, reproducible ties between sites ordered by their ids).
 */
export function engineWithSite(site: Uint8Array): { db: DatabaseSync; engine: Engine } {
  const db = openDatabase(':memory:');
  db.exec('CREATE TABLE ddcp_site_id (ordinal INTEGER PRIMARY KEY, site_id BLOB NOT NULL UNIQUE)');
  db.prepare('INSERT INTO ddcp_site_id (ordinal, site_id) VALUES (0, ?)').run(site);
  return { db, engine: Engine.open(db) };
}
