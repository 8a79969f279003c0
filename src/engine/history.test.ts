/**
 * The history of db_versions: each local commit and each merge is recorded (kind, source label,
 * counts per table) in the transaction that stamps it; databases from before keep working.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from './engine.ts';
import { ChangeError } from './errors.ts';
import { unpackColumns } from './pack.ts';
import { openDatabase } from './sqlite.ts';

const SCHEMA = `
CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT, stars INTEGER DEFAULT 0);
CREATE TABLE tags (name TEXT PRIMARY KEY NOT NULL, color TEXT);`;

function open(path = ':memory:'): Engine {
  const e = Engine.open(openDatabase(path));
  e.db.exec(SCHEMA);
  e.asCrr('notes');
  e.asCrr('tags');
  return e;
}

/** The history without times (they depend on the clock). */
const kinds = (e: Engine, options = {}) => e.history(options).map(({ at: _at, ...rest }) => rest);

describe('history of local commits', () => {
  it('records each sealed version as a commit with rows inserted/updated/deleted and cells set, newest first', () => {
    const e = open();
    e.db.exec(`INSERT INTO notes VALUES ('a', 'one', 1), ('b', 'two', 2)`); // fresh inserts: the plain-SQL path
    e.seal();
    e.db.exec(`UPDATE notes SET body = 'uno' WHERE id = 'a'; DELETE FROM notes WHERE id = 'b'; INSERT INTO tags VALUES ('red', '#f00')`);
    e.db.exec(`INSERT INTO notes VALUES ('c', 'three', 3)`);
    e.seal();
    e.db.exec(`UPDATE notes SET id = 'z' WHERE id = 'c'`); // a key change: delete + insert
    const v = e.dbVersion();
    assert.deepEqual(kinds(e), [
      { dbVersion: v, kind: 'commit', tables: { notes: { inserted: 1, updated: 0, deleted: 1, cells: 2 } } },
      {
        dbVersion: v - 1,
        kind: 'commit',
        tables: { notes: { inserted: 1, updated: 1, deleted: 1, cells: 3 }, tags: { inserted: 1, updated: 0, deleted: 0, cells: 1 } },
      },
      { dbVersion: v - 2, kind: 'commit', tables: { notes: { inserted: 2, updated: 0, deleted: 0, cells: 4 } } },
    ]);
    assert.ok(e.history().every((h) => typeof h.at === 'number' && h.at > 0));
  });

  it('limit counts entries; table keeps the entries that touched it', () => {
    const e = open();
    e.db.exec(`INSERT INTO notes VALUES ('a', 'one', 1)`);
    e.seal();
    e.db.exec(`INSERT INTO tags VALUES ('red', '#f00')`);
    e.seal();
    e.db.exec(`UPDATE tags SET color = 'red' WHERE name = 'red'`);
    const v = e.dbVersion();
    assert.deepEqual(e.history({ limit: 2 }).map((h) => h.dbVersion), [v, v - 1]);
    assert.deepEqual(e.history({ table: 'notes' }).map((h) => h.dbVersion), [v - 2]);
    assert.deepEqual(e.history({ table: 'tags', limit: 1 }).map((h) => h.dbVersion), [v]);
    assert.throws(() => e.history({ table: 'nope' }), /table nope is not a CRR/);
  });

  it('versionChanges lists the cells a version wrote that still hold its value', () => {
    const e = open();
    e.db.exec(`INSERT INTO notes VALUES ('a', 'one', 1)`);
    const v1 = e.dbVersion();
    e.db.exec(`UPDATE notes SET body = 'uno' WHERE id = 'a'`);
    const v2 = e.dbVersion();
    assert.deepEqual(e.versionChanges(v1).map((c) => [c.cid, c.val]), [['stars', 1n]], 'the body it wrote was overwritten by v2');
    assert.deepEqual(e.versionChanges(v2).map((c) => [unpackColumns(c.pk)[0], c.cid, c.val]), [['a', 'body', 'uno']]);
    assert.deepEqual(e.versionChanges(v2, { table: 'tags' }), []);
  });
});

describe('history of merges', () => {
  it('records a merge with the caller\'s source label and counts received/applied per table', () => {
    const a = open();
    const b = open();
    a.db.exec(`INSERT INTO notes VALUES ('a', 'one', 1); INSERT INTO tags VALUES ('red', '#f00')`);
    const changes = [...a.changesSince(0)];
    const r = b.applyChanges(changes, { source: 'alice' });
    assert.equal(r.applied, 3);
    const [top] = kinds(b);
    assert.deepEqual(top, {
      dbVersion: r.dbVersion,
      kind: 'merge',
      source: 'alice',
      received: 3,
      applied: 3,
      conflicts: 0,
      tables: { notes: { received: 2, applied: 2 }, tags: { received: 1, applied: 1 } },
    });
    // the same changes again change nothing: no new version, no new entry
    const again = b.applyChanges(changes, { source: 'alice' });
    assert.equal(again.applied, 0);
    assert.equal(b.history()[0]!.dbVersion, r.dbVersion);
    // without a label the merge is still recorded
    a.db.exec(`UPDATE notes SET stars = 5`);
    const r2 = b.applyChanges(a.changesSince(a.dbVersion() - 1));
    const top2 = b.history()[0]!;
    assert.equal(top2.kind, 'merge');
    assert.equal(top2.dbVersion, r2.dbVersion);
    assert.equal(top2.kind === 'merge' && top2.source, undefined);
  });

  it('a merge that fails leaves no entry (the history is written in the merge\'s transaction)', () => {
    const a = open();
    const b = open();
    a.db.exec(`INSERT INTO notes VALUES ('a', 'one', 1)`);
    const good = [...a.changesSince(0)];
    const before = b.history();
    assert.throws(() => b.applyChanges([...good, { ...good[0]!, table: 'missing' }], { source: 'alice' }), ChangeError);
    assert.deepEqual(b.history(), before);
  });
});

describe('databases made before history was kept', () => {
  it('gain the history columns on open; old versions are listed as unrecorded with their time', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ddcp-history-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'old.db');
    const old = open(path);
    old.db.exec(`INSERT INTO notes VALUES ('a', 'one', 1)`);
    const v1 = old.dbVersion();
    old.db.exec(`INSERT INTO tags VALUES ('red', '#f00')`);
    const v2 = old.dbVersion();
    // turn it into what an older ddcp left: ddcp_versions with only (db_version, at)
    old.db.exec(`CREATE TABLE v_old AS SELECT db_version, at FROM ddcp_versions; DROP TABLE ddcp_versions;
      CREATE TABLE ddcp_versions (db_version INTEGER PRIMARY KEY, at INTEGER NOT NULL); INSERT INTO ddcp_versions SELECT * FROM v_old; DROP TABLE v_old`);
    old.db.close();

    const e = Engine.open(openDatabase(path));
    e.db.exec(`UPDATE notes SET body = 'uno'`);
    const v3 = e.dbVersion();
    const h = e.history();
    assert.deepEqual(h.map((x) => [x.dbVersion, x.kind]), [[v3, 'commit'], [v2, 'unrecorded'], [v1, 'unrecorded']]);
    assert.ok(h.every((x) => x.at > 0), 'old versions keep their time');
    // with a table: unrecorded versions are listed if cells of the table still carry them
    assert.deepEqual(e.history({ table: 'tags' }).map((x) => x.dbVersion), [v2]);
    e.db.close();
  });
});
