/**
 * Read filters and write guards at the engine level: what `changesSince({ read })` leaves out, what a
 * peer's copy looks like after syncing through a filter, and how `applyChanges({ write })` refuses a
 * source transaction whole while others apply.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Change } from './change.ts';
import { Engine } from './engine.ts';
import type { ReadFilter, WriteGuard } from './filter.ts';
import { unpackColumns } from './pack.ts';
import { openDatabase, type SqlValue } from './sqlite.ts';

const SCHEMA = `
CREATE TABLE notes (id INTEGER PRIMARY KEY NOT NULL, owner TEXT, title TEXT, secret TEXT);
CREATE TABLE other (k TEXT PRIMARY KEY NOT NULL, v TEXT);`;

function open(): Engine {
  const e = Engine.open(openDatabase(':memory:'));
  e.db.exec(SCHEMA);
  e.asCrr('notes');
  e.asCrr('other');
  return e;
}

function rows(e: Engine, sql = 'SELECT * FROM notes ORDER BY id'): SqlValue[][] {
  const s = e.db.prepare(sql);
  s.setReturnArrays(true);
  s.setReadBigInts(true);
  return s.all() as SqlValue[][];
}

/** Runs `sql` as one local transaction (sealed into its own db_version). */
function commit(e: Engine, sql: string): void {
  e.db.exec(sql);
  e.seal();
}

/** Sends `from`'s changes to `to` through `read` (what `from` lets `to` see). */
/** `from` serves `to` as a session does: `to` records that these came straight from `from`. */
function sync(from: Engine, to: Engine, read?: ReadFilter): void {
  to.applyChanges([...from.changesSince(0, { exceptSite: to.siteId, read })], { direct: from.siteId });
}

const summary = (cs: Change[]): string[] => cs.map((c) => `${c.table}:${unpackColumns(c.pk).join(',')}:${c.cid}`).sort();

describe('read filter', () => {
  it('leaves out tables without a rule', () => {
    const a = open();
    a.db.exec(`INSERT INTO notes VALUES (1, 'bob', 't', 's'); INSERT INTO other VALUES ('x', 'y')`);
    const got = [...a.changesSince(0, { read: { rules: [{ table: 'other' }] } })];
    assert.deepEqual(summary(got), ['other:x:v']);
  });

  it('sends only the allowed columns (keys and the row always)', () => {
    const a = open();
    const b = open();
    a.db.exec(`INSERT INTO notes VALUES (1, 'bob', 't', 's')`);
    assert.deepEqual(summary([...a.changesSince(0, { read: { rules: [{ table: 'notes', columns: ['title'] }] } })]), ['notes:1:title']);
    sync(a, b, { rules: [{ table: 'notes', columns: ['owner', 'title'] }] });
    assert.deepEqual(rows(b), [[1n, 'bob', 't', null]]);
  });

  it('sends only rows whose current state satisfies WHERE, with :peer bound', () => {
    const a = open();
    const b = open();
    a.db.exec(`INSERT INTO notes VALUES (1, 'bob', 'mine', 's1'), (2, 'carol', 'hers', 's2'), (3, 'bob', 'also', NULL)`);
    const read: ReadFilter = { rules: [{ table: 'notes', where: 'owner = :peer' }], params: { peer: 'bob' } };
    sync(a, b, read);
    assert.deepEqual(rows(b), [
      [1n, 'bob', 'mine', 's1'],
      [3n, 'bob', 'also', null],
    ]);
    // Several rules of a table are alternatives.
    const c = open();
    sync(a, c, { rules: [{ table: 'notes', where: 'owner = :peer' }, { table: 'notes', columns: ['title'], where: 'id = 2' }], params: { peer: 'bob' } });
    assert.deepEqual(rows(c), [
      [1n, 'bob', 'mine', 's1'],
      [2n, null, 'hers', null],
      [3n, 'bob', 'also', null],
    ]);
  });

  it('delivers the delete of a row to every reader of the table', () => {
    const a = open();
    const b = open();
    const read: ReadFilter = { rules: [{ table: 'notes', where: 'owner = :peer' }], params: { peer: 'bob' } };
    a.db.exec(`INSERT INTO notes VALUES (1, 'bob', 't', NULL), (2, 'carol', 'u', NULL)`);
    sync(a, b, read);
    assert.equal(rows(b).length, 1);
    a.db.exec(`DELETE FROM notes WHERE id IN (1, 2)`);
    const deletes = [...a.changesSince(0, { read })];
    assert.deepEqual(summary(deletes), ['notes:1:-1', 'notes:2:-1'], 'deletes carry only the key, so every reader gets them');
    sync(a, b, read);
    assert.deepEqual(rows(b), []);
  });

  it('a row that stops matching keeps the last version the peer was allowed', () => {
    const a = open();
    const b = open();
    const read: ReadFilter = { rules: [{ table: 'notes', where: 'owner = :peer' }], params: { peer: 'bob' } };
    a.db.exec(`INSERT INTO notes VALUES (1, 'bob', 'v1', NULL)`);
    sync(a, b, read);
    a.db.exec(`UPDATE notes SET title = 'v2', owner = 'carol' WHERE id = 1`);
    sync(a, b, read);
    assert.deepEqual(rows(b), [[1n, 'bob', 'v1', null]], 'no synthetic delete, no later version');
    // Back in the predicate: the peer catches up with everything since.
    a.db.exec(`UPDATE notes SET owner = 'bob' WHERE id = 1`);
    sync(a, b, read);
    assert.deepEqual(rows(b), [[1n, 'bob', 'v2', null]]);
  });

  it('a row that leaves, is edited, and re-enters reaches the peer as it is now, syncing from the last position', () => {
    const a = open();
    const b = open();
    const read: ReadFilter = { rules: [{ table: 'notes', columns: ['owner', 'title'], where: 'owner = :peer' }], params: { peer: 'bob' } };
    let since = 0;
    const step = (): Change[] => {
      const got = [...a.changesSince(since, { exceptSite: b.siteId, read })];
      b.applyChanges(got);
      since = a.dbVersion();
      return got;
    };
    commit(a, `INSERT INTO notes VALUES (1, 'bob', 'v1', 's1'), (2, 'bob', 'other', NULL)`);
    step();
    commit(a, `UPDATE notes SET owner = 'carol' WHERE id = 1`);
    commit(a, `UPDATE notes SET title = 'v2', secret = 's2' WHERE id = 1`);
    commit(a, `UPDATE notes SET title = 'other2' WHERE id = 2`);
    assert.deepEqual(summary(step()), ['notes:2:owner', 'notes:2:title'], 'nothing of row 1 while it is out; row 2 changed, so it is sent whole');
    assert.deepEqual(rows(b), [[1n, 'bob', 'v1', null], [2n, 'bob', 'other2', null]]);
    commit(a, `UPDATE notes SET owner = 'bob' WHERE id = 1`);
    // The whole row as far as allowed, its edit while out included; not row 2.
    assert.deepEqual(summary(step()), ['notes:1:owner', 'notes:1:title']);
    assert.deepEqual(rows(b), [[1n, 'bob', 'v2', null], [2n, 'bob', 'other2', null]]);
    assert.deepEqual(summary(step()), [], 'nothing more once caught up');
    // A re-entry together with a change of a column the peer may not read still sends the row.
    commit(a, `UPDATE notes SET owner = 'carol' WHERE id = 2`);
    step();
    commit(a, `UPDATE notes SET title = 'other3' WHERE id = 2`);
    step();
    commit(a, `UPDATE notes SET owner = 'bob', secret = 'x' WHERE id = 2`);
    step();
    assert.deepEqual(rows(b), [[1n, 'bob', 'v2', null], [2n, 'bob', 'other3', null]]);
  });

  it('sends older cells of a re-entering row at the position of its newer change, with their own db_version', () => {
    const a = open();
    const read: ReadFilter = { rules: [{ table: 'notes', where: 'owner = :peer' }, { table: 'other' }], params: { peer: 'bob' } };
    commit(a, `INSERT INTO notes VALUES (1, 'bob', 'v1', NULL)`);
    commit(a, `UPDATE notes SET owner = 'carol' WHERE id = 1`);
    commit(a, `UPDATE notes SET title = 'v2' WHERE id = 1`);
    const since = a.dbVersion();
    commit(a, `INSERT INTO other VALUES ('before', '1')`);
    commit(a, `UPDATE notes SET owner = 'bob' WHERE id = 1`);
    commit(a, `INSERT INTO other VALUES ('after', '2')`);
    const got = [...a.changesSince(since, { read })];
    const seen = got.map((c) => `${c.table}:${c.cid}:${c.val}@${c.dbVersion}`);
    assert.equal(seen[0], `other:v:1@${since + 1}`);
    assert.deepEqual(seen.slice(1, 4).sort(), [`notes:owner:bob@${since + 2}`, 'notes:secret:null@1', `notes:title:v2@${since}`], 'the row whole at its re-entry; older cells keep their own db_version');
    assert.equal(seen[4], `other:v:2@${since + 3}`);
  });

  it('relays: a filter applies to changes whatever their origin', () => {
    const alice = open();
    const bob = open();
    const carol = open();
    alice.db.exec(`INSERT INTO notes VALUES (1, 'alice', 'private', NULL), (2, 'carol', 'for carol', NULL)`);
    sync(alice, bob);
    sync(bob, carol, { rules: [{ table: 'notes', where: 'owner = :peer' }], params: { peer: 'carol' } });
    assert.deepEqual(rows(carol), [[2n, 'carol', 'for carol', null]]);
  });
});

const alice = (e: Engine, sql: string): Change[] => {
  const before = e.currentDbVersion();
  e.db.exec(sql);
  return [...e.changesSince(before)];
};

describe('write guard', () => {
  const guard: WriteGuard = { rules: [{ table: 'notes', columns: ['owner', 'title'], where: 'owner = :peer', label: 'notes(owner,title) WHERE owner = :peer' }], params: { peer: 'bob' } };

  function setup(): { bob: Engine; server: Engine } {
    const bob = open();
    const server = open();
    server.db.exec(`INSERT INTO notes VALUES (10, 'carol', 'carol''s', NULL)`);
    sync(server, bob);
    return { bob, server };
  }

  it('applies allowed transactions and refuses one with a forbidden column whole', () => {
    const { bob, server } = setup();
    const ok = alice(bob, `INSERT INTO notes (id, owner, title) VALUES (1, 'bob', 'fine')`);
    const bad = alice(bob, `INSERT INTO notes (id, owner, title, secret) VALUES (2, 'bob', 'x', 'nope'); INSERT INTO notes (id, owner, title) VALUES (3, 'bob', 'same tx')`);
    // Both in the same seal? No: each exec above sealed separately.
    const ok2 = alice(bob, `UPDATE notes SET title = 'fine again' WHERE id = 1`);
    const r = server.applyChanges([...ok, ...bad, ...ok2], { write: guard });
    assert.equal(r.refused.length, 1);
    assert.equal(r.refused[0]!.table, 'notes');
    assert.deepEqual(unpackColumns(r.refused[0]!.pk), [2n]);
    assert.match(r.refused[0]!.message, /column notes\.secret is not writable/);
    assert.equal(r.refused[0]!.rule, 'notes(owner,title) WHERE owner = :peer');
    assert.deepEqual(rows(server, 'SELECT id, owner, title FROM notes ORDER BY id'), [
      [1n, 'bob', 'fine again'],
      [10n, 'carol', "carol's"],
    ]);
  });

  it('refuses a table without a rule', () => {
    const { bob, server } = setup();
    const bad = alice(bob, `INSERT INTO other VALUES ('k', 'v'); INSERT INTO notes (id, owner) VALUES (5, 'bob')`);
    const r = server.applyChanges(bad, { write: guard });
    assert.equal(r.refused.length, 1);
    assert.equal(r.refused[0]!.rule, 'none');
    assert.match(r.refused[0]!.message, /table other is not writable/);
    assert.deepEqual(rows(server, 'SELECT count(*) FROM other'), [[0n]]);
    assert.deepEqual(rows(server, 'SELECT id FROM notes ORDER BY id'), [[10n]], 'nothing of the transaction landed');
  });

  it('refuses a change to a row that fails WHERE before (taking over carol’s row)', () => {
    const { bob, server } = setup();
    const bad = alice(bob, `UPDATE notes SET owner = 'bob', title = 'mine now' WHERE id = 10; INSERT INTO notes (id, owner) VALUES (6, 'bob')`);
    const r = server.applyChanges(bad, { write: guard });
    assert.equal(r.refused.length, 1);
    assert.match(r.refused[0]!.message, /row \(10\) of notes is outside the write rules before the change/);
    assert.deepEqual(rows(server, 'SELECT id, owner, title FROM notes ORDER BY id'), [[10n, 'carol', "carol's"]]);
  });

  it('refuses a change whose row fails WHERE after (giving a row away)', () => {
    const { bob, server } = setup();
    const mine = alice(bob, `INSERT INTO notes (id, owner, title) VALUES (7, 'bob', 'b')`);
    server.applyChanges(mine, { write: guard });
    const bad = alice(bob, `UPDATE notes SET owner = 'carol' WHERE id = 7`);
    const r = server.applyChanges(bad, { write: guard });
    assert.equal(r.refused.length, 1);
    assert.match(r.refused[0]!.message, /row \(7\) of notes would be outside the write rules after the change/);
    assert.equal(r.applied, 0);
    assert.deepEqual(rows(server, 'SELECT id, owner FROM notes WHERE id = 7'), [[7n, 'bob']]);
    // A delete of one's own row has no row after: allowed.
    const del = alice(bob, `UPDATE notes SET owner = 'bob' WHERE id = 7; DELETE FROM notes WHERE id = 7`);
    assert.deepEqual(server.applyChanges(del, { write: guard }).refused, []);
    assert.deepEqual(rows(server, 'SELECT id FROM notes WHERE id = 7'), []);
  });

  it('groups by source transaction: origin site and the sender’s db_version', () => {
    const { bob, server } = setup();
    const carol = open();
    const fromCarol = alice(carol, `INSERT INTO notes (id, owner, title) VALUES (20, 'carol', 'relayed')`);
    bob.applyChanges(fromCarol);
    const own = alice(bob, `INSERT INTO notes (id, owner, title) VALUES (21, 'bob', 'own')`);
    const all = [...bob.changesSince(0, { exceptSite: server.siteId })];
    assert.ok(own.length > 0);
    const r = server.applyChanges(all, { write: guard });
    assert.deepEqual(r.refused.map((x) => unpackColumns(x.pk)), [[20n]], 'carol’s row relayed by bob is not bob’s to write');
    assert.deepEqual(rows(server, 'SELECT id FROM notes ORDER BY id'), [[10n], [21n]]);
  });

  it('a rule naming only a table allows everything of it, and nothing of other tables', () => {
    const { bob, server } = setup();
    const ok = alice(bob, `INSERT INTO other VALUES ('k', 'v')`);
    const bad = alice(bob, `INSERT INTO other VALUES ('k2', 'v'); UPDATE notes SET title = 'x' WHERE id = 10`);
    const r = server.applyChanges([...ok, ...bad], { write: { rules: [{ table: 'other' }] } });
    assert.deepEqual(r.refused.map((x) => x.table), ['notes']);
    assert.deepEqual(rows(server, 'SELECT k FROM other'), [['k']]);
  });

  it('without a guard everything merges as before', () => {
    const { bob, server } = setup();
    const c = alice(bob, `INSERT INTO notes VALUES (2, 'x', 'y', 'z'); INSERT INTO other VALUES ('k', 'v')`);
    const r = server.applyChanges(c);
    assert.deepEqual(r.refused, []);
    assert.equal(r.applied, c.length);
  });
});
