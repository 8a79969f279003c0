/**
 * Two-replica comparisons of the engine's seal (src/engine/seal*.test.ts): a replica with the CRRs of
 * a schema, one seal of what its log holds (with the seal's options: set-based or through the rules),
 * and a dump of every clock it stored, to compare two replicas byte for byte.
 */
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { Versions } from '../../src/engine/clock.ts';
import { Engine } from '../../src/engine/engine.ts';
import { introspect } from '../../src/engine/schema.ts';
import { sealTables, type SealOptions } from '../../src/engine/seal.ts';
import type { SqliteConnection } from '../../src/engine/sqlite.ts';
import { CrrTable } from '../../src/engine/table.ts';
import { freshCopy } from './fresh-copy.ts';

export interface SealReplica {
  db: SqliteConnection;
  versions: Versions;
  tables: CrrTable[];
  /** The CRRs, in the order given. */
  names: string[];
}

/** An in-memory database with `schema` run and `tables` made CRRs (a copy of one made once). */
export function sealReplica(schema: string, tables: string[]): SealReplica {
  const db = freshCopy(`seal ${JSON.stringify([schema, tables])}`, (made, engine) => {
    made.exec(schema);
    for (const t of tables) engine.asCrr(t);
  });
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
 * Every clock the replica stored: per CRR its clocks (`clock`: the per-cell view; `cells`: the
 * override rows as stored) and its key map (without what is not a clock), then the versions.
 */
export function clockRows(r: SealReplica, clocks: 'clock' | 'cells'): unknown[] {
  const q = (sql: string): unknown[] => {
    const s = r.db.prepare(sql);
    s.setReadBigInts(true);
    s.setReturnArrays(true);
    return s.all();
  };
  // A key-map row without a row clock (col_version NULL) may keep a deleted row clock's db_version,
  // site and seq, or not, depending on the path that deleted it (layout.ts): not clocks, left out.
  const keyMap = (t: string): string => {
    const cols = (r.db.prepare(`PRAGMA table_info("${t}__ddcp_pks")`).all() as { name: string }[]).map((c) => c.name === '__ddcp_dbv' || c.name === '__ddcp_site' || c.name === '__ddcp_seq' ? `CASE WHEN __ddcp_cv IS NOT NULL THEN ${c.name} END` : `"${c.name}"`);
    return `SELECT ${cols.join(', ')} FROM ${t}__ddcp_pks ORDER BY __key`;
  };
  return [...r.names.map((t) => [q(`SELECT * FROM ${t}__ddcp_${clocks} ORDER BY key, cid`), q(keyMap(t))]), q('SELECT * FROM ddcp_versions ORDER BY db_version')];
}

/** {@link clockRows} as text, one line per CRR and a last for the versions. */
export function dumpClocks(r: SealReplica, clocks: 'clock' | 'cells'): string {
  const rows = clockRows(r, clocks);
  return rows.slice(0, -1).map(text).join('\n') + text(rows.at(-1));
}

/**
 * Asserts that two replicas stored the same clocks: `assert.equal` of their {@link dumpClocks}, with
 * the texts made only when the rows differ as values (most of the CPU of a comparison was making
 * texts of equal dumps; rows equal as values always give equal texts).
 */
export function assertSameClocks(a: SealReplica, b: SealReplica, clocks: 'clock' | 'cells', message?: string): void {
  const [ra, rb] = [clockRows(a, clocks), clockRows(b, clocks)];
  if (!isDeepStrictEqual(ra, rb)) assert.equal(dumpClocks(a, clocks), dumpClocks(b, clocks), message);
}
