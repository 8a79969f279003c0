/**
 * A repository written by the first release of documents (history as `ddcpdoc_history`, 12 columns
 * per change with the state after it) is migrated when opened: the history moves to the changes
 * table (same entries, undos still pointing at what they undid), the old table is gone, every old
 * version reads as before, undo still works, and two replicas that migrated the same history sync
 * with no conflict and end identical.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Engine, openDatabase } from '../engine/index.ts';
import { Documents } from './documents.ts';
import type { HistoryEntry } from './history.ts';
import { CHANGES_TABLE, OLD_HISTORY_TABLE } from './schema.ts';

const OLD_DDL = `CREATE TABLE ${OLD_HISTORY_TABLE} (
  id TEXT PRIMARY KEY NOT NULL, collection TEXT, doc TEXT, seq INTEGER, at INTEGER, site TEXT,
  author TEXT, op TEXT, forward TEXT, reverse TEXT, state TEXT, undoes TEXT);
CREATE INDEX ddcpdoc_history_doc ON ${OLD_HISTORY_TABLE} (collection, doc, seq);`;

/** Turns a repository of this release back into one of the first release: the old history table, written as it wrote it. */
function downgrade(docs: Documents, ids: string[]): void {
  const { engine } = docs;
  engine.db.exec(OLD_DDL);
  engine.asCrr(OLD_HISTORY_TABLE);
  const insert = engine.db.prepare(`INSERT INTO ${OLD_HISTORY_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  for (const doc of ids) {
    const history = docs.history('c', doc);
    const uuid = new Map(history.map((e) => [e.id, randomUUID()]));
    history.forEach((e, i) => {
      const state = docs.get('c', doc, { version: i + 1 })?.content;
      insert.run(uuid.get(e.id)!, 'c', doc, e.seq, e.at, e.site, e.author ?? null, e.op, JSON.stringify(e.forward), JSON.stringify(e.reverse), state ? JSON.stringify(state) : null, e.undoes ? uuid.get(e.undoes)! : null);
    });
  }
  engine.untrack(CHANGES_TABLE);
  engine.db.exec(`DROP TABLE ${CHANGES_TABLE}`);
}

/** A history without ids, undos given as the index of what they undid. */
const shape = (h: HistoryEntry[]): unknown[] => h.map(({ id: _, undoes, ...e }) => ({ ...e, undoes: undoes === undefined ? -1 : h.findIndex((x) => x.id === undoes) }));

describe('documents: migrating the first release’s history', () => {
  it('moves the history to the changes table on open; versions, undo and sync work as before', () => {
    const a = new Documents(Engine.open(openDatabase(':memory:')), { author: 'ann' });
    a.create('c', { title: 't', n: 1, tags: ['x'] }, { id: 'd1' });
    a.update('c', 'd1', [{ op: 'replace', path: '/n', value: 2 }, { op: 'add', path: '/tags/-', value: 'y' }]);
    a.mergePatch('c', 'd1', { meta: { prio: 1 } });
    a.undo('c', 'd1');
    a.create('c', { x: 1 }, { id: 'd2' });
    a.delete('c', 'd2');
    const before = { d1: a.history('c', 'd1'), d2: a.history('c', 'd2') };
    const versions = before.d1.map((_, i) => a.get('c', 'd1', { version: i + 1 }));
    const current = a.get('c', 'd1');
    downgrade(a, ['d1', 'd2']);
    assert.ok(a.engine.crrs().some((t) => t.name === OLD_HISTORY_TABLE) && !a.engine.crrs().some((t) => t.name === CHANGES_TABLE));

    // A second replica of the first release that pulled everything (history rows included).
    const b = Engine.open(openDatabase(':memory:'));
    b.db.exec(`CREATE TABLE ddcpdoc_docs (collection TEXT NOT NULL, id TEXT NOT NULL, deleted INTEGER, PRIMARY KEY (collection, id));
      CREATE TABLE ddcpdoc_fields (collection TEXT NOT NULL, doc TEXT NOT NULL, path TEXT NOT NULL, value TEXT, PRIMARY KEY (collection, doc, path));
      ${OLD_DDL}`);
    for (const t of ['ddcpdoc_docs', 'ddcpdoc_fields', OLD_HISTORY_TABLE]) b.asCrr(t);
    b.applyChanges([...a.engine.changesSince(0)]);

    const a2 = new Documents(a.engine, { author: 'ann' });
    const b2 = new Documents(b, { author: 'bob' });
    for (const d of [a2, b2]) {
      const names = d.engine.crrs().map((t) => t.name);
      assert.ok(names.includes(CHANGES_TABLE) && !names.includes(OLD_HISTORY_TABLE), 'the old table is no CRR any more');
      assert.equal((d.engine.db.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE name = ?`).get(OLD_HISTORY_TABLE) as { n: number }).n, 0, 'and is dropped');
      assert.deepEqual(shape(d.history('c', 'd1')), shape(before.d1));
      assert.deepEqual(shape(d.history('c', 'd2')), shape(before.d2));
      assert.deepEqual(before.d1.map((_, i) => d.get('c', 'd1', { version: i + 1 })), versions);
      assert.deepEqual(d.get('c', 'd1'), current);
      assert.equal(d.get('c', 'd2'), undefined);
    }
    // The same entries migrated on both sides are the same rows: syncing them changes nothing and conflicts nowhere.
    const conflictsBefore = a2.engine.conflicts({ limit: 1000 }).length;
    b2.applyChanges([...a2.engine.changesSince(0)]);
    a2.applyChanges([...b2.engine.changesSince(0)]);
    assert.equal(a2.engine.conflicts({ limit: 1000 }).length, conflictsBefore);
    assert.equal(b2.engine.conflicts({ table: CHANGES_TABLE, limit: 1000 }).length, 0);
    assert.deepEqual(a2.history('c', 'd1'), b2.history('c', 'd1'));
    // Undo after the migration: the last undoable change of d1 here is the update (the merge patch was undone).
    const r = a2.undo('c', 'd1');
    assert.equal(r.undone.seq, 2);
    assert.deepEqual(r.document!.content, { title: 't', n: 1, tags: ['x'] });
    b2.applyChanges([...a2.engine.changesSince(0)]);
    assert.deepEqual(b2.get('c', 'd1'), a2.get('c', 'd1'));
  });
});
