/**
 * `ddcp changes` writes its lines straight from the read's query rows (Engine.writeChanges,
 * engine/change-cursor.ts, into the byte writer's rows and cells) with recycled chunks; Engine.eachChange
 * hands the same read on in one reused change. This holds both to the library's read (`changesSince`,
 * every field with its exact type, the same order) and their bytes to what `ddcp changes` printed before —
 * `formatChange(c) + '\n'` of each change of `changesSince` — on random schemas (composite, text and
 * blob keys, typed and untyped columns, tables without columns), rows, updates, deletes,
 * resurrections, bulk updates (row clocks and overrides) and merges of other replicas cut into
 * chunks in either order (other rows' cells between a row clock's seqs), from every version, with the
 * reader pausing anywhere (as the command does for its output).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Change } from '../src/engine/change.ts';
import { Engine } from '../src/engine/engine.ts';
import { ROW_CLOCK_PAGE } from '../src/engine/row-clock-pages.ts';
import { SENTINEL } from '../src/engine/schema.ts';
import { openDatabase, type SqlValue } from '../src/engine/sqlite.ts';
import { formatChange } from '../src/sync/jsonl.ts';
import { ChangeLineWriter } from '../src/sync/jsonl-writer.ts';
import { hex, opArb, repr, runOp, SCHEMA, TABLES, valueArb, write } from './support/convergence.ts';
import { engineFromImage } from './support/fixed-site.ts';

/** Every field of a change with its exact type. */
const show = (c: Readonly<Change>): string =>
  [c.table, hex(c.pk), c.cid, `${typeof c.colVersion} ${c.colVersion}`, `${typeof c.dbVersion} ${c.dbVersion}`, hex(c.siteId), `${typeof c.seq} ${c.seq}`, `${typeof c.cl} ${c.cl}`, repr(c.val)].join(' ');

/** What `ddcp changes --since` printed before eachChange: the library's read, formatted line by line. */
const before = (e: Engine, since: number): Buffer => Buffer.from([...e.changesSince(since)].map((c) => formatChange(c) + '\n').join(''), 'utf8');

/**
 * What `ddcp changes --since` prints now (src/cli/changes.ts): Engine.writeChanges straight into the
 * byte writer (its rows and cells, no change objects), a chunk taken whenever it is full and given
 * back once "written" (here: copied out), so later chunks are built in recycled buffers.
 */
function now(e: Engine, since: number, chunkBytes: number): Buffer {
  const lines = new ChangeLineWriter(chunkBytes);
  const out: Buffer[] = [];
  const flush = (): void => {
    const chunk = lines.take();
    out.push(Buffer.from(chunk)); // a copy: the chunk is recycled below
    lines.recycle(chunk);
  };
  for (const _ of e.writeChanges(since, lines)) flush();
  if (lines.size > 0) flush();
  return Buffer.concat(out);
}

/**
 * Engine.eachChange (the same read handing one reused change on) into the writer's add() with the
 * row groups it gives; `pauses` says after which changes the reader also pauses.
 */
function eachChange(e: Engine, since: number, chunkBytes: number, pauses: (i: number) => boolean): { bytes: Buffer; shown: string[] } {
  const lines = new ChangeLineWriter(chunkBytes);
  const out: Buffer[] = [];
  const shown: string[] = [];
  let i = 0;
  for (const _ of e.eachChange(since, (c, group) => {
    shown.push(show(c));
    // A sentinel is no row clock's cell: no group (as eachChange always gave it).
    if (c.cid === SENTINEL) assert.equal(group, -1);
    lines.add(c, group);
    return lines.full || pauses(i++);
  })) {
    if (lines.full) out.push(Buffer.from(lines.take()));
  }
  out.push(Buffer.from(lines.take()));
  return { bytes: Buffer.concat(out), shown };
}

/**
 * `pageRows`: the rows of row clocks the read takes from SQLite at a time (row-clock-pages.ts); a
 * page of one to three rows puts page ends anywhere, in runs of ties too.
 */
function check(e: Engine, chunkBytes: number, pauseEvery: number, pageRows = ROW_CLOCK_PAGE.rows): void {
  const page = ROW_CLOCK_PAGE.rows;
  ROW_CLOCK_PAGE.rows = pageRows;
  try {
    checkAll(e, chunkBytes, pauseEvery);
  } finally {
    ROW_CLOCK_PAGE.rows = page;
  }
}

function checkAll(e: Engine, chunkBytes: number, pauseEvery: number): void {
  e.seal();
  const top = Number([...e.changesSince(0)].reduce((m, c) => (c.dbVersion > m ? c.dbVersion : m), 0 as Change['dbVersion']));
  for (let since = 0; since <= top + 1; since++) {
    const expected = before(e, since);
    assert.deepEqual(now(e, since, chunkBytes), expected, `since ${since}`);
    const got = eachChange(e, since, chunkBytes, (i) => i % pauseEvery === 0);
    assert.deepEqual(got.shown, [...e.changesSince(since)].map(show), `since ${since}`);
    assert.deepEqual(got.bytes, expected, `since ${since}`);
  }
}

// --- Three replicas of the convergence suite's schema, writing and merging ---------------------------

const REPLICAS = 3;
function siteId(n: number): Uint8Array {
  const b = new Uint8Array(16);
  b[0] = 0x40 + n;
  b.fill(n, 1);
  return b;
}
/** A fresh replica with site id n: a copy of one made once (engineFromImage). */
function openReplica(n: number): Engine {
  return engineFromImage('changes-lines', siteId(n), (db, engine) => {
    db.exec(SCHEMA);
    for (const t of Object.keys(TABLES)) engine.asCrr(t);
  }).engine;
}

const ops = opArb(REPLICAS);
/** Row clocks per page of the read: tiny pages (ends everywhere, inside runs of ties) or the default. */
const PAGE_ROWS = fc.constantFrom(1, 2, 3, ROW_CLOCK_PAGE.rows);

// --- A random table ---------------------------------------------------------------------------------

const TYPES = ['', 'INTEGER', 'TEXT', 'REAL', 'BLOB', 'NUMERIC', 'ANY'];
interface Shape {
  pks: string[];
  pkTypes: string[];
  cols: string[];
  colTypes: string[];
  rowid: boolean;
}
const shapeArb: fc.Arbitrary<Shape> = fc
  .record({
    pkTypes: fc.array(fc.constantFrom('INTEGER', 'TEXT', 'BLOB', ''), { minLength: 1, maxLength: 3 }),
    colTypes: fc.array(fc.constantFrom(...TYPES.filter((t) => t !== 'ANY')), { maxLength: 6 }),
    rowid: fc.boolean(),
  })
  .map(({ pkTypes, colTypes, rowid }) => ({
    pks: pkTypes.map((_, i) => `k${i}`),
    pkTypes,
    // Names that need JSON escapes too.
    cols: colTypes.map((_, i) => (i === 1 ? 'q"uote' : i === 2 ? 'ünï' : `c${i}`)),
    colTypes,
    rowid,
  }));
const keyValue = (type: string): fc.Arbitrary<SqlValue> =>
  type === 'INTEGER'
    ? fc.constantFrom<SqlValue>(0n, 1n, -7n, 2n ** 53n + 1n, 2n ** 63n - 1n)
    : type === 'TEXT'
      ? fc.constantFrom<SqlValue>('', 'a', 'é', '日本')
      : type === 'BLOB'
        ? fc.constantFrom<SqlValue>(new Uint8Array(0), new Uint8Array([0, 255]))
        : fc.constantFrom<SqlValue>(1n, 'x', 2.5);
type RowOp =
  | { k: 'put' | 'update' | 'delete'; key: SqlValue[]; vals: SqlValue[]; mask: boolean[] }
  | { k: 'seal' }
  | { k: 'bulk'; vals: SqlValue[]; mask: boolean[] }
  | { k: 'scramble'; a: number; b: number };

/**
 * Clocks moved by hand (as a tool may, through SQL) into few db_versions and seqs: row clocks whose
 * cells interleave with other rows' and overrides', and ties in (db_version, seq) between row
 * clocks, overrides and sentinels — orders the engine's own writes never make, which the read must
 * still give as readChanges does.
 */
function scramble(db: ReturnType<typeof openDatabase>, a: number, b: number): void {
  const mix = (col: string, mod: number): string => `(abs(${col} % 97) * ${a} + ${b}) % ${mod}`;
  db.exec(`UPDATE t__ddcp_pks SET __ddcp_dbv = 1 + ${mix('__key', 2)}, __ddcp_seq = ${mix('__key + 1', 5)} WHERE __ddcp_dbv IS NOT NULL`);
  db.exec(`UPDATE t__ddcp_sentinels SET db_version = 1 + ${mix('key + 2', 2)}, seq = ${mix('key + 3', 6)}`);
  db.exec(`UPDATE t__ddcp_cells SET db_version = 1 + ${mix('key + length(cid)', 2)}, seq = ${mix('key * 3 + length(cid)', 7)}`);
}

function tableDdl(s: Shape): string {
  const ident = (n: string): string => `"${n.replace(/"/g, '""')}"`;
  const cols = [...s.pks.map((p, i) => `${p} ${s.pkTypes[i]} NOT NULL`), ...s.cols.map((c, i) => `${ident(c)} ${s.colTypes[i]}`)];
  return `CREATE TABLE t (${cols.join(', ')}, PRIMARY KEY (${s.pks.join(', ')}))${s.rowid ? '' : ' WITHOUT ROWID'}`;
}

describe('ddcp changes through writeChanges and eachChange', () => {
  it('reads and writes what the library read and formatChange gave, on merged replicas, from every version', () => {
    fc.assert(
      fc.property(fc.array(ops, { minLength: 1, maxLength: 25 }), fc.constantFrom(1, 100, 1 << 20), fc.integer({ min: 1, max: 7 }), PAGE_ROWS, (steps, chunkBytes, pauseEvery, pageRows) => {
        const replicas = Array.from({ length: REPLICAS }, (_, i) => openReplica(i));
        try {
          for (const op of steps) runOp(replicas, op);
          for (const e of replicas) check(e, chunkBytes, pauseEvery, pageRows);
        } finally {
          for (const e of replicas) e.db.close();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('reads and writes what the library read and formatChange gave, on random tables', () => {
    const scenario = shapeArb.chain((shape) => {
      const key = fc.tuple(...shape.pkTypes.map(keyValue));
      const vals = fc.array(valueArb, { minLength: shape.cols.length, maxLength: shape.cols.length });
      const mask = fc.array(fc.boolean(), { minLength: shape.cols.length, maxLength: shape.cols.length });
      const op: fc.Arbitrary<RowOp> = fc.oneof(
        { weight: 4, arbitrary: fc.record({ k: fc.constantFrom('put' as const, 'update' as const, 'delete' as const), key, vals, mask }) },
        { weight: 1, arbitrary: fc.constant({ k: 'seal' as const }) },
        { weight: 1, arbitrary: fc.record({ k: fc.constant('bulk' as const), vals, mask }) },
        { weight: 1, arbitrary: fc.record({ k: fc.constant('scramble' as const), a: fc.integer({ min: 1, max: 13 }), b: fc.nat(6) }) },
      );
      return fc.tuple(fc.constant(shape), fc.array(op, { maxLength: 30 }), fc.constantFrom(1, 300, 1 << 20), fc.integer({ min: 1, max: 5 }), PAGE_ROWS);
    });
    fc.assert(
      fc.property(scenario, ([shape, ops, chunkBytes, pauseEvery, pageRows]) => {
        const db = openDatabase(':memory:');
        try {
          const e = Engine.open(db);
          db.exec(tableDdl(shape));
          e.asCrr('t');
          const q = (c: string): string => `"${c.replace(/"/g, '""')}"`;
          const where = shape.pks.map((p) => `${p} = ?`).join(' AND ');
          for (const op of ops) {
            if (op.k === 'seal') e.seal();
            else if (op.k === 'scramble') {
              e.seal();
              scramble(db, op.a, op.b);
            }
            else if (op.k === 'put') db.prepare(`INSERT OR REPLACE INTO t (${[...shape.pks, ...shape.cols.map(q)].join(', ')}) VALUES (${[...shape.pks, ...shape.cols].map(() => '?').join(', ')})`).run(...op.key, ...op.vals);
            else if (op.k === 'delete') db.prepare(`DELETE FROM t WHERE ${where}`).run(...op.key);
            else {
              const cols = shape.cols.filter((_, i) => op.mask[i]);
              if (cols.length === 0) continue;
              const vals = op.vals.filter((_, i) => op.mask[i]);
              if (op.k === 'update') db.prepare(`UPDATE t SET ${cols.map((c) => `${q(c)} = ?`).join(', ')} WHERE ${where}`).run(...vals, ...op.key);
              else db.prepare(`UPDATE t SET ${cols.map((c) => `${q(c)} = ?`).join(', ')}`).run(...vals);
            }
          }
          check(e, chunkBytes, pauseEvery, pageRows);
        } finally {
          db.close();
        }
      }),
      { numRuns: 150 },
    );
  });

  it('reads row clocks tied in (db_version, seq) across page ends', () => {
    // Row clocks moved by hand into runs of ties longer than a page: a page ends inside a run, and
    // the next must start with the rest of that run (the index's rowid order), neither skipping nor
    // repeating rows — and a page of exactly the run's length must go on to the next seq.
    const db = openDatabase(':memory:');
    try {
      const e = Engine.open(db);
      db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY NOT NULL, a TEXT, b INTEGER)');
      e.asCrr('t');
      const ins = db.prepare('INSERT INTO t VALUES (?, ?, ?)');
      for (let k = 1; k <= 24; k++) ins.run(BigInt(k), `r${k}`, BigInt(k * 10));
      e.seal();
      // Runs of 7, 5, 1, 3, … rows at a few (db_version, seq), keys interleaved between them.
      db.exec(`UPDATE t__ddcp_pks SET __ddcp_dbv = 1 + (__key % 3 = 0), __ddcp_seq = CASE WHEN __key % 2 = 0 THEN 4 WHEN __key < 12 THEN 0 ELSE 9 END`);
      for (const rows of [1, 2, 3, 5, 7, 8]) check(e, 1 << 20, 1, rows);
    } finally {
      db.close();
    }
  });

  it('writes a row read straight only up to a tie with another stream\'s head', () => {
    // A row clock whose cells all come before the next one (written straight, in one run) with an
    // override and a sentinel of other rows at the (db_version, seq) of its second and third cells:
    // those come first (readChanges's tie-break: sentinels, then overrides, then row clocks).
    const db = openDatabase(':memory:');
    try {
      const e = Engine.open(db);
      db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY NOT NULL, a TEXT, b INTEGER, c REAL)');
      e.asCrr('t');
      const ins = db.prepare('INSERT INTO t VALUES (?, ?, ?, ?)');
      for (let k = 1; k <= 4; k++) ins.run(BigInt(k), `r${k}`, BigInt(k), k + 0.5);
      e.seal();
      db.exec("UPDATE t SET a = 'x' WHERE k = 3");
      db.exec('DELETE FROM t WHERE k = 4');
      e.seal();
      db.exec('UPDATE t__ddcp_pks SET __ddcp_dbv = 1, __ddcp_seq = CASE WHEN __key = 1 THEN 0 ELSE 10 + __key END WHERE __ddcp_dbv IS NOT NULL');
      db.exec('UPDATE t__ddcp_sentinels SET db_version = 1, seq = 2');
      db.exec('UPDATE t__ddcp_cells SET db_version = 1, seq = 1');
      const cells = [...e.changesSince(0)].slice(0, 5).map((c) => `${hex(c.pk)} ${c.cid} ${c.seq}`);
      // The tie this test is about, as the library reads it.
      assert.deepEqual(cells, ['010901 a 0', '010903 a 1', '010901 b 1', '010904 -1 2', '010901 c 2']);
      for (const rows of [1, 2, ROW_CLOCK_PAGE.rows]) check(e, 1 << 20, 1, rows);
    } finally {
      db.close();
    }
  });

  it('ends its read transaction when the reader stops early', () => {
    const e = openReplica(0);
    try {
      for (let i = 0; i < 5; i++) write(e, { t: 'items', k: 'insert', id: BigInt(i + 1), vals: [1n, 2.5, 'x', null], or: 'REPLACE' });
      let n = 0;
      for (const _ of e.eachChange(0, () => ++n === 3)) break;
      assert.equal(n, 3);
      assert.equal(e.db.isTransaction, false);
      // And the statements it borrowed read again from the start.
      assert.deepEqual(now(e, 0, 1 << 20), before(e, 0));
      // So does writeChanges, stopped early.
      const lines = new ChangeLineWriter(1);
      for (const _ of e.writeChanges(0, lines)) break;
      assert.equal(e.db.isTransaction, false);
      const all = before(e, 0);
      assert.deepEqual(Buffer.from(lines.take()), all.subarray(0, all.indexOf(0x0a) + 1)); // its first line
    } finally {
      e.db.close();
    }
  });
});
