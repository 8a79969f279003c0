/**
 * Two-replica comparisons of the engine's seal (src/engine/seal*.test.ts): a replica with the CRRs of
 * a schema, one seal of what its log holds (with the seal's options: set-based or through the rules),
 * and a dump of every clock it stored, to compare two replicas byte for byte.
 */
import type { DatabaseSync } from 'node:sqlite';
import { Versions } from '../../src/engine/clock.ts';
import { Engine } from '../../src/engine/engine.ts';
import { introspect } from '../../src/engine/schema.ts';
import { sealTables, type SealOptions } from '../../src/engine/seal.ts';
import { openDatabase, type SqliteConnection } from '../../src/engine/sqlite.ts';
import { CrrTable } from '../../src/engine/table.ts';

export interface SealReplica {
  db: SqliteConnection;
  versions: Versions;
  tables: CrrTable[];
  /** The CRRs, in the order given. */
  names: string[];
}

/**
 * A fresh database (Engine.open, the schema, asCrr) as bytes, made once per schema and copied into
 * each replica, which gets a new random site id: the same database, byte for byte but for the site
 * id, at a fraction of the CPU (the property tests make hundreds of replicas, a 66-column table's
 * triggers among them).
 */
const images = new Map<string, Uint8Array>();
function image(schema: string, tables: string[]): Uint8Array {
  const key = JSON.stringify([schema, tables]);
  let bytes = images.get(key);
  if (bytes) return bytes;
  const db = openDatabase(':memory:');
  const e = Engine.open(db);
  db.exec(schema);
  for (const t of tables) e.asCrr(t);
  bytes = db.serialize();
  db.close();
  // The site id is stored nowhere but where newSiteId rewrites it: no byte of it is left after.
  const check = openDatabase(':memory:');
  check.deserialize(bytes);
  check.exec('PRAGMA secure_delete = ON');
  newSiteId(check);
  if (Buffer.from(check.serialize()).indexOf(e.siteId) !== -1) throw new Error('the site id is stored outside ddcp_site_id: a copied image would keep it');
  check.close();
  images.set(key, bytes);
  return bytes;
}

function newSiteId(db: DatabaseSync): void {
  db.exec('UPDATE ddcp_site_id SET site_id = randomblob(length(site_id)) WHERE ordinal = 0');
}

/** An in-memory database with `schema` run and `tables` made CRRs (a copy of one made once). */
export function sealReplica(schema: string, tables: string[]): SealReplica {
  const db = openDatabase(':memory:');
  db.deserialize(image(schema, tables));
  newSiteId(db);
  const e = Engine.open(db);
  return { db: e.db, versions: new Versions(e.db), tables: tables.map((t) => new CrrTable(e.db, introspect(e.db, t))), names: tables };
}

/** Seals what the log holds as one new version, as the engine does; returns the per-table counts. */
export function sealOnce(r: SealReplica, options: SealOptions): unknown {
  r.db.exec('BEGIN');
  try {
    const v = r.versions.open();
    const counts = sealTables(r.db, r.tables, v, options);
    if (counts) r.versions.close(v, { kind: 'commit', tables: counts }, 0);
    return counts;
  } finally {
    r.db.exec('COMMIT');
  }
}

const text = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x));

/**
 * Every clock the replica stored, as text: per CRR its clocks (`clock`: the per-cell view; `cells`:
 * the override rows as stored) and its key map, then the versions.
 */
export function dumpClocks(r: SealReplica, clocks: 'clock' | 'cells'): string {
  const q = (sql: string): unknown[] => {
    const s = r.db.prepare(sql);
    s.setReadBigInts(true);
    s.setReturnArrays(true);
    return s.all();
  };
  return r.names.map((t) => text([q(`SELECT * FROM ${t}__ddcp_${clocks} ORDER BY key, cid`), q(`SELECT * FROM ${t}__ddcp_pks ORDER BY __key`)])).join('\n') + text(q('SELECT * FROM ddcp_versions ORDER BY db_version'));
}
