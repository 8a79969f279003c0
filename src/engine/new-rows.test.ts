/**
 * Rows new here decided in bulk (new-rows.ts) leave exactly what the rules leave: the same table rows
 * (rowids included), key map, overrides, sites, merge counts, conflicts and changes read back. Each
 * case builds one replica, then merges the same changes twice inside a transaction that is rolled
 * back — once with the bulk decision, once cell by cell — and compares everything.
 */
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Change } from './change.ts';
import { readChanges } from './changes.ts';
import { Sites } from './clock.ts';
import { ConflictRecorder } from './conflicts.ts';
import { Engine } from './engine.ts';
import { mergeChanges, CHUNK_ROWS } from './merge.ts';
import { packColumns } from './pack.ts';
import { introspect, SENTINEL } from './schema.ts';
import { openDatabase, type SqlValue, type SqliteConnection } from './sqlite.ts';
import { CrrTable } from './table.ts';
import { engineWithSite } from '../../test/support/fixed-site.ts';

const SCHEMA = `CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, a, b, c);
CREATE TABLE u (k TEXT NOT NULL, n INTEGER NOT NULL, x, y, PRIMARY KEY (k, n));`;
const COLUMNS: Record<string, string[]> = { t: ['a', 'b', 'c'], u: ['x', 'y'] };
const site = (n: number): Uint8Array => new Uint8Array(16).fill(n);
const ZERO = site(0);
const LOCAL = site(9);
const VALUES: SqlValue[] = [null, 1n, 2n, 'x', 'y', 1.5, new Uint8Array([1, 2])];

const pkOf = (table: string, i: number): SqlValue[] => (table === 't' ? [BigInt(i)] : [`k${i % 3}`, BigInt(i)]);

/** One change; `s` picks the origin (0 is the unknown site, allowed only on a revived sentinel). */
interface Spec {
  table: string;
  row: number;
  cid: string;
  v: number;
  cv: number;
  cl: number;
  s: number;
}

function toChange(x: Spec): Change {
  const sentinel = x.cid === SENTINEL;
  const zeroOk = sentinel && x.cl % 2 === 1 && x.cl > 1;
  return {
    table: x.table,
    pk: packColumns(pkOf(x.table, x.row)),
    cid: x.cid,
    val: sentinel ? null : VALUES[x.v]!,
    colVersion: sentinel ? x.cl : x.cv,
    dbVersion: 1 + x.v,
    siteId: x.s === 0 && !zeroOk ? site(1) : site(x.s),
    cl: x.cl,
    seq: x.v,
  };
}

const tableArb = fc.constantFrom('t', 'u');

/** A single change anywhere. */
const singleArb: fc.Arbitrary<Spec[]> = tableArb.chain((table) =>
  fc
    .record({
      row: fc.integer({ min: 1, max: 12 }),
      cid: fc.constantFrom(SENTINEL, ...COLUMNS[table]!),
      v: fc.integer({ min: 0, max: VALUES.length - 1 }),
      cv: fc.integer({ min: 0, max: 3 }),
      cl: fc.integer({ min: 1, max: 4 }),
      s: fc.integer({ min: 0, max: 3 }),
    })
    .map((r) => [{ table, ...r }]),
);

/**
 * A row's changes as a peer sends them — consecutive columns with one clock, a sentinel first, last
 * or nowhere — sometimes disturbed (a different col_version, origin or causal length on one cell,
 * a column repeated, the order reversed), so that rows just outside the bulk decision are tried too.
 */
const rowArb: fc.Arbitrary<Spec[]> = tableArb.chain((table) => {
  const cols = COLUMNS[table]!;
  return fc
    .record({
      row: fc.integer({ min: 1, max: 12 }),
      from: fc.integer({ min: 0, max: cols.length - 1 }),
      count: fc.integer({ min: 0, max: cols.length }),
      sentinel: fc.constantFrom('none', 'first', 'last', 'middle'),
      cl: fc.constantFrom(1, 1, 1, 3, 2),
      cv: fc.integer({ min: 0, max: 2 }),
      s: fc.integer({ min: 1, max: 3 }),
      sentinelSite: fc.integer({ min: 0, max: 3 }),
      v: fc.array(fc.integer({ min: 0, max: VALUES.length - 1 }), { minLength: 3, maxLength: 3 }),
      disturb: fc.constantFrom('none', 'none', 'none', 'cv', 'site', 'cl', 'repeat', 'reverse'),
      at: fc.nat(),
    })
    .map((r) => {
      const cells: Spec[] = cols.slice(r.from, r.from + r.count).map((cid, i) => ({ table, row: r.row, cid, v: r.v[i]!, cv: r.cv, cl: r.cl, s: r.s }));
      if (cells.length > 0) {
        const i = r.at % cells.length;
        const c = cells[i]!;
        if (r.disturb === 'cv') cells[i] = { ...c, cv: c.cv + 1 };
        if (r.disturb === 'site') cells[i] = { ...c, s: (c.s % 3) + 1 };
        if (r.disturb === 'cl') cells[i] = { ...c, cl: c.cl + 2 };
        if (r.disturb === 'repeat') cells.push({ ...c, v: (c.v + 1) % VALUES.length });
        if (r.disturb === 'reverse') cells.reverse();
      }
      const s: Spec = { table, row: r.row, cid: SENTINEL, v: 0, cv: r.cl, cl: r.cl, s: r.sentinelSite };
      if (r.sentinel === 'first') cells.unshift(s);
      if (r.sentinel === 'last') cells.push(s);
      if (r.sentinel === 'middle') cells.splice(Math.min(1, cells.length), 0, s);
      return cells;
    });
});

/** Changes from groups, some of them interleaved (a row's changes need not arrive together). */
const streamArb = fc
  .tuple(fc.array(fc.oneof({ weight: 3, arbitrary: rowArb }, { weight: 1, arbitrary: singleArb }), { minLength: 1, maxLength: 14 }), fc.array(fc.nat(), { maxLength: 6 }))
  .map(([groups, swaps]) => {
    const flat = groups.flat();
    for (const s of swaps) {
      if (flat.length < 2) break;
      const i = s % (flat.length - 1);
      [flat[i], flat[i + 1]] = [flat[i + 1]!, flat[i]!];
    }
    return flat;
  });

/** What a replica holds before the merge: local writes (sealed) and an earlier merge. */
const stateArb = fc.record({
  local: fc.array(fc.record({ op: fc.constantFrom('insert', 'update', 'delete'), table: tableArb, row: fc.integer({ min: 1, max: 12 }), v: fc.integer({ min: 0, max: VALUES.length - 1 }) }), { maxLength: 8 }),
  earlier: fc.array(fc.oneof(rowArb, singleArb), { maxLength: 6 }).map((g) => g.flat()),
});

/** A fresh replica's database (site id LOCAL, the schema, asCrr) as bytes: made once, copied per run. */
let image: Uint8Array | undefined;

function replica(): Engine {
  if (!image) {
    const { db, engine: e } = engineWithSite(LOCAL);
    db.exec(SCHEMA);
    e.asCrr('t');
    e.asCrr('u');
    image = db.serialize();
    db.close();
  }
  const db = openDatabase(':memory:');
  db.deserialize(image);
  return Engine.open(db);
}

function build(state: typeof stateArb extends fc.Arbitrary<infer S> ? S : never): Engine {
  const e = replica();
  for (const w of state.local) {
    const pk = pkOf(w.table, w.row);
    const where = w.table === 't' ? 'id = ?' : 'k = ? AND n = ?';
    const col = COLUMNS[w.table]![0]!;
    if (w.op === 'insert') e.db.prepare(`INSERT OR REPLACE INTO ${w.table} (${w.table === 't' ? 'id' : 'k, n'}, ${col}) VALUES (${pk.map(() => '?').join(', ')}, ?)`).run(...pk, VALUES[w.v]!);
    if (w.op === 'update') e.db.prepare(`UPDATE ${w.table} SET ${col} = ? WHERE ${where}`).run(VALUES[w.v]!, ...pk);
    if (w.op === 'delete') e.db.prepare(`DELETE FROM ${w.table} WHERE ${where}`).run(...pk);
  }
  e.seal();
  if (state.earlier.length > 0) e.applyChanges(state.earlier.map(toChange));
  return e;
}

function dump(db: SqliteConnection, sql: string): string {
  const s = db.prepare(sql);
  s.setReadBigInts(true);
  s.setReturnArrays(true);
  return JSON.stringify(s.all(), (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
}

/** Merges `changes` into `e` one way, reads everything the merge could have touched, rolls back. */
function mergeAndRead(e: Engine, changes: Change[], inBulk: boolean): string[] {
  const db = e.db;
  db.exec('BEGIN');
  try {
    const tables = new Map(['t', 'u'].map((name) => [name, new CrrTable(db, introspect(db, name))]));
    const sites = new Sites(db);
    const conflicts = new ConflictRecorder(100);
    const result = mergeChanges(tables, sites, changes, 50, conflicts, 3, { inBulk });
    conflicts.write(db, { at: 1, dbVersion: 50, source: undefined });
    const feed = [...readChanges(db, tables.values(), sites, 0)].map((c) => JSON.stringify({ ...c, pk: Buffer.from(c.pk).toString('hex'), siteId: Buffer.from(c.siteId).toString('hex') }, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)));
    return [
      JSON.stringify({ ...result, conflicts: conflicts.count }),
      ...['t', 'u'].flatMap((t) => [
        dump(db, `SELECT rowid, * FROM ${t} ORDER BY rowid`),
        dump(db, `SELECT * FROM ${t}__ddcp_pks ORDER BY __key`),
        dump(db, `SELECT * FROM ${t}__ddcp_cells ORDER BY key, cid`),
        dump(db, `SELECT count(*) FROM ${t}__ddcp_log`),
      ]),
      dump(db, 'SELECT * FROM ddcp_site_id ORDER BY ordinal'),
      dump(db, 'SELECT * FROM ddcp_conflicts ORDER BY id'),
      createHash('sha256').update(dump(db, `SELECT type, name, sql FROM sqlite_master ORDER BY name`)).digest('hex'),
      ...feed,
    ];
  } finally {
    db.exec('ROLLBACK');
  }
}

function same(e: Engine, changes: Change[]): void {
  const bulk = mergeAndRead(e, changes, true);
  const rules = mergeAndRead(e, changes, false);
  assert.deepEqual(bulk, rules);
}

describe('rows new here, decided in bulk', () => {
  it('leave what the rules leave, on random replicas and changes (partial rows, existing rows, deletes, sentinels, ties)', () => {
    fc.assert(
      fc.property(stateArb, streamArb, (state, stream) => {
        const e = build(state);
        try {
          same(e, stream.map(toChange));
        } finally {
          e.db.close();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('write the row clocks of whole statements of rows from one origin as the rules do, and of statements where one row differs', () => {
    // table.ts writes new rows' row clocks 64 to a statement: rows from one origin (every statement's
    // rows share col_version, db_version and site), then one row in 50 from another origin or at
    // another col_version. (The random cases above rarely fill a statement with rows of one table.)
    for (const table of ['t', 'u']) {
      for (const disturb of [undefined, 'site', 'cv'] as const) {
        const e = replica();
        try {
          const changes: Change[] = [];
          for (let r = 1; r <= CHUNK_ROWS + 200; r++) {
            const odd = disturb !== undefined && r % 50 === 7;
            const s = odd && disturb === 'site' ? 3 : 2;
            const cv = odd && disturb === 'cv' ? 2 : 1;
            for (const cid of COLUMNS[table]!) changes.push(toChange({ table, row: r, cid, v: r % VALUES.length, cv, cl: 1, s }));
          }
          same(e, changes);
        } finally {
          e.db.close();
        }
      }
    }
  });

  it('leave what the rules leave across chunks, with rows repeated in later chunks and tracking suspended', () => {
    fc.assert(
      fc.property(fc.array(rowArb, { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 3 }), (rows, repeat) => {
        const e = replica();
        try {
          // Many rows (past a chunk and the trigger suspension), the same few shapes over and over, each
          // row's pk spread so that the later copies meet rows an earlier chunk wrote.
          const count = CHUNK_ROWS * 2 + 100;
          const changes: Change[] = [];
          for (let r = 0; r < count * repeat; r++) {
            const shape = rows[r % rows.length]!;
            for (const s of shape) changes.push(toChange({ ...s, row: 1 + (r % count), v: (s.v + r) % VALUES.length }));
          }
          same(e, changes);
        } finally {
          e.db.close();
        }
      }),
      { numRuns: 8 },
    );
  });
});
