/**
 * The PostgreSQL store's conflict records (src/hub/storage/postgres/conflicts.ts) beyond the
 * conformance suite: the bound (the newest `keep` per database, other databases untouched, a merge
 * with more than `keep` keeping its newest), and a guarded merge's refused part leaving none.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Engine, openDatabase, packColumns, type Change } from '../src/engine/index.ts';
import { ConflictNotes, readConflicts } from '../src/hub/storage/postgres/conflicts.ts';
import { Gate } from '../src/sync/gate.ts';
import type { PeerPolicy } from '../src/sync/policy.ts';
import { storeInOwnSchema } from './support/postgres.ts';

const NOTES = { name: 'notes', pks: ['id'], columns: ['body'] };
const OWNER = { app: 'notes-app', user: 'alice' };
const SITE_A = new Uint8Array(16).fill(1);
const SITE_B = new Uint8Array(16).fill(2);

describe('PostgreSQL conflict records', () => {
  const pg = storeInOwnSchema(2);
  const { sql, schema } = pg;

  const idOf = async (name: string): Promise<string> => {
    await pg.store.open(name, OWNER);
    const [row] = await sql.unsafe<{ id: string }[]>(`SELECT id::text AS id FROM ${schema}.databases WHERE name = $1`, [name]);
    return row!.id;
  };

  /** Records conflicts on keys `keys` of database `db` in one transaction, kept to `keep`. */
  const record = async (db: string, keys: string[], keep: number): Promise<void> => {
    const notes = new ConflictNotes(keep);
    for (const k of keys) notes.note('notes', packColumns([k]), { cid: 'body', val: `in ${k}`, colVersion: 2, cl: 1, siteId: SITE_B }, { colVersion: 2, dbVersion: 1, site: 0, seq: 0 }, SITE_A, `here ${k}`, true);
    notes.close(7, 'bob');
    await sql.begin(async (tx) => notes.write(tx as never, schema, db, 1000));
  };
  const keysOf = async (db: string): Promise<string[]> => (await readConflicts(sql, schema, db, 100)).map((c) => String(c.incoming.value).slice(3));

  it('keeps the newest `keep` per database, across merges and within one', async () => {
    const one = await idOf('one');
    const two = await idOf('two');
    await record(two, ['t1', 't2'], 3);
    await record(one, ['a', 'b'], 3);
    await record(one, ['c', 'd'], 3);
    assert.deepEqual(await keysOf(one), ['d', 'c', 'b']);
    await record(one, ['e', 'f', 'g', 'h', 'i'], 3); // more than kept in one merge: its newest
    assert.deepEqual(await keysOf(one), ['i', 'h', 'g']);
    assert.deepEqual(await keysOf(two), ['t2', 't1'], 'another database keeps its own');
    const [c] = await readConflicts(sql, schema, one, 1);
    assert.deepEqual(
      { ...c, id: 0 },
      { id: 0, at: 1000, dbVersion: 7, source: 'bob', table: 'notes', pk: packColumns(['i']), cid: 'body', winner: 'incoming', local: { value: 'here i', colVersion: 2, siteId: SITE_A }, incoming: { value: 'in i', colVersion: 2, siteId: SITE_B } },
    );
  });

  it('a guarded merge records the conflicts of what it kept, not of what it refused', async () => {
    const db = (await pg.store.open('guarded', OWNER))!;
    await db.declare([NOTES]);
    const client = () => {
      const d = openDatabase(':memory:');
      const e = Engine.open(d);
      d.exec('CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)');
      e.asCrr('notes');
      return { d, e };
    };
    const changesOf = (e: Engine): Change[] => [...e.changesSince(0)];
    const [a, b] = [client(), client()];
    try {
      a.d.exec("INSERT INTO notes VALUES ('ok', 'base'), ('no', 'base')");
      a.e.seal();
      const open: PeerPolicy = { read: 'all', write: 'all' };
      const push = (e: Engine, policy: PeerPolicy) => db.sink.receive({ changes: changesOf(e), version: e.dbVersion(), complete: true }, { siteId: e.siteId, peer: 'bob', source: 'bob', gate: new Gate(() => policy) });
      await push(a.e, open);
      b.e.applyChanges(changesOf(a.e));
      a.d.exec("UPDATE notes SET body = 'a' WHERE true");
      a.e.seal();
      b.d.exec("UPDATE notes SET body = 'b' WHERE id = 'ok'");
      b.e.seal();
      b.d.exec("UPDATE notes SET body = 'z' WHERE id = 'no'");
      b.e.seal();
      await push(a.e, open);
      // b's second transaction would leave row 'no' outside the rule after merging (rolled back to
      // its savepoint): refused, and its conflict with it.
      const r = (await push(b.e, { read: 'all', write: [{ table: 'notes', where: "body IS NOT 'z'" }] }))!;
      assert.equal(r.refused.length, 1, JSON.stringify(r));
      assert.match(r.refused[0]!.message, /after the change/);
      const found = await db.conflicts!(10);
      assert.deepEqual(found.map((c) => [c.pk, c.local.value, c.incoming.value, c.winner]), [[packColumns(['ok']), 'a', 'b', 'incoming']]);
    } finally {
      a.d.close();
      b.d.close();
    }
  });
});
