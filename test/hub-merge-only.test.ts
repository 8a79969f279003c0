/**
 * The embedded hub keeps its hosted databases merge-only (EngineOptions.mergeOnly): no tracking
 * triggers, since nothing but merges writes them. A data folder made before (hosted databases with
 * triggers, perhaps something logged) is taken over on open — what was logged sealed and served, the
 * triggers dropped; the read pool never puts them back; writes through the hosted connection are
 * refused; a normal engine opening a hosted database later tracks local writes again.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Engine, openDatabase, unpackColumns, type Change, type SqliteConnection } from '../src/engine/index.ts';
import type { HubDatabase } from '../src/hub/storage/port.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import type { Batch } from '../src/sync/batches.ts';
import { Gate } from '../src/sync/gate.ts';
import type { PushOrigin } from '../src/sync/ports.ts';
import { tempDir } from './support/cli.ts';

const OWNER = { app: 'test-app', user: 'alice' };
const ALL = new Gate(() => ({ read: 'all', write: 'all' }));
const NOTES = { name: 'notes', pks: ['id'], columns: ['body'] };
const NOBODY = new Uint8Array(16);

const triggersOf = (db: SqliteConnection): string[] =>
  (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND name NOT LIKE '%clock%' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
const writerOf = (db: HubDatabase): Engine => (db as unknown as { engine: Engine }).engine;

/** A client's one transaction: rows `ids` of the notes table (with `columns` values), as one complete batch. */
function clientBatch(ids: string[], extra?: string): { origin: PushOrigin; batch: Batch } {
  const e = Engine.open(openDatabase(':memory:'));
  e.db.exec(`CREATE TABLE notes (id NOT NULL PRIMARY KEY, body${extra ? `, ${extra}` : ''})`);
  e.asCrr('notes');
  for (const id of ids) e.db.prepare(`INSERT INTO notes (id, body${extra ? `, ${extra}` : ''}) VALUES (?, ?${extra ? ', ?' : ''})`).run(id, `body ${id}`, ...(extra ? [`${extra} ${id}`] : []));
  const batch = { changes: [...e.changesSince(0)], version: e.dbVersion(), complete: true };
  const origin = { siteId: e.siteId, peer: 'alice', source: 'test', gate: ALL };
  e.db.close();
  return { origin, batch };
}

async function push(db: HubDatabase, ids: string[], extra?: string): Promise<void> {
  const { origin, batch } = clientBatch(ids, extra);
  await db.sink.dropIncomplete(origin);
  const r = await db.sink.receive(batch, origin);
  assert.ok(r && r.applied > 0);
}

async function stored(db: HubDatabase): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for await (const b of db.feed.batches(0, { exceptSite: NOBODY })) for (const c of b.changes as Change[]) if (c.cid !== '-1') out.set(`${String(unpackColumns(c.pk)[0])}.${c.cid}`, c.val);
  return out;
}

describe('hub (SQLite): hosted databases are merge-only', () => {
  it('takes over a hosted database made with triggers: what was logged is sealed and served, the triggers go, and stay gone', async () => {
    const dir = tempDir();
    try {
      let store = new SqliteHubStore(dir);
      let db = (await store.open('notes', OWNER))!;
      await db.declare([NOTES]);
      await push(db, ['a']);
      await store.close();
      // As the hub before merge-only left it: triggers on, and (by some local write) something logged.
      const file = join(dir, 'databases', 'notes.db');
      const old = Engine.open(openDatabase(file));
      assert.equal(triggersOf(old.db).length, 4);
      old.db.exec(`INSERT INTO notes VALUES ('logged', 'not sealed')`);
      old.db.close();

      store = new SqliteHubStore(dir);
      db = (await store.open('notes'))!;
      const writer = writerOf(db);
      assert.deepEqual(triggersOf(writer.db), [], 'triggers dropped on open');
      assert.equal((await stored(db)).get('logged.body'), 'not sealed', 'what was logged is a change followers get');
      await push(db, ['b', 'c']);
      // Reads went through the pool's own connections (merge-only too): the triggers stay off.
      const read = await stored(db);
      assert.deepEqual([...read.keys()].sort(), ['a.body', 'b.body', 'c.body', 'logged.body']);
      assert.deepEqual(triggersOf(writer.db), []);
      assert.equal(Number((writer.db.prepare('SELECT count(*) AS n FROM notes__ddcp_log').get() as { n: number }).n), 0, 'merges log nothing');
      // Writes through the hosted connection are refused: nothing would track them.
      assert.throws(() => writer.db.exec(`INSERT INTO notes VALUES ('x', 'local')`), /not authorized/);
      // A table and a column declared later are kept without triggers too; pushes of them merge.
      await db.declare([{ name: 'notes', pks: ['id'], columns: ['body', 'tag'] }, { name: 'more', pks: ['k'], columns: ['v'] }]);
      assert.deepEqual(triggersOf(writer.db), []);
      await push(db, ['d'], 'tag');
      assert.equal((await stored(db)).get('d.tag'), 'tag d');
      assert.deepEqual(writer.notices, [], 'no drift reported');
      await store.close();

      // Opened by a normal engine (say `ddcp` on the file): tracked again, its local writes changes.
      const after = Engine.open(openDatabase(file));
      assert.equal(triggersOf(after.db).length, 8);
      assert.deepEqual(after.notices, []);
      const v = after.currentDbVersion();
      after.db.exec(`INSERT INTO notes (id, body) VALUES ('e', 'local')`);
      assert.equal(after.dbVersion(), v + 1);
      after.db.close();
      // And the hub takes it over again, serving that write.
      store = new SqliteHubStore(dir);
      db = (await store.open('notes'))!;
      assert.deepEqual(triggersOf(writerOf(db).db), []);
      assert.equal((await stored(db)).get('e.body'), 'local');
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
