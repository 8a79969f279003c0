/**
 * A merge whose write breaks a constraint of this database (a CHECK, or NOT NULL where the peer's
 * schema allows NULL) fails whole: the merge's multi-row statements run `INSERT OR FAIL` (no
 * statement journal: table.ts), which leaves the rows a failing statement wrote before the bad one in
 * place until the merge's transaction or savepoint is rolled back — so nothing of such a merge may
 * survive it, whatever the statement, the chunk, the tracking suspension or the caller's transaction.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Change } from './change.ts';
import { Engine } from './engine.ts';
import { openDatabase, type SqliteConnection, type Statement } from './sqlite.ts';
import { transaction } from './transaction.ts';

/** The sender's table: no constraint beyond the key. */
const LOOSE = 'CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, v INTEGER, w TEXT)';
/** The receiver's: the same columns, with a CHECK and a NOT NULL column. */
const STRICT = "CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, v INTEGER CHECK (v >= 0), w TEXT NOT NULL DEFAULT '')";
/** The same with a key that is no rowid alias (a second B-tree for the key, as a UUID key has). */
const STRICT_TEXT_KEY = "CREATE TABLE t (id TEXT NOT NULL, v INTEGER CHECK (v >= 0), w TEXT NOT NULL DEFAULT '', PRIMARY KEY (id))";

function engine(ddl: string): Engine {
  const e = Engine.open(openDatabase(':memory:'));
  e.db.exec(ddl);
  e.asCrr('t');
  return e;
}

/** Every row of every table, the schema (triggers included) and the counters: what a failed merge must leave as it found it. */
function snapshot(db: SqliteConnection): unknown {
  const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
  const out: Record<string, unknown> = {
    schema: db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name').all(),
  };
  for (const name of tables) {
    const s = db.prepare(`SELECT * FROM "${name.replaceAll('"', '""')}"`);
    s.setReadBigInts(true);
    out[name] = (s.all() as Record<string, unknown>[]).map((r) => JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? [...v] : v))).sort();
  }
  return out;
}

/** A peer's changes for rows `ids`, each `v` = its id but `bad` (v = -1, or w = NULL with `nullW`). */
function peerChanges(ids: number[], key: (i: number) => bigint | string, bad: number, nullW = false, base?: Engine): Change[] {
  const peer = base ?? engine(LOOSE.replace('INTEGER PRIMARY KEY NOT NULL', typeof key(0) === 'string' ? 'TEXT PRIMARY KEY NOT NULL' : 'INTEGER PRIMARY KEY NOT NULL'));
  const since = peer.currentDbVersion();
  const put = peer.db.prepare('INSERT INTO t (id, v, w) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET v = excluded.v, w = excluded.w');
  transaction(peer.db, () => {
    for (const i of ids) put.run(key(i), i === bad && !nullW ? -1n : BigInt(i), i === bad && nullW ? null : `w${i}`);
  });
  return [...peer.changesSince(since)];
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
const intKey = (i: number): bigint => BigInt(i);
const textKey = (i: number): string => `k${String(i).padStart(5, '0')}`;

describe('a merge that breaks a constraint here', () => {
  for (const [label, ddl, key] of [
    ['integer key', STRICT, intKey],
    ['text key', STRICT_TEXT_KEY, textKey],
  ] as const) {
    describe(label, () => {
      const cases: { name: string; rows: number; bad: number; nullW?: boolean }[] = [
        // Mid-way through the third 64-row statement of the only chunk.
        { name: 'CHECK, new rows, within a multi-row statement', rows: 200, bad: 130 },
        { name: 'NOT NULL, new rows, within a multi-row statement', rows: 200, bad: 130, nullW: true },
        // In the third chunk, after the tracking triggers were dropped for the rest of the merge (512 rows).
        { name: 'CHECK, new rows, after tracking was suspended', rows: 900, bad: 700 },
        // Fewer rows than a multi-row statement: one statement per row.
        { name: 'CHECK, a small merge', rows: 10, bad: 7 },
      ];
      for (const c of cases) {
        it(`rolls back whole: ${c.name}`, () => {
          const here = engine(ddl);
          here.db.exec(`INSERT INTO t (id, v, w) VALUES (${typeof key(0) === 'string' ? `'${key(-1)}'` : '-1'}, 5, 'mine')`);
          here.seal();
          const before = snapshot(here.db);
          const changes = peerChanges(range(0, c.rows), key, c.bad, c.nullW);
          assert.throws(() => here.applyChanges(changes, { source: 'peer' }), c.nullW ? /NOT NULL constraint failed/ : /CHECK constraint failed/);
          assert.deepEqual(snapshot(here.db), before);
          // Still tracked: an app write afterwards is logged and sealed.
          here.db.exec(`UPDATE t SET v = 6`);
          assert.equal(here.seal(), here.currentDbVersion());
          assert.equal([...here.changesSince(0)].filter((ch) => ch.cid === 'v' && ch.val === 6n).length, 1);
          here.db.close();
        });
      }

      it('rolls back whole: CHECK, updates of rows it has', () => {
        const here = engine(ddl);
        const peer = engine(LOOSE.replace('INTEGER PRIMARY KEY NOT NULL', typeof key(0) === 'string' ? 'TEXT PRIMARY KEY NOT NULL' : 'INTEGER PRIMARY KEY NOT NULL'));
        here.applyChanges(peerChanges(range(0, 300), key, -1, false, peer));
        const before = snapshot(here.db);
        // The peer updates every row again, one of them to a value this database refuses.
        const changes = peerChanges(range(0, 300), (i) => key(i), 200, false, peer);
        assert.throws(() => here.applyChanges(changes), /CHECK constraint failed/);
        assert.deepEqual(snapshot(here.db), before);
        here.db.close();
      });

      it('rolls back whole inside a caller’s transaction, which goes on and commits its own write', () => {
        const here = engine(ddl);
        const changes = peerChanges(range(0, 200), key, 130);
        const mine = typeof key(0) === 'string' ? `'${key(-1)}'` : '-1';
        transaction(here.db, () => {
          here.db.exec(`INSERT INTO t (id, v, w) VALUES (${mine}, 5, 'mine')`);
          assert.throws(() => here.applyChanges(changes), /CHECK constraint failed/);
        });
        assert.deepEqual(here.db.prepare('SELECT v, w FROM t').all().map((r) => ({ ...(r as object) })), [{ v: 5, w: 'mine' }]);
        here.seal();
        assert.deepEqual([...here.changesSince(0)].map((ch) => ch.cid).sort(), ['v', 'w']);
        here.db.close();
      });

      it('rolls back whole under a write guard (one savepoint per source transaction)', () => {
        const here = engine(ddl);
        const before = snapshot(here.db);
        const changes = peerChanges(range(0, 200), key, 130);
        assert.throws(() => here.applyChanges(changes, { write: { rules: [{ table: 't' }] } }), /CHECK constraint failed/);
        assert.deepEqual(snapshot(here.db), before);
        here.db.close();
      });
    });
  }
});

/** A connection noting the SQL of every statement run through it. */
function recording(db: SqliteConnection): { db: SqliteConnection; ran: Set<string> } {
  const ran = new Set<string>();
  const wrap = (sql: string, s: Statement): Statement =>
    new Proxy(s, {
      get(target, prop) {
        const v = Reflect.get(target, prop) as unknown;
        if (typeof v !== 'function') return v;
        if (prop === 'run' || prop === 'get' || prop === 'all' || prop === 'iterate') return (...a: unknown[]) => (ran.add(sql.replace(/\s+/g, ' ').trim()), (v as (...x: unknown[]) => unknown).apply(target, a));
        return (v as (...x: unknown[]) => unknown).bind(target);
      },
    });
  return {
    ran,
    db: {
      exec: (sql) => db.exec(sql),
      prepare: (sql) => wrap(sql, db.prepare(sql)),
      function: (name, options, fn) => db.function(name, options, fn),
      close: () => db.close(),
      get isTransaction() {
        return db.isTransaction;
      },
    },
  };
}

describe("the merge's writes", () => {
  it('insert into the table and its bookkeeping with OR FAIL (no statement journal)', () => {
    for (const ddl of [STRICT, STRICT_TEXT_KEY]) {
      const rec = recording(openDatabase(':memory:'));
      const here = Engine.open(rec.db);
      here.db.exec(ddl);
      here.asCrr('t');
      const key = ddl === STRICT ? intKey : textKey;
      const peer = engine(LOOSE.replace('INTEGER PRIMARY KEY NOT NULL', ddl === STRICT ? 'INTEGER PRIMARY KEY NOT NULL' : 'TEXT PRIMARY KEY NOT NULL'));
      // New rows (whole 64-row statements and single rows), then updates of some, then a delete and
      // a row given only some columns: the table upserts, key-map inserts and upserts, sentinels,
      // overrides and the rows merely ensured.
      here.applyChanges(peerChanges(range(0, 130), key, -1, false, peer));
      here.applyChanges(peerChanges(range(0, 70), key, -1, false, peer));
      const since = peer.currentDbVersion();
      peer.db.exec(`DELETE FROM t WHERE id = ${ddl === STRICT ? 3 : `'${key(3)}'`}`);
      peer.db.exec(`UPDATE t SET w = 'x' WHERE id = ${ddl === STRICT ? 4 : `'${key(4)}'`}`);
      here.applyChanges(peer.changesSince(since));
      const other = engine(LOOSE.replace('INTEGER PRIMARY KEY NOT NULL', ddl === STRICT ? 'INTEGER PRIMARY KEY NOT NULL' : 'TEXT PRIMARY KEY NOT NULL'));
      other.db.exec(`INSERT INTO t (id, v) VALUES (${ddl === STRICT ? 3 : `'${key(3)}'`}, 1)`);
      here.applyChanges(other.changesSince(0));
      const inserts = [...rec.ran].filter((s) => /^INSERT\b/i.test(s));
      for (const name of ['"t"', '"t__ddcp_pks"', '"t__ddcp_cells"', '"t__ddcp_sentinels"']) {
        assert.ok(inserts.some((s) => s.includes(`INTO ${name} `)), `the merges inserted into ${name}`);
      }
      const merges = inserts.filter((s) => / INTO "t(__ddcp_(pks|cells|sentinels))?" /.test(s));
      assert.ok(merges.length > 0);
      for (const s of merges) assert.match(s, /^INSERT OR FAIL INTO /, s);
      here.db.close();
    }
  });
});
