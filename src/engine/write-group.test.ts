/**
 * A write group (Engine.writeGroup, a hub's group commit) and a merge-only engine's merges: the
 * group refreshes once and its straight merges carry the open version in memory (no refresh, no read
 * of the counter each); a merge-only merge runs no seal (no trigger ever logs anything). The results
 * must be exactly a tracked engine's merging one by one — also with a merge in a savepoint between,
 * after a rollback, and when another program put the triggers back and wrote meanwhile.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Change } from './change.ts';
import { Engine } from './engine.ts';
import { openDatabase, type SqliteConnection } from './sqlite.ts';

const SCHEMA = 'CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT)';

/** A connection noting the text of every statement run through it (while `on.v`). */
function counting(db: SqliteConnection): { db: SqliteConnection; ran: string[]; on: { v: boolean } } {
  const ran: string[] = [];
  const on = { v: false };
  const wrapped: SqliteConnection = {
    exec: (sql) => {
      if (on.v) ran.push(sql);
      db.exec(sql);
    },
    prepare: (sql) => {
      const s = db.prepare(sql);
      return new Proxy(s, {
        get(target, prop) {
          const v = Reflect.get(target, prop) as unknown;
          if (typeof v !== 'function') return v;
          if (prop === 'run' || prop === 'get' || prop === 'all' || prop === 'iterate') return (...a: unknown[]) => (on.v && ran.push(sql.replace(/\s+/g, ' ')), (v as (...x: unknown[]) => unknown).apply(target, a));
          return (v as (...x: unknown[]) => unknown).bind(target);
        },
      });
    },
    function: (name, options, fn) => db.function(name, options, fn),
    setAuthorizer: (cb) => db.setAuthorizer!(cb),
    close: () => db.close(),
    get isTransaction() {
      return db.isTransaction;
    },
  };
  return { db: wrapped, ran, on };
}

function open(db: SqliteConnection = openDatabase(':memory:'), mergeOnly = false): Engine {
  const e = Engine.open(db, { mergeOnly });
  e.db.exec(SCHEMA);
  e.asCrr('notes');
  return e;
}

function peerChanges(n: number, tag: string): { site: Uint8Array; changes: Change[] } {
  const e = open();
  for (let i = 0; i < n; i++) e.db.prepare('INSERT INTO notes VALUES (?, ?)').run(`${tag}${i}`, `by ${tag}`);
  return { site: e.siteId, changes: [...e.changesSince(0)] };
}

const plain = (cs: Iterable<Change>): unknown[] => [...cs].map((c) => ({ ...c, pk: [...c.pk], siteId: [...c.siteId] }));
const opts = (p: { site: Uint8Array }) => ({ source: 'peer', trackPeer: { siteId: p.site, version: 1 }, direct: p.site });
const STAMP = /pragma_schema_version/;
const OPEN_READ = /^SELECT value FROM ddcp_state WHERE key = 'open_version'/;
const LOG = /__ddcp_log/;

describe('a write group', () => {
  it('merge-only: refreshes once, reads neither the counter nor a log per merge; the same result as a tracked engine', () => {
    const c = counting(openDatabase(':memory:'));
    const e = open(c.db, true);
    assert.equal(e.mergeOnly, true);
    const tracked = open();
    const peers = [peerChanges(3, 'a'), peerChanges(1, 'b'), peerChanges(2, 'c')];
    c.on.v = true;
    const r = e.writeGroup(() =>
      peers.map((p) => {
        const before = e.currentDbVersion();
        e.crrs(); // as the gate asks before each merge
        const x = e.applyChanges(p.changes, { ...opts(p), inCallerTransaction: true });
        assert.equal(x.dbVersion, before + 1);
        assert.equal(e.currentDbVersion(), x.dbVersion);
        return x;
      }),
    );
    c.on.v = false;
    assert.equal(c.ran.filter((s) => STAMP.test(s)).length, 1, 'one refresh for the group');
    assert.deepEqual(c.ran.filter((s) => OPEN_READ.test(s) || LOG.test(s)), [], 'no read of the counter or of a log');
    assert.equal(e.db.isTransaction, false, 'committed');
    assert.deepEqual(r, peers.map((p) => tracked.applyChanges(p.changes, opts(p))));
    assert.deepEqual(plain(e.changesSince(0)), plain(tracked.changesSince(0)));
    assert.deepEqual(e.trackedPeers(), tracked.trackedPeers());
    assert.deepEqual(e.directVersions(0, 10), tracked.directVersions(0, 10));
    assert.deepEqual(e.history().map(({ at: _, ...h }) => h), tracked.history().map(({ at: _, ...h }) => h));
  });

  it('merge-only outside a group: a merge runs no seal, the same result', () => {
    const c = counting(openDatabase(':memory:'));
    const e = open(c.db, true);
    const tracked = open();
    const p = peerChanges(2, 'a');
    c.on.v = true;
    const r = e.applyChanges(p.changes, opts(p));
    c.on.v = false;
    assert.deepEqual(c.ran.filter((s) => LOG.test(s)), []);
    assert.deepEqual(r, tracked.applyChanges(p.changes, opts(p)));
    assert.deepEqual(plain(e.changesSince(0)), plain(tracked.changesSince(0)));
  });

  for (const mergeOnly of [true, false]) {
    it(`${mergeOnly ? 'merge-only' : 'tracked'}: a merge in a savepoint between straight ones, an empty merge, a rollback — versions stay exact`, () => {
      const e = open(openDatabase(':memory:'), mergeOnly);
      const ref = open();
      const [a, b, c, d] = [peerChanges(2, 'a'), peerChanges(1, 'b'), peerChanges(1, 'c'), peerChanges(3, 'd')];
      const v0 = e.currentDbVersion();
      e.writeGroup(() => {
        assert.equal(e.applyChanges(a.changes, { inCallerTransaction: true }).dbVersion, v0 + 1);
        assert.equal(e.applyChanges(a.changes, { inCallerTransaction: true }).dbVersion, v0 + 1, 'nothing new: no version');
        // In a savepoint (undone alone if it throws): the group reads the counter again after it.
        assert.throws(() => e.applyChanges([...b.changes, { ...b.changes[0]!, cid: 'nope' }]), /nope/);
        assert.equal(e.applyChanges(b.changes).dbVersion, v0 + 2);
        assert.equal(e.applyChanges(c.changes, { inCallerTransaction: true }).dbVersion, v0 + 3);
        assert.equal(e.currentDbVersion(), v0 + 3);
      });
      for (const p of [a, b, c]) ref.applyChanges(p.changes);
      assert.deepEqual(plain(e.changesSince(0)), plain(ref.changesSince(0)));
      // A group that throws is undone whole; the next one starts from the committed version.
      assert.throws(() =>
        e.writeGroup(() => {
          e.applyChanges(d.changes, { inCallerTransaction: true });
          throw new Error('boom');
        }),
      /boom/);
      assert.equal(e.db.isTransaction, false);
      assert.equal(e.currentDbVersion(), v0 + 3);
      assert.equal(e.writeGroup(() => e.applyChanges(d.changes, { inCallerTransaction: true, direct: d.site })).dbVersion, v0 + 4);
      ref.applyChanges(d.changes);
      assert.deepEqual(plain(e.changesSince(0)), plain(ref.changesSince(0)));
      assert.deepEqual([...e.directVersions(0, 10).keys()], [v0 + 4]);
    });
  }

  it("refuses to start inside the caller's transaction, leaving it open", () => {
    const e = open(openDatabase(':memory:'), true);
    e.db.prepare('BEGIN IMMEDIATE').run();
    e.applyChanges(peerChanges(1, 'a').changes, { inCallerTransaction: true });
    assert.throws(() => e.writeGroup(() => 1), /within a transaction/);
    assert.equal(e.db.isTransaction, true, "the caller's transaction is still open");
    e.db.prepare('COMMIT').run();
    assert.equal((e.db.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n, 1);
  });

  it('merge-only: what another program logged meanwhile (triggers put back) is sealed by the group before its merges', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ddcp-write-group-'));
    try {
      const path = join(dir, 'db.sqlite');
      const w = open(openDatabase(path), true);
      const other = Engine.open(openDatabase(path)); // a normal engine: the triggers come back
      other.db.exec(`INSERT INTO notes VALUES ('o', 'other')`); // logged, not sealed
      other.db.close();
      const a = peerChanges(1, 'a');
      const v0 = w.currentDbVersion();
      const r = w.writeGroup(() => [w.applyChanges(a.changes, { inCallerTransaction: true }), w.applyChanges(peerChanges(1, 'b').changes, { inCallerTransaction: true })]);
      assert.deepEqual(
        r.map((x) => x.dbVersion),
        [v0 + 2, v0 + 3],
        'the other write sealed first, at its own version',
      );
      assert.equal(Number((w.db.prepare('SELECT count(*) AS n FROM notes__ddcp_log').get() as { n: number }).n), 0);
      const byVersion = new Map([...w.changesSince(0)].map((c) => [c.val, c.dbVersion]));
      assert.equal(byVersion.get('other'), v0 + 1);
      w.db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
