/**
 * The fixed statements of a small merge (a hub's group commit, a peer's live push): the db_version
 * counter is read once per merge (with the refresh's statement), not again by the seal, the merge
 * and its result; transaction control goes through prepared statements (no `exec` parsing). The
 * versions a merge answers must stay exact: after a seal of pending local writes, for a merge that
 * applies nothing, with a write guard refusing everything, nested in a caller's transaction; and the
 * one savepoint name every nesting level shares must undo exactly the level that failed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Change } from './change.ts';
import { Engine } from './engine.ts';
import { openDatabase, type SqliteConnection, type Statement } from './sqlite.ts';
import { transaction } from './transaction.ts';

const SCHEMA = 'CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT)';

/** A connection that counts what runs: statement texts run (any method) and `exec` calls. */
function counting(db: SqliteConnection): { db: SqliteConnection; ran: string[]; execs: string[]; on: { v: boolean } } {
  const ran: string[] = [];
  const execs: string[] = [];
  const on = { v: false };
  const wrap = (sql: string, s: Statement): Statement => {
    const note = (): void => void (on.v && ran.push(sql.replace(/\s+/g, ' ')));
    return new Proxy(s, {
      get(target, prop) {
        const v = Reflect.get(target, prop) as unknown;
        if (typeof v !== 'function') return v;
        if (prop === 'run' || prop === 'get' || prop === 'all' || prop === 'iterate') return (...a: unknown[]) => (note(), (v as (...x: unknown[]) => unknown).apply(target, a));
        return (v as (...x: unknown[]) => unknown).bind(target);
      },
    });
  };
  const wrapped: SqliteConnection = {
    exec: (sql) => {
      if (on.v) execs.push(sql);
      db.exec(sql);
    },
    prepare: (sql) => wrap(sql, db.prepare(sql)),
    function: (name, options, fn) => db.function(name, options, fn),
    close: () => db.close(),
    get isTransaction() {
      return db.isTransaction;
    },
  };
  return { db: wrapped, ran, execs, on };
}

function open(db: SqliteConnection = openDatabase(':memory:')): Engine {
  const e = Engine.open(db);
  e.db.exec(SCHEMA);
  e.asCrr('notes');
  return e;
}

/** One peer's changes: `n` rows written there (`tag` in their ids and values). */
function peerChanges(n: number, tag: string): { site: Uint8Array; changes: Change[] } {
  const e = open();
  for (let i = 0; i < n; i++) e.db.prepare('INSERT INTO notes VALUES (?, ?)').run(`${tag}${i}`, `by ${tag}`);
  return { site: e.siteId, changes: [...e.changesSince(0)] };
}

const OPEN_VERSION_READ = "SELECT value FROM ddcp_state WHERE key = 'open_version'";

describe('a small merge', () => {
  it('reads the db_version counter once (with the refresh) and runs no exec', () => {
    const c = counting(openDatabase(':memory:'));
    const e = open(c.db);
    const { site, changes } = peerChanges(1, 'a');
    c.on.v = true;
    const r = e.applyChanges(changes, { source: 'peer', trackPeer: { siteId: site, version: 1 }, direct: site });
    c.on.v = false;
    assert.equal(r.applied, changes.length);
    // Before: the seal, the seal's answer, the merge and its result each read it (4 reads), and
    // BEGIN IMMEDIATE / COMMIT went through exec.
    assert.deepEqual(c.ran.filter((s) => s === OPEN_VERSION_READ), []);
    assert.equal(c.ran.filter((s) => s.includes("key = 'open_version'") && s.startsWith('SELECT')).length, 1);
    assert.deepEqual(c.execs, []);
    assert.deepEqual(c.ran.filter((s) => /^(BEGIN|COMMIT)/.test(s)), ['BEGIN IMMEDIATE', 'COMMIT']);
  });

  it('answers the exact db_version: after a seal, for nothing applied, all refused, nested', () => {
    const e = open();
    const a = peerChanges(2, 'a');
    const b = peerChanges(1, 'b');
    const check = (r: { dbVersion: number }): void => assert.equal(r.dbVersion, e.currentDbVersion());
    // Pending local writes: the merge seals them first (a version of their own), then stamps its own.
    e.db.exec(`INSERT INTO notes VALUES ('local', 'here')`);
    const v0 = e.currentDbVersion();
    const r1 = e.applyChanges(a.changes, { trackPeer: { siteId: a.site, version: 1 } });
    check(r1);
    assert.equal(r1.dbVersion, v0 + 2);
    // Nothing new: no version stamped.
    const r2 = e.applyChanges(a.changes);
    check(r2);
    assert.equal(r2.applied, 0);
    assert.equal(r2.dbVersion, r1.dbVersion);
    // A guard refusing everything: nothing applied, no version.
    const r3 = e.applyChanges(b.changes, { write: { rules: [{ table: 'notes', where: '0' }] } });
    check(r3);
    assert.equal(r3.refused.length, 1);
    assert.equal(r3.dbVersion, r1.dbVersion);
    // Inside a caller's transaction (a hub's group commit), after a merge undone in its savepoint.
    transaction(e.db, () => {
      assert.throws(() => e.applyChanges([{ ...b.changes[0]!, table: 'nope' }]));
      e.db.exec(`INSERT INTO notes VALUES ('local2', 'here')`);
      const r4 = e.applyChanges(b.changes);
      check(r4);
      assert.equal(r4.dbVersion, r1.dbVersion + 2); // the seal's, then the merge's
    });
    check({ dbVersion: e.currentDbVersion() });
    assert.equal((e.db.prepare(`SELECT count(*) AS n FROM notes`).get() as { n: number }).n, 5);
  });

  it('merges straight in the caller\'s transaction with inCallerTransaction: no savepoint, the same result', () => {
    const c = counting(openDatabase(':memory:'));
    const e = open(c.db);
    const plain = open();
    const a = peerChanges(3, 'a');
    const b = peerChanges(2, 'b');
    const opts = (p: { site: Uint8Array }) => ({ source: 'peer', trackPeer: { siteId: p.site, version: 1 }, direct: p.site });
    c.on.v = true;
    e.db.prepare('BEGIN IMMEDIATE').run();
    const r = [a, b].map((p) => e.applyChanges(p.changes, { ...opts(p), inCallerTransaction: true }));
    e.db.prepare('COMMIT').run();
    c.on.v = false;
    assert.deepEqual(c.ran.filter((s) => /SAVEPOINT|RELEASE/.test(s)), [], 'no savepoint');
    const expected = [a, b].map((p) => plain.applyChanges(p.changes, opts(p)));
    assert.deepEqual(r, expected);
    assert.deepEqual([...e.changesSince(0)].map((x) => ({ ...x, siteId: [...x.siteId] })), [...plain.changesSince(0)].map((x) => ({ ...x, siteId: [...x.siteId] })));
    assert.deepEqual(e.trackedPeers(), plain.trackedPeers());
    assert.deepEqual(e.directVersions(0, 10), plain.directVersions(0, 10));
    // Without a transaction open, the option changes nothing: the merge is its own transaction.
    const d = peerChanges(1, 'd');
    assert.throws(() => e.applyChanges([...d.changes, { ...d.changes[0]!, table: 'nope' }], { inCallerTransaction: true }));
    assert.equal(e.db.isTransaction, false);
    assert.equal((e.db.prepare(`SELECT count(*) AS n FROM notes WHERE id = 'd0'`).get() as { n: number }).n, 0);
  });

  it('leaves a failed merge to the caller\'s rollback with inCallerTransaction, and is right after it', () => {
    const e = open();
    const a = peerChanges(1, 'a');
    // More rows than a chunk: the first ones are written before the last change fails.
    const big = peerChanges(300, 'b');
    const bad = [...big.changes.slice(0, -1), { ...big.changes.at(-1)!, cid: 'nope' }];
    const count = (): number => Number((e.db.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n);
    const v0 = e.currentDbVersion();
    e.db.prepare('BEGIN IMMEDIATE').run();
    e.applyChanges(a.changes, { inCallerTransaction: true, trackPeer: { siteId: a.site, version: 1 } });
    assert.throws(() => e.applyChanges(bad, { inCallerTransaction: true, trackPeer: { siteId: big.site, version: 1 } }), /no column nope/);
    assert.ok(count() > 1, 'its first rows are still there until the caller rolls back');
    e.db.prepare('ROLLBACK').run();
    assert.equal(count(), 0);
    assert.equal(e.currentDbVersion(), v0);
    assert.deepEqual(e.trackedPeers(), []);
    // The engine's caches (site ordinals added in the undone transaction) follow the rollback.
    const r = e.applyChanges(big.changes, { trackPeer: { siteId: big.site, version: 1 }, direct: big.site });
    assert.equal(r.applied, big.changes.length);
    assert.equal(count(), 300);
    assert.deepEqual([...e.directVersions(0, 10).values()].map((s) => [...s]), [[...big.site]]);
    const read = [...e.changesSince(0)];
    assert.ok(read.every((x) => [...x.siteId].join() === [...big.site].join()), 'every change under its own site');
  });
});

describe('transaction', () => {
  it('undoes exactly the level that failed, at any depth (one savepoint name for all)', () => {
    const db = openDatabase(':memory:');
    db.exec('CREATE TABLE t (x INTEGER)');
    const ins = db.prepare('INSERT INTO t VALUES (?)');
    const rows = (): number[] => (db.prepare('SELECT x FROM t ORDER BY x').all() as { x: number }[]).map((r) => Number(r.x));
    transaction(db, () => {
      ins.run(1);
      transaction(db, () => {
        ins.run(2);
        assert.throws(() =>
          transaction(db, () => {
            ins.run(3);
            transaction(db, () => ins.run(4));
            throw new Error('undo 3 and 4');
          }),
        );
        ins.run(5);
      });
      assert.throws(() =>
        transaction(db, () => {
          ins.run(6);
          throw new Error('undo 6');
        }),
      );
      ins.run(7);
    });
    assert.equal(db.isTransaction, false);
    assert.deepEqual(rows(), [1, 2, 5, 7]);
    assert.throws(() =>
      transaction(db, () => {
        ins.run(8);
        throw new Error('undo all');
      }),
    );
    assert.equal(db.isTransaction, false);
    assert.deepEqual(rows(), [1, 2, 5, 7]);
  });
});
