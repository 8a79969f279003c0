/**
 * Fresh replicas for property tests, made once and copied: building one (Engine.open, the schema's
 * DDL, asCrr and its triggers) costs several times what copying its bytes does, and a property test
 * makes hundreds. A copy gets a new random site id, as a fresh Engine.open would give it, so it is the
 * same database as one built anew but for that id.
 */
import assert from 'node:assert/strict';
import type { DatabaseSync } from 'node:sqlite';
import { Engine } from '../../src/engine/engine.ts';
import { openDatabase } from '../../src/engine/sqlite.ts';

const images = new Map<string, Uint8Array>();

/**
 * An in-memory database copied from the one `make` set up on a fresh engine (made on the first call
 * for `key`), with a new random site id; open it with `Engine.open`.
 */
export function freshCopy(key: string, make: (db: DatabaseSync, engine: Engine) => void): DatabaseSync {
  const db = openDatabase(':memory:');
  db.deserialize(freshImage(key, make));
  newSiteId(db);
  return db;
}

/**
 * The bytes of the database `make` set up on a fresh engine, made on the first call for `key`; its
 * site id is stored nowhere but in `ddcp_site_id` (checked), where {@link newSiteId} replaces it.
 */
export function freshImage(key: string, make: (db: DatabaseSync, engine: Engine) => void): Uint8Array {
  let bytes = images.get(key);
  if (bytes) return bytes;
  const db = openDatabase(':memory:');
  const engine = Engine.open(db);
  make(db, engine);
  bytes = db.serialize();
  db.close();
  // The site id is stored nowhere but where newSiteId rewrites it: no byte of it is left after.
  const check = openDatabase(':memory:');
  check.deserialize(bytes);
  check.exec('PRAGMA secure_delete = ON');
  newSiteId(check);
  assert.equal(Buffer.from(check.serialize()).indexOf(engine.siteId), -1, `${key}: the site id is only in ddcp_site_id`);
  check.close();
  images.set(key, bytes);
  return bytes;
}

/** Gives a copy of a fresh image a random site id of its own, as a fresh Engine.open would. */
export function newSiteId(db: DatabaseSync): void {
  db.exec('UPDATE ddcp_site_id SET site_id = randomblob(length(site_id)) WHERE ordinal = 0');
}
