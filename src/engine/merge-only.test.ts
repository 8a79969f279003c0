/**
 * A merge-only engine (EngineOptions.mergeOnly: a database nothing but merges writes, as a hub's
 * hosted one) keeps its CRRs without tracking triggers: merges fire none and leave no log. What was
 * logged before is sealed when it takes them off; writes to the CRRs through its connection are
 * refused (nothing would track them); a normal engine opened on the database later puts the triggers
 * back. Merges give exactly what a tracked engine's give.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Change } from './change.ts';
import { Engine } from './engine.ts';
import { openDatabase, type SqliteConnection } from './sqlite.ts';

const SCHEMA = 'CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT)';

function tempFile(): { path: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ddcp-merge-only-'));
  return { path: join(dir, 'db.sqlite'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A replica's changes: `n` rows written there, `tag` in their ids and values. */
function peer(n: number, tag: string): { site: Uint8Array; changes: Change[] } {
  const e = Engine.open(openDatabase(':memory:'));
  e.db.exec(SCHEMA);
  e.asCrr('notes');
  for (let i = 0; i < n; i++) e.db.prepare('INSERT INTO notes VALUES (?, ?)').run(`${tag}${i}`, `by ${tag} ${i}`);
  const changes = [...e.changesSince(0)];
  return { site: e.siteId, changes };
}

const triggers = (db: SqliteConnection): string[] =>
  (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'notes' AND name NOT LIKE '%clock%' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
const marked = (db: SqliteConnection): boolean => db.prepare(`SELECT 1 FROM ddcp_state WHERE key = 'merge_only'`).get() !== undefined;
const logRows = (db: SqliteConnection): number => Number((db.prepare('SELECT count(*) AS n FROM notes__ddcp_log').get() as { n: number }).n);
/** The B-trees whose pages the WAL holds (after a TRUNCATE checkpoint: what the commits since wrote). */
function walTrees(db: SqliteConnection, path: string): Set<string> {
  const wal = readFileSync(`${path}-wal`);
  const pageSize = wal.readUInt32BE(8);
  const names = new Map((db.prepare('SELECT name, pageno FROM dbstat').all() as { name: string; pageno: number }[]).map((r) => [Number(r.pageno), r.name]));
  const out = new Set<string>();
  for (let off = 32; off + 24 <= wal.length; off += 24 + pageSize) out.add(names.get(wal.readUInt32BE(off)) ?? '?');
  return out;
}

const plain = (cs: Iterable<Change>): unknown[] => [...cs].map((c) => ({ ...c, pk: [...c.pk], siteId: [...c.siteId], val: c.val instanceof Uint8Array ? [...c.val] : c.val }));

describe('a merge-only engine', () => {
  it('seals what was logged, then keeps the CRRs without triggers; merges give what a tracked engine gives, and log nothing', () => {
    const f = tempFile();
    try {
      const first = Engine.open(openDatabase(f.path));
      first.db.exec(SCHEMA);
      first.asCrr('notes');
      first.db.exec(`INSERT INTO notes VALUES ('local', 'written before')`); // logged, not sealed
      assert.equal(logRows(first.db), 1);
      first.db.close();

      const e = Engine.open(openDatabase(f.path), { mergeOnly: true });
      assert.equal(e.mergeOnly, true);
      assert.deepEqual(triggers(e.db), []);
      assert.ok(marked(e.db));
      assert.equal(logRows(e.db), 0, 'the pending write was sealed');
      const local = [...e.changesSince(0)];
      assert.ok(local.some((c) => c.cid === 'body' && c.val === 'written before' && Buffer.from(c.siteId).equals(Buffer.from(e.siteId))), 'as a local change');

      // The same merges into a tracked engine holding the same local write.
      const t = Engine.open(openDatabase(':memory:'));
      t.db.exec(SCHEMA);
      t.asCrr('notes');
      t.applyChanges(local);
      const a = peer(3, 'a');
      const big = peer(600, 'b'); // past the rows a tracked merge suspends its triggers for
      const over = peer(2, 'a'); // the same keys as a's first rows, later values
      for (const p of [a, big, over]) {
        const opts = { source: 'p', trackPeer: { siteId: p.site, version: 1 }, direct: p.site };
        const r1 = e.applyChanges(p.changes, opts);
        const r2 = t.applyChanges(p.changes, opts);
        assert.equal(r1.applied, r2.applied);
        assert.equal(r1.conflicts, r2.conflicts);
        assert.equal(logRows(e.db), 0, 'nothing logged');
        assert.deepEqual(triggers(e.db), [], 'no trigger made again (a large merge suspends none)');
      }
      // A merge's commit writes no page of the log (emptying even an empty table writes its root page).
      const z = peer(1, 'z');
      e.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      e.applyChanges(z.changes);
      const written = walTrees(e.db, f.path);
      assert.ok(written.has('notes'), 'the WAL holds the merge');
      assert.ok(!written.has('notes__ddcp_log'), `the log's page was written: ${[...written].join(', ')}`);
      t.applyChanges(z.changes);
      const rows = (x: Engine): unknown[] => x.db.prepare('SELECT id, body FROM notes ORDER BY id').all();
      assert.deepEqual(rows(e), rows(t));
      // Every change but the local row's site (each engine's own) is the same.
      const mine = (x: Engine) => plain([...x.changesSince(1)].filter((c) => c.pk.join() !== local[0]!.pk.join()));
      assert.deepEqual(mine(e), mine(t));
      e.db.close();
    } finally {
      f.done();
    }
  });

  it('refuses writes to its CRRs through its connection, but not schema changes or other tables', () => {
    const e = Engine.open(openDatabase(':memory:'), { mergeOnly: true });
    e.db.exec(SCHEMA);
    e.asCrr('notes');
    e.applyChanges(peer(1, 'a').changes);
    assert.throws(() => e.db.exec(`INSERT INTO notes VALUES ('x', 'y')`), /not authorized/);
    assert.throws(() => e.db.prepare(`UPDATE NOTES SET body = 'z'`), /not authorized/);
    assert.throws(() => e.db.exec(`DELETE FROM main.notes`), /not authorized/);
    assert.equal(Number((e.db.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n), 1);
    // Other tables are the app's: written freely (nothing syncs them).
    e.db.exec('CREATE TABLE scratch (x)');
    e.db.exec('INSERT INTO scratch VALUES (1)');
    // A table made a CRR with rows in it: its rows are logged by the backfill and sealed, no triggers.
    e.db.exec(`INSERT INTO scratch VALUES (2)`);
    e.db.exec('CREATE TABLE tags (k TEXT PRIMARY KEY NOT NULL, v TEXT)');
    e.db.exec(`INSERT INTO tags VALUES ('t', 'before')`);
    e.asCrr('tags');
    assert.ok([...e.changesSince(0)].some((c) => c.table === 'tags' && c.val === 'before'));
    assert.throws(() => e.db.exec(`INSERT INTO tags VALUES ('u', 'after')`), /not authorized/);
    // A column added between beginAlter and commitAlter: tracked again without triggers.
    e.beginAlter('notes');
    e.db.exec('ALTER TABLE notes ADD COLUMN extra');
    e.commitAlter('notes');
    assert.deepEqual(triggers(e.db), []);
    const c = { ...peer(1, 'c').changes.find((x) => x.cid === 'body')!, cid: 'extra', val: 'more' };
    assert.equal(e.applyChanges([c]).applied, 1, 'a change of the new column merges');
    assert.deepEqual(e.notices, []);
  });

  it('gets its triggers back when a normal engine opens it (local writes tracked), and loses them again merge-only', () => {
    const f = tempFile();
    try {
      const m = Engine.open(openDatabase(f.path), { mergeOnly: true });
      m.db.exec(SCHEMA);
      m.asCrr('notes');
      m.applyChanges(peer(2, 'a').changes);
      const before = m.currentDbVersion();
      m.db.close();

      const n = Engine.open(openDatabase(f.path));
      assert.equal(n.mergeOnly, false);
      assert.equal(triggers(n.db).length, 4);
      assert.ok(!marked(n.db));
      assert.deepEqual(n.notices, [], 'no drift reported');
      n.db.exec(`INSERT INTO notes VALUES ('n', 'local')`);
      assert.equal(n.dbVersion(), before + 1, 'the local write is tracked');
      n.db.exec(`UPDATE notes SET body = 'pending' WHERE id = 'n'`); // logged, not sealed
      n.db.close();

      const again = Engine.open(openDatabase(f.path), { mergeOnly: true });
      assert.deepEqual(triggers(again.db), []);
      assert.equal(again.currentDbVersion(), before + 2, 'the pending write was sealed first');
      assert.ok([...again.changesSince(before + 1)].some((c) => c.val === 'pending'));
      again.db.close();
    } finally {
      f.done();
    }
  });

  it('stays merge-only when read by another merge-only connection; a normal engine meanwhile is undone before the next merge', () => {
    const f = tempFile();
    try {
      const w = Engine.open(openDatabase(f.path), { mergeOnly: true });
      w.db.exec(SCHEMA);
      w.asCrr('notes');
      const reader = Engine.open(openDatabase(f.path), { mergeOnly: true });
      assert.equal([...reader.changesSince(0, { unsealed: true })].length, 0);
      assert.deepEqual(triggers(w.db), []);
      // Someone opens it normally (triggers back) and writes; the writer's next merge seals that
      // write and takes the triggers off before merging.
      const other = Engine.open(openDatabase(f.path));
      assert.equal(triggers(other.db).length, 4);
      other.db.exec(`INSERT INTO notes VALUES ('o', 'other')`);
      other.db.close();
      const r = w.applyChanges(peer(1, 'a').changes);
      assert.deepEqual(triggers(w.db), []);
      assert.equal(logRows(w.db), 0);
      assert.ok([...w.changesSince(0, { unsealed: true })].some((c) => c.val === 'other'), "the other connection's write is a change");
      assert.equal(r.dbVersion, w.currentDbVersion());
      reader.db.close();
      w.db.close();
    } finally {
      f.done();
    }
  });

  it('tracks as usual on a connection that cannot refuse writes (no setAuthorizer)', () => {
    const db = openDatabase(':memory:');
    const bare: SqliteConnection = {
      exec: (sql) => db.exec(sql),
      prepare: (sql) => db.prepare(sql),
      function: (name, options, fn) => db.function(name, options, fn),
      close: () => db.close(),
      get isTransaction() {
        return db.isTransaction;
      },
    };
    const e = Engine.open(bare, { mergeOnly: true });
    assert.equal(e.mergeOnly, false);
    e.db.exec(SCHEMA);
    e.asCrr('notes');
    assert.equal(triggers(db).length, 4);
    e.db.exec(`INSERT INTO notes VALUES ('x', 'y')`);
    assert.equal(e.dbVersion(), 1);
  });
});
