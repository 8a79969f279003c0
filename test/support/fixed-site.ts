/** Engines whose site id the test chooses. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
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

/** Gives a database ddcp made the site id `site` (ordinal 0 of ddcp_site_id, where the engine keeps its own). */
function setSite(db: DatabaseSync, site: Uint8Array): void {
  db.prepare('UPDATE ddcp_site_id SET site_id = ? WHERE ordinal = 0').run(site);
}

const images = new Map<string, Uint8Array>();

/**
 * {@link engineWithSite} with `make` run on it (a schema, asCrr), as a copy of the bytes that made
 * once per `key` with a placeholder site id, which the copy replaces by `site`: the same database
 * but for that id (checked: the placeholder is stored nowhere else), for a fraction of the CPU of
 * Engine.open, the DDL and asCrr again.
 */
export function engineFromImage(key: string, site: Uint8Array, make: (db: DatabaseSync, engine: Engine) => void): { db: DatabaseSync; engine: Engine } {
  let bytes = images.get(key);
  if (!bytes) {
    const placeholder = new Uint8Array(randomBytes(site.length));
    const made = engineWithSite(placeholder);
    make(made.db, made.engine);
    bytes = made.db.serialize();
    made.db.close();
    const check = openDatabase(':memory:');
    check.deserialize(bytes);
    check.exec('PRAGMA secure_delete = ON');
    setSite(check, new Uint8Array(site.length));
    assert.equal(Buffer.from(check.serialize()).indexOf(placeholder), -1, `${key}: the site id is only in ddcp_site_id`);
    check.close();
    images.set(key, bytes);
  }
  const db = openDatabase(':memory:');
  db.deserialize(bytes);
  setSite(db, site);
  return { db, engine: Engine.open(db) };
}
