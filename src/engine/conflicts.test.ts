/**
 * Conflicts recorded at merge: a concurrent edit (equal col_version, different values) is recorded
 * with both values, origins and the winner, whichever side wins; a sequential overwrite is not;
 * retention is bounded; and recording never changes what a merge does.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Change } from './change.ts';
import { Engine, type EngineOptions } from './engine.ts';
import { unpackColumns } from './pack.ts';
import { openDatabase, type SqlValue } from './sqlite.ts';

const SCHEMA = 'CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT, stars INTEGER DEFAULT 0)';

function open(options: EngineOptions = {}): Engine {
  const e = Engine.open(openDatabase(':memory:'), options);
  e.db.exec(SCHEMA);
  e.asCrr('notes');
  return e;
}

/** Everything `b` lacks of `a` (all of a's changes; re-applying known ones is a no-op). */
const all = (a: Engine): Change[] => [...a.changesSince(0)];

/** Two replicas sharing row n1 = 'base' (col_version 1 everywhere). */
function pair(options: EngineOptions = {}): { a: Engine; b: Engine } {
  const a = open(options);
  const b = open(options);
  a.db.exec(`INSERT INTO notes VALUES ('n1', 'base', 0)`);
  b.applyChanges(all(a), { source: 'alice' });
  return { a, b };
}

function dump(e: Engine): SqlValue[][] {
  const s = e.db.prepare(`SELECT n.*, c.cid, c.col_version, c.site FROM notes n JOIN notes__ddcp_pks p ON p.id = n.id JOIN notes__ddcp_clock c ON c.key = p.__key ORDER BY n.id, c.cid`);
  s.setReturnArrays(true);
  s.setReadBigInts(true);
  return s.all() as SqlValue[][];
}

describe('conflicts recorded at merge', () => {
  it('an equal-col_version concurrent edit is recorded on both sides, with both values, origins and the winner', () => {
    const { a, b } = pair();
    a.db.exec(`UPDATE notes SET body = 'from alice' WHERE id = 'n1'`);
    b.db.exec(`UPDATE notes SET body = 'from bob' WHERE id = 'n1'`);
    // 'from bob' > 'from alice': bob's value wins everywhere
    const [fromA, fromB] = [all(a), all(b)]; // what each had before either merged
    const intoA = a.applyChanges(fromB, { source: 'bob' });
    const intoB = b.applyChanges(fromA, { source: 'alice' });
    assert.equal(intoA.conflicts, 1);
    assert.equal(intoB.conflicts, 1);

    const [ca] = a.conflicts();
    assert.equal(a.conflicts().length, 1);
    assert.equal(ca!.table, 'notes');
    assert.deepEqual(unpackColumns(ca!.pk), ['n1']);
    assert.equal(ca!.cid, 'body');
    assert.equal(ca!.source, 'bob');
    assert.equal(ca!.winner, 'incoming');
    assert.deepEqual(ca!.local, { value: 'from alice', colVersion: 2, siteId: a.siteId });
    assert.deepEqual(ca!.incoming, { value: 'from bob', colVersion: 2, siteId: b.siteId });
    assert.equal(ca!.dbVersion, intoA.dbVersion);
    const top = a.history()[0]!;
    assert.equal(top.kind === 'merge' ? top.conflicts : undefined, 1, 'the merge\'s history entry counts it');

    const [cb] = b.conflicts();
    assert.equal(cb!.winner, 'local');
    assert.equal(cb!.source, 'alice');
    assert.deepEqual(cb!.local, { value: 'from bob', colVersion: 2, siteId: b.siteId });
    assert.deepEqual(cb!.incoming, { value: 'from alice', colVersion: 2, siteId: a.siteId });
    assert.equal(cb!.dbVersion, undefined, 'the incoming value lost and the merge changed nothing: no db_version');
    assert.ok(cb!.at > 0);
  });

  it('a sequential overwrite (greater col_version, the writer had seen our value) is not a conflict', () => {
    const { a, b } = pair();
    a.db.exec(`UPDATE notes SET body = 'alice 1' WHERE id = 'n1'`);
    b.applyChanges(all(a), { source: 'alice' });
    b.db.exec(`UPDATE notes SET body = 'bob on top' WHERE id = 'n1'`);
    const r = a.applyChanges(all(b), { source: 'bob' });
    assert.equal(r.applied, 1);
    assert.equal(r.conflicts, 0);
    assert.deepEqual(a.conflicts(), []);
    assert.deepEqual(b.conflicts(), []);
  });

  it('the same value written on both sides is not a conflict', () => {
    const { a, b } = pair();
    a.db.exec(`UPDATE notes SET body = 'same' WHERE id = 'n1'`);
    b.db.exec(`UPDATE notes SET body = 'same' WHERE id = 'n1'`);
    a.applyChanges(all(b));
    b.applyChanges(all(a));
    assert.deepEqual(a.conflicts(), []);
    assert.deepEqual(b.conflicts(), []);
  });

  it('keeps only the newest keepConflicts, across merges', () => {
    const a = open({ keepConflicts: 3 });
    const b = open();
    const rows = ['r1', 'r2', 'r3', 'r4', 'r5'];
    a.db.exec(`INSERT INTO notes VALUES ${rows.map((r) => `('${r}', 'base', 0)`).join(', ')}`);
    b.applyChanges(all(a));
    a.db.exec(`UPDATE notes SET body = 'a'`);
    b.db.exec(`UPDATE notes SET body = 'b'`);
    const r = a.applyChanges(all(b), { source: 'first' });
    assert.equal(r.conflicts, 5, 'every conflict is counted');
    const kept = a.conflicts({ limit: 100 });
    assert.equal(kept.length, 3);
    assert.deepEqual(kept.map((c) => unpackColumns(c.pk)[0]), ['r5', 'r4', 'r3'], 'the newest, newest first');
    // a later merge's conflicts push the oldest out
    a.db.exec(`UPDATE notes SET stars = 1 WHERE id = 'r1'`);
    b.db.exec(`UPDATE notes SET stars = 2 WHERE id = 'r1'`);
    a.applyChanges(all(b), { source: 'second' });
    const after = a.conflicts({ limit: 100 });
    assert.deepEqual(after.map((c) => [c.source, unpackColumns(c.pk)[0], c.cid]), [['second', 'r1', 'stars'], ['first', 'r5', 'body'], ['first', 'r4', 'body']]);
    assert.equal(Number((a.db.prepare('SELECT count(*) AS n FROM ddcp_conflicts').get() as { n: number }).n), 3);
    assert.deepEqual(a.conflicts({ limit: 1 }).length, 1);
    // keepConflicts 0 records none, but still counts them
    const none = open({ keepConflicts: 0 });
    none.db.exec(`INSERT INTO notes VALUES ('r1', 'zzz', 0)`);
    none.db.exec(`UPDATE notes SET body = 'zz'`);
    assert.equal(none.applyChanges(all(b)).conflicts, 1);
    assert.deepEqual(none.conflicts(), []);
  });

  it('recording changes no merge result: the same merges with and without it end identical', () => {
    const run = (keepConflicts: number): SqlValue[][][] => {
      const { a, b } = pair({ keepConflicts });
      a.db.exec(`UPDATE notes SET body = 'x', stars = 3 WHERE id = 'n1'; INSERT INTO notes VALUES ('n2', 'a2', 1)`);
      b.db.exec(`UPDATE notes SET body = 'y', stars = 2 WHERE id = 'n1'; INSERT INTO notes VALUES ('n2', 'b2', 2)`);
      a.applyChanges(all(b));
      b.applyChanges(all(a));
      return [dump(a), dump(b)];
    };
    const [a1, b1] = run(10_000) as [SqlValue[][], SqlValue[][]];
    const [a0, b0] = run(0) as [SqlValue[][], SqlValue[][]];
    // site ordinals are local, values and versions must match exactly
    assert.deepEqual(a1, a0);
    assert.deepEqual(b1, b0);
    assert.deepEqual(
      a1.map((r) => r.slice(0, 5)),
      b1.map((r) => r.slice(0, 5)),
    );
  });

  it('conflicts can be filtered by table and an unknown table is refused', () => {
    const { a, b } = pair();
    a.db.exec(`UPDATE notes SET body = 'p' WHERE id = 'n1'`);
    b.db.exec(`UPDATE notes SET body = 'q' WHERE id = 'n1'`);
    a.applyChanges(all(b));
    assert.equal(a.conflicts({ table: 'notes' }).length, 1);
    assert.throws(() => a.conflicts({ table: 'other' }), /table other is not a CRR/);
  });
});
