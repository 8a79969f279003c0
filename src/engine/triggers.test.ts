/**
 * The update trigger's change test is fitted to each column's type (triggers.ts, MaskKind): it must
 * log exactly the change masks the type-blind test — bytes and storage class compared — logs, for
 * every value SQLite can store, in every kind of column.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Engine } from './engine.ts';
import { openDatabase, type SqliteConnection, type SqlValue } from './sqlite.ts';

const TYPED = ['INTEGER', 'TEXT', 'REAL', 'NUMERIC', '', 'BLOB', 'VARCHAR(9)', 'DOUBLE PRECISION', 'ANY', 'BOOLEAN', 'INT', 'FLOAT'];
const STRICT = ['INTEGER', 'TEXT', 'REAL', 'ANY', 'BLOB', 'INT'];

/** The type-blind test the triggers used for every column before. */
const reference = (cols: string[]): string => cols.map((c, i) => `((NEW.${c} IS NOT OLD.${c} COLLATE BINARY OR typeof(NEW.${c}) <> typeof(OLD.${c})) << ${i})`).join(' | ');

const value: fc.Arbitrary<SqlValue> = fc.oneof(
  fc.constantFrom<SqlValue>(null, 0n, 1n, -1n, 2n, -9223372036854775808n, 9223372036854775807n, 0, -0, 1, 2, 2.5, -9223372036854775808, 9223372036854775808, 1e300, Infinity, -Infinity, '', '1', '2', '2.0', '-9223372036854775808', ' 1', '0x10', 'a', 'A', '1e500', new Uint8Array([]), new Uint8Array([0x31]), new Uint8Array([0x61])),
  fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
  fc.integer({ min: -3, max: 3 }).map((n) => BigInt(n)),
  fc.integer({ min: -3, max: 3 }).map((n) => n + 0),
  fc.double({ noNaN: true }),
  fc.string({ maxLength: 3 }),
  fc.uint8Array({ maxLength: 2 }),
);

function check(table: string, types: readonly string[], strict: boolean, writes: { row: number; col: number; v: SqlValue }[][]): void {
  const engine = Engine.open(openDatabase(':memory:'));
  const db = engine.db;
  const cols = types.map((_, i) => `c${i}`);
  db.exec(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY NOT NULL, ${cols.map((c, i) => `${c} ${types[i]}`).join(', ')})${strict ? ' STRICT' : ''}`);
  engine.asCrr(table);
  const trigger = (db.prepare(`SELECT sql FROM sqlite_master WHERE name = ?`).get(`${table}__ddcp_upd`) as { sql: string }).sql;
  // No SQL function: a function call anywhere in a trigger's body gives every write to the table a
  // statement journal (triggers.ts, MaskKind).
  assert.doesNotMatch(trigger, /\w\(/, 'the update trigger calls no SQL function');
  db.exec(`CREATE TABLE ref (m INTEGER); CREATE TRIGGER ref_upd AFTER UPDATE ON ${table} BEGIN INSERT INTO ref (m) VALUES (${reference(cols)}); END;`);
  for (let id = 0; id < 4; id++) db.prepare(`INSERT INTO ${table} (id) VALUES (?)`).run(BigInt(id));
  for (const statement of writes) {
    const sets = new Map(statement.map((w) => [w.col % cols.length, w.v]));
    const row = BigInt(statement[0]!.row % 4);
    try {
      db.prepare(`UPDATE ${table} SET ${[...sets.keys()].map((c) => `${cols[c]} = ?`).join(', ')} WHERE id = ?`).run(...sets.values(), row);
    } catch (err) {
      // A STRICT column refuses a value of another type: nothing is updated or logged.
      if (!/cannot store/.test((err as Error).message)) throw err;
    }
  }
  const logged = db.prepare(`SELECT m0 FROM ${table}__ddcp_log WHERE op = 2 ORDER BY seq`).all().map((r) => (r as { m0: unknown }).m0);
  const expected = db.prepare('SELECT m FROM ref ORDER BY rowid').all().map((r) => (r as { m: unknown }).m);
  assert.deepEqual(logged, expected);
  db.close();
}

const writes = fc.array(fc.array(fc.record({ row: fc.nat(3), col: fc.nat(20), v: value }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 30 });

describe('update trigger change masks', () => {
  it('are the type-blind masks for every declared type', () => {
    fc.assert(fc.property(writes, (w) => check('t', TYPED, false, w)), { numRuns: 150 });
  });
  it('are the type-blind masks in a STRICT table', () => {
    fc.assert(fc.property(writes, (w) => check('s', STRICT, true, w)), { numRuns: 150 });
  });
  it('tell -2^63 as INTEGER from -2^63 as REAL in INTEGER and NUMERIC columns', () => {
    for (const type of ['INTEGER', 'NUMERIC']) {
      check('e', [type], false, [
        [{ row: 0, col: 0, v: -9223372036854775808n }],
        [{ row: 0, col: 0, v: -9223372036854775808 }],
        [{ row: 0, col: 0, v: -9223372036854775808 }],
        [{ row: 0, col: 0, v: -9223372036854775808n }],
      ]);
      // And that the case happens at all: the REAL stays REAL.
      const db = openDatabase(':memory:');
      db.exec(`CREATE TABLE x (v ${type}); INSERT INTO x VALUES (-9223372036854775808.0)`);
      assert.equal((db.prepare('SELECT typeof(v) AS t FROM x').get() as { t: string }).t, 'real');
      db.close();
    }
  });
});

describe('the log of an older ddcp', () => {
  it('is given the new shape on open, its unsealed entries kept', async () => {
    const { copyFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'ddcp-log-'));
    try {
      const file = join(dir, 'repo.db');
      copyFileSync(join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'layout-v1', 'repo.db'), file);
      const entries = (db: ReturnType<typeof openDatabase>): unknown => db.prepare('SELECT seq, op, k0, o0, m0 FROM items__ddcp_log ORDER BY seq').all();
      const before = openDatabase(file);
      const logged = entries(before);
      assert.match((before.prepare(`SELECT sql FROM sqlite_master WHERE name = 'items__ddcp_log'`).get() as { sql: string }).sql, /NOT NULL/);
      before.close();
      const db = openDatabase(file);
      Engine.open(db);
      assert.doesNotMatch((db.prepare(`SELECT sql FROM sqlite_master WHERE name = 'items__ddcp_log'`).get() as { sql: string }).sql, /NOT NULL/);
      assert.deepEqual(entries(db), logged);
      assert.equal((entries(db) as unknown[]).length, 2);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('key changes', () => {
  /** The log's (op, key, old key) since the last call. */
  const logged = (db: SqliteConnection, table: string): unknown[] => {
    const rows = db.prepare(`SELECT op, k0, o0 FROM ${table}__ddcp_log ORDER BY seq`).all().map((r) => { const e = r as { op: unknown; k0: unknown; o0: unknown }; return [e.op, e.k0, e.o0]; });
    db.exec(`DELETE FROM ${table}__ddcp_log`);
    return rows;
  };

  it('are logged whichever name of the key an UPDATE sets, and an UPDATE naming none logs its masks', () => {
    const engine = Engine.open(openDatabase(':memory:'));
    const db = engine.db;
    db.exec('CREATE TABLE k (id INTEGER PRIMARY KEY NOT NULL, v TEXT)');
    engine.asCrr('k');
    db.exec("INSERT INTO k VALUES (1, 'a'), (2, 'b')");
    logged(db, 'k');
    const cases: [string, unknown[]][] = [
      ["UPDATE k SET v = 'x' WHERE id = 1", [[2, 1, null]]],
      ['UPDATE k SET id = 10 WHERE id = 1', [[4, 10, 1]]],
      ['UPDATE k SET rowid = 11 WHERE id = 10', [[4, 11, 10]]],
      ['UPDATE k SET OID = 12 WHERE id = 11', [[4, 12, 11]]],
      ['UPDATE k SET _rowid_ = 13 WHERE id = 12', [[4, 13, 12]]],
      ["UPDATE k SET (v, ID) = ('y', 14) WHERE id = 13", [[4, 14, 13]]],
      ["UPDATE k SET id = id, v = 'z' WHERE id = 14", [[2, 14, null]]],
      ["INSERT INTO k VALUES (14, 'w') ON CONFLICT (id) DO UPDATE SET id = 15", [[4, 15, 14]]],
    ];
    for (const [sql, expected] of cases) {
      db.exec(sql);
      assert.deepEqual(logged(db, 'k'), expected, sql);
    }
    db.close();
  });

  it('are logged for a key of several columns in a WITHOUT ROWID table', () => {
    const engine = Engine.open(openDatabase(':memory:'));
    const db = engine.db;
    db.exec('CREATE TABLE w (a TEXT NOT NULL, b INTEGER NOT NULL, v, PRIMARY KEY (a, b)) WITHOUT ROWID');
    engine.asCrr('w');
    db.exec("INSERT INTO w VALUES ('p', 1, 0)");
    db.exec(`DELETE FROM w__ddcp_log`);
    db.exec("UPDATE w SET b = 2 WHERE a = 'p'");
    db.exec("UPDATE w SET v = 5");
    const rows = db.prepare('SELECT op, k0, k1, o0, o1 FROM w__ddcp_log ORDER BY seq').all().map((r) => Object.values(r as object));
    assert.deepEqual(rows, [[4, 'p', 2, 'p', 1], [2, 'p', 2, null, null]]);
    db.close();
  });
});

describe('the triggers of an older ddcp', () => {
  it('are made anew on open: the same SQL as a table made a CRR today, the log kept', async () => {
    const { copyFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { TRIGGERS_VERSION } = await import('./triggers.ts');
    const dir = mkdtempSync(join(tmpdir(), 'ddcp-triggers-'));
    try {
      const file = join(dir, 'repo.db');
      // Written with TRIGGERS_VERSION 3 (test/fixtures/layout-v3/make.ts), with unsealed deletes.
      copyFileSync(join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'layout-v3', 'repo.db'), file);
      const triggers = (db: SqliteConnection): string[] =>
        (db.prepare(`SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name NOT LIKE '%clock_upd' ORDER BY name`).all() as { sql: string }[]).map((r) => r.sql);
      const version = (db: SqliteConnection): number => Number((db.prepare(`SELECT value FROM ddcp_state WHERE key = 'triggers_version'`).get() as { value: number | bigint }).value);
      const entries = (db: SqliteConnection): unknown => db.prepare('SELECT seq, op, k0, o0, m0 FROM items__ddcp_log ORDER BY seq').all();
      const before = openDatabase(file);
      assert.equal(version(before), 3);
      const old = triggers(before);
      const logged = entries(before);
      const tables = (before.prepare(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name IN ('items', 'pairs') ORDER BY name`).all() as { sql: string }[]).map((r) => r.sql);
      before.close();
      const db = openDatabase(file);
      Engine.open(db);
      assert.equal(version(db), TRIGGERS_VERSION);
      assert.deepEqual(entries(db), logged);
      const today = Engine.open(openDatabase(':memory:'));
      for (const sql of tables) today.db.exec(sql);
      today.asCrr('items');
      today.asCrr('pairs');
      assert.equal(triggers(db).length, 8);
      assert.deepEqual(triggers(db), triggers(today.db));
      assert.notDeepEqual(old, triggers(db));
      today.db.close();
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
